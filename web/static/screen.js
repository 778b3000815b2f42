// Big screen: the join QR in the lobby; then the question with its media and choices, a countdown, the winner with
// the gap to the next press, the buzz timeline of each ruling, the answer once revealed, and an animated scoreboard.
// Opens with a display token in the fragment (/screen#token=qhd_…, kept for this tab only), or as a signed-in host
// previewing a game (/screen?game=<id>). ?lang=it|ru|en picks the language once for a screen set up and left alone.
import { $, api, choiceText, el, fill, GameSocket, phaseKey, setConn, teamNames } from "/static/common.js";
import { formatNumber, initI18n, languageSwitcher, t } from "/static/i18n.js";

const view = { state: null, question: null, scores: null, stateAt: 0, joinCode: null, joinUrl: null };
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

function tokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem("quizhub.display", token);
    history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  }
  return sessionStorage.getItem("quizhub.display");
}

function onConn(status, detail) {
  setConn(status); // the badge says "refused"; the reason goes to #error
  if (status === "refused") {
    $("#error").textContent = t("refused_display", { reason: detail ?? t("refused_default") });
  } else if (status === "live") {
    $("#error").textContent = "";
  }
}

/** "+3.2 ms" in the page's language. */
function ms(us, digits = 1) {
  return formatNumber(us / 1000, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function currentRuling(state) {
  const ruling = state.last_ruling;
  return ruling && ruling.q === state.question ? ruling : null;
}

// ------------------------------------------------------------------------------------------------ lobby and QR

async function loadGame(game, bearer) {
  try {
    const detail = await api("GET", `/api/games/${encodeURIComponent(game)}`, undefined, { bearer });
    view.joinCode = detail.game.join_code;
    view.joinUrl = detail.game.join_url;
  } catch {
    view.joinCode = null; // a screen without the code still shows the game
  }
  render();
}

function renderLobby(inLobby) {
  $("#lobby").classList.toggle("hidden", !inLobby);
  $("#stage").classList.toggle("in-lobby", inLobby);
  $("#code").textContent = view.joinCode ? t("join_with_code", { code: view.joinCode }) : "";
  if (!view.joinCode) return;
  // The server draws the QR (no third-party service sees the code); an <img> cannot send the display token, so
  // this is the public by-code route, which looks nothing up.
  const src = `/api/join/qr.svg?code=${encodeURIComponent(view.joinCode)}`;
  const qr = $("#qr");
  if (qr.getAttribute("src") !== src) qr.setAttribute("src", src);
  qr.alt = t("qr_alt", { code: view.joinCode });
  $("#join-url").textContent = view.joinUrl ?? "";
  $("#join-code").textContent = view.joinCode;
  const count = view.scores?.teams?.length ?? 0;
  $("#lobby-teams").textContent = t("teams_joined", { count });
}

// ------------------------------------------------------------------------------------------------ question

/** A question image, only from this server or a data: URL (the CSP allows nothing else, and says so loudly). */
function safeImage(media) {
  for (const item of media ?? []) {
    if (item?.kind !== "image" || typeof item.url !== "string") continue;
    if (/^data:image\//i.test(item.url)) return item;
    try {
      if (new URL(item.url, location.href).origin === location.origin) return item;
    } catch {
      // not a URL at all: skip it
    }
  }
  return null;
}

function renderMedia(question) {
  const image = safeImage(question?.media);
  const img = $("#media-img");
  $("#media").classList.toggle("hidden", !image);
  if (!image) {
    img.removeAttribute("src");
    return;
  }
  if (img.getAttribute("src") !== image.url) img.setAttribute("src", image.url);
  img.alt = image.alt ?? "";
}

function renderChoices(question, reveal) {
  const correct = new Set(reveal?.correct ?? []);
  fill(
    $("#choices"),
    (question?.choices ?? []).map((choice) =>
      el(
        "li",
        { class: correct.has(choice.id) ? "right" : reveal ? "dim" : null, dataset: { choice: choice.id } },
        el("span", { class: "choice-id" }, choice.id.toUpperCase()),
        el("span", { class: "choice-text" }, choiceText(question, choice)),
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------------------ countdown

let countdownTimer = null;

/** The running deadline: the buzz window (or answer window) while armed, the answer timer after a buzz. */
function deadline(state) {
  if (state.phase === "armed" && state.buzz_deadline_us) return state.buzz_deadline_us;
  if (state.phase === "buzzed" && state.answer_deadline_us) return state.answer_deadline_us;
  return null;
}

function totalMs(state, question) {
  if (state.phase === "armed") return question?.buzz_window_ms ?? question?.answer_time_ms ?? null;
  return question?.answer_time_ms ?? null;
}

function renderCountdown() {
  clearInterval(countdownTimer);
  const state = view.state ?? {};
  const end = deadline(state);
  const box = $("#countdown");
  if (!end) {
    box.classList.add("hidden");
    return;
  }
  // ts_us is the hub's clock at publication, so the remaining time needs no shared clock: it starts when this
  // state arrived (view.stateAt, on this page's clock).
  const remainingAtArrival = (end - state.ts_us) / 1000;
  const total = totalMs(state, view.question) ?? remainingAtArrival;
  const tick = () => {
    const left = Math.max(0, remainingAtArrival - (performance.now() - view.stateAt));
    $("#countdown-value").textContent = formatNumber(Math.ceil(left / 1000));
    $("#countdown-bar").style.width = `${Math.max(0, Math.min(100, (left / Math.max(total, 1)) * 100))}%`;
    box.classList.toggle("urgent", left <= 5000);
    if (left <= 0) clearInterval(countdownTimer);
  };
  box.classList.remove("hidden");
  tick();
  countdownTimer = setInterval(tick, 250);
}

// ------------------------------------------------------------------------------------------------ ruling

function pressName(names, press) {
  return names.get(press.team) ?? press.team ?? press.device;
}

function renderWinner(ruling, names) {
  const winner = ruling?.winner?.team;
  $("#winner").textContent = winner ? names.get(winner) ?? winner : "";
  const presses = (ruling?.order ?? []).filter((p) => !p.false_start);
  let gap = "";
  if (ruling?.too_close) gap = winner ? t("too_close") : t("too_close_host"); // a tie rule may still name one
  else if (winner && presses.length > 1) {
    gap = t("ahead_of", { gap: ms(presses[1].gap_us - presses[0].gap_us), name: pressName(names, presses[1]) });
  } else if (winner) gap = t("only_buzz");
  $("#gap").textContent = gap;
}

/** Each press on one time axis (0 = the first press), with a bar as wide as its uncertainty either side. */
function renderTimeline(ruling, names) {
  const order = ruling?.order ?? [];
  $("#timeline").classList.toggle("hidden", order.length === 0);
  if (order.length === 0) return;
  const lo = Math.min(0, ...order.map((p) => p.gap_us - p.uncertainty_us));
  const hi = Math.max(1, ...order.map((p) => p.gap_us + p.uncertainty_us));
  const span = hi - lo;
  const pct = (us) => `${(((us - lo) / span) * 100).toFixed(2)}%`;
  const rows = order.map((press, i) => {
    const bar = el("span", { class: "tl-bar" });
    bar.style.left = pct(press.gap_us - press.uncertainty_us);
    bar.style.width = `${((2 * press.uncertainty_us) / span) * 100}%`;
    const dot = el("span", { class: "tl-dot" });
    dot.style.left = pct(press.gap_us);
    const flags = [press.false_start ? t("flag_false_start") : null, press.late ? t("flag_late") : null];
    const label = i === 0 ? t("first") : `+${ms(press.gap_us)} ms`;
    return el(
      "li",
      { class: i === 0 ? "tl-row first" : "tl-row", dataset: { team: press.team ?? "" } },
      el("span", { class: "tl-name" }, pressName(names, press)),
      el("span", { class: "tl-track" }, bar, dot),
      el("span", { class: "tl-gap" }, label, " ", el("small", {}, `±${ms(press.uncertainty_us)} ms`)),
      el("span", { class: "tl-flags" }, flags.filter(Boolean).join(" · ")),
    );
  });
  fill($("#timeline-rows"), rows);
  $("#timeline-axis").textContent = t("timeline_axis", { span: ms(span) });
}

// ------------------------------------------------------------------------------------------------ scoreboard

const rows = new Map(); // team id -> its <tr>, kept across updates so a rank move can be animated

function scoreRow(team) {
  let row = rows.get(team);
  if (!row) {
    row = el(
      "tr",
      { dataset: { team } },
      el("td", { class: "rank" }),
      el("td", { class: "name" }),
      el("td", { class: "score" }),
      el("td", { class: "delta" }),
    );
    rows.set(team, row);
  }
  return row;
}

function showDelta(row, delta) {
  const cell = row.querySelector("td.delta");
  const badge = el("span", { class: delta > 0 ? "up" : "down" }, `${delta > 0 ? "+" : "−"}${formatNumber(Math.abs(delta))}`);
  fill(cell, badge);
  row.dataset.delta = String(delta);
  // The badge fades by CSS and goes when its animation ends; with reduced motion (no animation) after a while.
  badge.addEventListener("animationend", () => badge.remove());
  setTimeout(() => badge.remove(), 6000);
}

/** Update the rows in place and in their new order; each row glides from where it was (FLIP), unless the viewer
 * asked for reduced motion. */
function renderScores(scores) {
  const tbody = $("#scores");
  const before = new Map([...rows].map(([team, row]) => [team, row.isConnected ? row.getBoundingClientRect().top : null]));
  const teams = scores?.teams ?? [];
  const wanted = teams.map((entry) => {
    const row = scoreRow(entry.team);
    const old = row.dataset.score === undefined ? null : Number(row.dataset.score);
    row.querySelector("td.rank").textContent = formatNumber(entry.rank);
    row.querySelector("td.name").textContent = entry.name;
    row.querySelector("td.score").textContent = formatNumber(entry.score);
    row.dataset.score = String(entry.score);
    if (old !== null && old !== entry.score) showDelta(row, entry.score - old);
    return row;
  });
  // Move only the rows that changed place: re-inserting a row would restart its delta badge's fade.
  wanted.forEach((row, i) => {
    if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] ?? null);
  });
  while (tbody.children.length > wanted.length) tbody.lastElementChild.remove();
  for (const team of [...rows.keys()]) if (!teams.some((e) => e.team === team)) rows.delete(team);
  if (reducedMotion.matches) return;
  for (const row of wanted) {
    const top = before.get(row.dataset.team);
    if (top === null || top === undefined) continue;
    const dy = top - row.getBoundingClientRect().top;
    if (Math.abs(dy) < 1) continue;
    row.classList.remove("moving");
    row.style.transform = `translateY(${dy}px)`;
    row.getBoundingClientRect(); // commit the start position before the transition runs
    row.classList.add("moving");
    row.style.transform = "";
  }
}

// ------------------------------------------------------------------------------------------------ the page

function phaseText(state, question) {
  // phase_answer (phones, not buzzers), phase_closed_answers or phase_closed_buzzer (the question stays up, the
  // answer waits for the reveal) or the phase's own (see phaseKey)
  return state.phase ? t(`phase_${phaseKey(state, question)}`) : "";
}

function render() {
  const state = view.state ?? {};
  const names = teamNames(view.scores);
  const inLobby = !state.phase || state.phase === "lobby";
  renderLobby(inLobby && !!view.joinCode);
  const question = state.question === undefined ? null : view.question;
  $("#round").textContent = question?.round_title ?? "";
  $("#phase").textContent = phaseText(state, question);
  $("#phase").dataset.phase = state.phase ?? "";
  $("#question").textContent = question?.text ?? "";
  renderMedia(question);
  renderChoices(question, state.reveal);
  const ruling = currentRuling(state);
  renderWinner(ruling, names);
  renderTimeline(ruling, names);
  $("#answer").textContent = state.reveal ? t("answer_is", { answer: state.reveal.answer }) : "";
  renderScores(view.scores);
}

function start() {
  const slot = $("#lang-slot");
  slot.replaceWith(languageSwitcher());
  const bearer = tokenFromFragment();
  const game = new URLSearchParams(location.search).get("game");
  if (!bearer && !game) {
    $("#error").textContent = t("no_token");
    return;
  }
  new GameSocket({
    game,
    bearer,
    onStatus: onConn,
    onFrame(frame) {
      if (frame.type === "hello") {
        loadGame(frame.game, bearer);
        return;
      }
      if (frame.type === "state") {
        view.state = frame.data;
        view.stateAt = performance.now();
        renderCountdown();
      } else if (frame.type === "question") view.question = frame.data;
      else if (frame.type === "scores") view.scores = frame.data;
      else return;
      render();
    },
  }).start();
}

await initI18n("screen");
start();
