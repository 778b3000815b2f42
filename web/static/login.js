// Login: a local account's name and password, and the identity provider's button when the server has OIDC set up
// (GET /api/auth/methods). Afterwards the browser goes back to ?next= — only a path on this site, never elsewhere.
import { $, api, ApiError, show } from "/static/common.js";
import { initI18n, languageSwitcher, t } from "/static/i18n.js";
import { safeNext } from "/static/session.js";

const next = safeNext(new URLSearchParams(location.search).get("next"));

async function boot() {
  await initI18n("login");
  $("#lang-slot").append(languageSwitcher());
  try {
    await api("GET", "/api/auth/me");
    location.replace(next); // already signed in
    return;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) $("#login-error").textContent = err.message;
  }
  try {
    const methods = await api("GET", "/api/auth/methods");
    $("#oidc").href = `/api/auth/oidc/login?next=${encodeURIComponent(next)}`;
    show("#oidc-box", Boolean(methods.oidc));
    show("#or", Boolean(methods.oidc));
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#login-error").textContent = "";
  const name = $("#login-name").value.trim();
  const password = $("#login-password").value;
  if (!name || !password) {
    $("#login-error").textContent = t("missing");
    return;
  }
  const button = $("#login-form button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/api/auth/login", { name, password });
    $("#login-password").value = "";
    location.assign(next);
  } catch (err) {
    $("#login-error").textContent = err.message; // the server's sentence: wrong password, too many attempts, …
    $("#login-password").select();
  } finally {
    button.disabled = false;
  }
});

boot();
