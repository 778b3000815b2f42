// The signed-in host's session for the console pages (host console, devices, quiz editor): who is signed in and the
// CSRF token that changes need. A visitor without a session is sent to /login, which brings them back here.
import { api, ApiError } from "/static/common.js";

/** The path /login should return to: only this site's own paths (anything else would make it an open redirect). */
export function safeNext(value) {
  const path = String(value ?? "");
  if (path.startsWith("/") && !path.startsWith("//") && !path.startsWith("/\\")) return path;
  return "/";
}

/** Send the browser to the login page, to come back to the current page afterwards. */
export function goToLogin() {
  const here = location.pathname + location.search;
  location.replace(`/login?next=${encodeURIComponent(here)}`);
}

/**
 * {principal, csrf} of the signed-in admin or quizmaster. Without a session (or with a role that may not host)
 * the browser goes to /login and this never resolves; any other failure is thrown.
 */
export async function requireHost() {
  try {
    const me = await api("GET", "/api/auth/me");
    const principal = me.principal ?? me;
    if (principal.role === "admin" || principal.role === "quizmaster") return { principal, csrf: me.csrf_token };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  goToLogin();
  return new Promise(() => {}); // the page is leaving
}

/** End the session and go to the login page. */
export async function logout(csrf) {
  try {
    await api("POST", "/api/auth/logout", undefined, { csrf });
  } catch {
    /* signed out anyway: the cookie is the server's to clear */
  }
  location.assign("/login");
}
