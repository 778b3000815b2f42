// First-run setup: the one-time token arrives in the fragment (/setup#token=…), never sent to the server's logs.
import { $, api } from "/static/common.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
if (!token) $("#setup-error").textContent = "Open the setup link that `quizhub serve` printed (it ends with #token=…).";

$("#setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#setup-error").textContent = "";
  try {
    await api("POST", "/api/auth/setup", { token, name: $("#setup-name").value, password: $("#setup-password").value });
    location.assign("/");
  } catch (err) {
    $("#setup-error").textContent = err.message;
  }
});
