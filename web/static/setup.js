// First-run setup: the one-time token arrives in the fragment (/setup#token=…), so it never reaches a server log. The
// page keeps it for this tab only, so a language switch (which reloads the page) does not lose it.
import { $, api } from "/static/common.js";
import { initI18n, languageSwitcher, t } from "/static/i18n.js";

const KEY = "quizhub.setup";
const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromLink) sessionStorage.setItem(KEY, fromLink);
const token = sessionStorage.getItem(KEY);
history.replaceState(null, "", location.pathname + location.search);

async function boot() {
  await initI18n("setup");
  $("#lang-slot").append(languageSwitcher());
  if (!token) $("#setup-error").textContent = t("no_token");
}

$("#setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#setup-error").textContent = "";
  if (!token) {
    $("#setup-error").textContent = t("no_token");
    return;
  }
  try {
    await api("POST", "/api/auth/setup", { token, name: $("#setup-name").value, password: $("#setup-password").value });
    sessionStorage.removeItem(KEY);
    location.assign("/");
  } catch (err) {
    $("#setup-error").textContent = err.message;
  }
});

boot();
