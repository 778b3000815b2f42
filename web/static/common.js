// Shared helpers for the Quizhub pages: DOM building (text only, never HTML from data), the REST API, a WebSocket
// to /ws that reconnects by itself and resumes from the last event it saw, the connection badge, a choice's text,
// and the console pages' session start.
// session.js imports this module too; neither uses the other's exports before the pages call them, so the cycle is
// harmless.
import { t } from "/static/i18n.js";
import { logout, requireHost } from "/static/session.js";

/** Build an element; children are nodes or strings (strings become text nodes, so user text is never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace an element's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector) => document.querySelector(selector);

/** Show or hide the element `selector` names (its `hidden` class). */
export function show(selector, visible) {
  $(selector).classList.toggle("hidden", !visible);
}

/**
 * Put a GameSocket status on the page's #conn badge: class "status <status>", data-status, and the status in the
 * page's language, followed by `detail` (a refusal's reason) when one is given.
 */
export function setConn(status, detail = null) {
  const node = $("#conn");
  node.className = `status ${status}`;
  node.dataset.status = status;
  node.textContent = detail ? `${t(status)}: ${detail}` : t(status);
}

/** The hub's choice ids, in order (an answer_received event carries the choice's index). */
export const CHOICE_IDS = "abcdefghijklmnop";

/** The question types answered on the phones (the others are buzzer questions). */
export const ANSWER_TYPES = new Set(["multiple_choice", "true_false", "numeric", "estimate", "open_text"]);

/**
 * A choice's text as shown to players: a true/false question's "True" and "False" in the page's language (the
 * "true" and "false" keys of its catalog).
 */
export function choiceText(question, choice) {
  if (question.type === "true_false" && ["True", "False"].includes(choice.text)) {
    return t(choice.text === "True" ? "true" : "false");
  }
  return choice.text;
}

/** A choice as a team's answer reads: "B · Paris" (its letter and text), or the letter alone if the id is unknown. */
export function choiceLabel(question, id) {
  const choice = (question.choices ?? []).find((c) => c.id === id);
  return choice ? `${id.toUpperCase()} · ${choiceText(question, choice)}` : String(id).toUpperCase();
}

/**
 * Which phase text a player page shows, as its catalog key minus the "phase" prefix and underscore: "answer" while the phones'
 * answers are open, in closed "closed_answers" (a phone question's answers are in or their time ran out) or
 * "closed_buzzer" (the buzz window ran out with nobody pressing), otherwise the phase itself. `question`: the
 * current question as the page holds it (null if none; in closed one for another index is not used).
 */
export function phaseKey(state, question) {
  const answering = ANSWER_TYPES.has(question?.type);
  if (state.phase === "armed" && answering) return "answer";
  if (state.phase === "closed" && question && question.index === state.question) {
    return answering ? "closed_answers" : "closed_buzzer";
  }
  return state.phase;
}

/**
 * Start a console page (host console, quiz editor) for the signed-in host: name them in #who and show #logout, which
 * ends the session. Gives {principal, csrf}; a failure is shown in #boot-error and gives null. Without a session
 * the browser goes to /login and this never resolves.
 */
export async function startHostSession() {
  let session;
  try {
    session = await requireHost();
  } catch (err) {
    $("#boot-error").textContent = err.message;
    return null;
  }
  $("#who").textContent = t("signed_in_as", { name: session.principal.name, role: session.principal.role });
  show("#logout", true);
  $("#logout").addEventListener("click", () => logout(session.csrf));
  return session;
}

export class ApiError extends Error {
  /** `body`: the refusal's JSON, e.g. a 422's `errors` list with each problem's field path. */
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Call the REST API. `auth`: {bearer} for a token, {csrf} for a cookie session's changes. */
export async function api(method, path, body = undefined, auth = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth.bearer) headers.Authorization = `Bearer ${auth.bearer}`;
  if (auth.csrf && method !== "GET") headers["X-CSRF-Token"] = auth.csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    if (doc && typeof doc.detail === "string") message = doc.detail;
    else if (doc && Array.isArray(doc.detail)) message = doc.detail.map((d) => d.msg).join("; ");
    throw new ApiError(response.status, message, doc);
  }
  return doc;
}

/** Gap in microseconds as "+3.2 ms". */
export function formatGap(us) {
  return `+${(us / 1000).toFixed(1)} ms`;
}

/** Team id → name, from the retained scoreboard (falls back to the id). */
export function teamNames(scores) {
  const names = new Map();
  for (const row of scores?.teams ?? []) names.set(row.team, row.name);
  return names;
}

/** A scoreboard table body: rank, name, score. */
export function renderScores(tbody, scores, highlight = null) {
  fill(
    tbody,
    (scores?.teams ?? []).map((row) =>
      el(
        "tr",
        { class: row.team === highlight ? "me" : null, dataset: { team: row.team } },
        el("td", { class: "rank" }, row.rank),
        el("td", { class: "name" }, row.name),
        el("td", { class: "score" }, row.score),
      ),
    ),
  );
}

/** The ruling as text lines: winner first, then each press with its gap. */
export function rulingRows(ruling, names) {
  if (!ruling) return [];
  return (ruling.order ?? []).map((press, i) => ({
    team: press.team,
    name: names.get(press.team) ?? press.team ?? press.device,
    gap: i === 0 ? "first" : formatGap(press.gap_us),
    uncertainty: press.uncertainty_us,
  }));
}

/** The gap between the winner and the next press, or null. */
export function winnerGap(ruling) {
  const order = ruling?.order ?? [];
  return order.length > 1 ? order[1].gap_us : null;
}

/**
 * A game feed over /ws. Reconnects with backoff and resumes from the last event seq. Handlers:
 * onFrame(frame), onStatus("connecting"|"live"|"offline"|"refused", detail).
 * `bearer`: a team or display token (a one-use ticket is fetched for each connect); otherwise the session cookie.
 */
export class GameSocket {
  constructor({ game = null, bearer = null, onFrame, onStatus = () => {}, extra = {} }) {
    this.game = game;
    this.bearer = bearer;
    this.extra = extra; // more subscribe fields, e.g. {devices: true} (docs/websocket.md)
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.lastSeq = null;
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
  }

  send(doc) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(doc));
      return true;
    }
    return false;
  }

  async connect() {
    if (this.stopped) return;
    this.onStatus("connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = `${proto}//${location.host}/ws`;
    try {
      if (this.bearer) {
        const { ticket } = await api("POST", "/api/ws/ticket", undefined, { bearer: this.bearer });
        url += `?ticket=${encodeURIComponent(ticket)}`;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.onStatus("refused", err.message);
        return;
      }
      this.retry();
      return;
    }
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const sub = { type: "subscribe", ...this.extra };
      if (this.game) sub.game = this.game;
      if (this.lastSeq !== null) sub.resume = this.lastSeq;
      ws.send(JSON.stringify(sub));
    });
    ws.addEventListener("message", (msg) => {
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        this.attempt = 0;
        this.onStatus("live");
      }
      if (frame.type === "event" && frame.data && typeof frame.data.seq === "number") {
        this.lastSeq = frame.data.seq;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if ([4401, 4403, 4404].includes(event.code)) {
        this.onStatus("refused", event.reason || `closed (${event.code})`);
        return;
      }
      this.retry();
    });
  }

  retry() {
    if (this.stopped) return;
    this.onStatus("offline");
    const delay = Math.min(5000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
