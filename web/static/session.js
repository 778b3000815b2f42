// The signed-in host's session for the console pages (host console, devices, quiz editor): who is signed in and the
// CSRF token that changes need. A visitor without a session is sent to /login, which brings them back here.
import { api, ApiError } from "/static/common.js";

/** Where safeNext sends a visitor whose ?next= is missing or not on this site. */
export const DEFAULT_PAGE = "/";

/**
 * The path /login should return to: only this site's own pages (anything else would make it an open redirect).
 * The value is resolved as the browser will resolve it when navigating (it drops tabs and newlines and reads a
 * backslash as a slash), so "/<tab>/evil.example" and "/<backslash>evil.example" are seen for the other site they
 * name. Returns path + query + fragment of a same-origin URL; anything else gives DEFAULT_PAGE. Every page that
 * follows a ?next= uses this one function.
 */
export function safeNext(value) {
  if (typeof value !== "string" || value === "") return DEFAULT_PAGE;
  let url;
  try {
    url = new URL(value, location.origin);
  } catch {
    return DEFAULT_PAGE;
  }
  if (url.origin !== location.origin) return DEFAULT_PAGE;
  const path = url.pathname + url.search + url.hash;
  // "/.//evil.example" is same-origin, but its pathname "//evil.example" would leave the site once navigated to.
  return path.startsWith("/") && !path.startsWith("//") ? path : DEFAULT_PAGE;
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
