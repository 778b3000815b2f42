// Team page: join by code (or the QR's /join?code=…) with a team name; the team token stays in localStorage, so a
// reload or a dropped connection keeps the team. Then one big buzz button (space bar too) with its states —
// wait, not yet, armed, buzzed, won, lost, locked, too early — or, for phone questions, the choices (multiple choice,
// true/false) or an input (numeric, open text), answered over the socket. Only what /ws gives a team reaches this
// page, so no answer is here before the host reveals it.
import {
  $,
  ANSWER_TYPES,
  api,
  ApiError,
  CHOICE_IDS,
  choiceLabel,
  choiceText,
  el,
  fill,
  GameSocket,
  phaseKey,
  renderScores,
  setConn,
  show,
  teamNames,
} from "/static/common.js";
import { formatNumber, initI18n, languageSwitcher, t } from "/static/i18n.js";

const TOKEN_KEY = "quizhub.team";
const ANSWER_KEY = "quizhub.answer"; // {team, q, value}: the team's last accepted answer, shown again after a reload

const me = {
  token: null,
  team: null,
  socket: null,
  state: null,
  question: null,
  scores: null,
  pressed: false, // this page buzzed since the buzzers were last armed
  early: null, // {q, outcome, delta}: the hub's verdict on a press before the buzzers were armed
  answers: new Map(), // question index -> {value, status: "sending"|"ok"|"refused", message}
  nextRef: 1,
};

function onConn(status, detail) {
  setConn(status); // the badge says "refused"; the reason goes to the join form
  if (status === "refused") forget(detail ?? t("team_gone"));
  render();
}

function forget(message) {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(ANSWER_KEY);
  if (me.socket) me.socket.stop();
  Object.assign(me, { token: null, team: null, socket: null, state: null, question: null, scores: null });
  Object.assign(me, { pressed: false, early: null, answers: new Map() });
  showJoin(message);
}

/** The QR's link (/join?code=…) fills in the code. */
function prefillCode() {
  const code = new URLSearchParams(location.search).get("code");
  if (code && !$("#join-code").value) $("#join-code").value = code;
}

function showJoin(message = "") {
  show("#team", false);
  show("#join", true);
  $("#join-error").textContent = message;
  prefillCode();
  ($("#join-code").value ? $("#join-name") : $("#join-code")).focus();
}

async function boot() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) {
    showJoin();
    return;
  }
  try {
    const doc = await api("GET", "/api/teams/me", undefined, { bearer: token });
    play(token, doc.team);
  } catch (err) {
    if (err instanceof ApiError && [401, 403, 404].includes(err.status)) forget(t("team_gone"));
    else showJoin(t("unreachable", { reason: err.message }));
  }
}

function play(token, team) {
  Object.assign(me, { token, team });
  show("#join", false);
  show("#team", true);
  $("#team-name").textContent = team.name;
  restoreAnswer();
  me.socket = new GameSocket({ bearer: token, onFrame, onStatus: onConn }).start();
  render();
}

// ------------------------------------------------------------------------------------------------ frames

function onFrame(frame) {
  switch (frame.type) {
    case "sync": {
      // The hub's clock ping: answer at once with when it arrived and when we answer (performance.now(), ms).
      const t2 = performance.now();
      me.socket.send({ type: "sync_reply", n: frame.n, t2, t3: performance.now() });
      return;
    }
    case "state":
      // Every arm (a new question, or a re-arm after a wrong answer) gives the team a fresh press.
      if (frame.data?.phase === "armed" && (me.state?.phase !== "armed" || me.state?.question !== frame.data.question)) {
        me.pressed = false;
      }
      me.state = frame.data;
      break;
    case "question":
      me.question = frame.data;
      break;
    case "scores":
      me.scores = frame.data;
      break;
    case "event":
      if (!onEvent(frame.data)) return;
      break;
    case "reply":
      onReply(frame);
      break;
    case "error":
      if (!onAnswerRefused(frame.ref, frame.message)) $("#message").textContent = frame.message;
      return;
    default:
      return;
  }
  render();
}

/** Our own presses and answers as the hub logged them; true when the page needs redrawing. */
function onEvent(event) {
  const data = event?.data ?? {};
  if (event?.type === "buzz_received" && data.press?.team === me.team?.id) {
    if (data.outcome === "false_start" || (data.outcome === "not_armed" && me.state?.phase === "question")) {
      me.early = { q: data.index, outcome: data.outcome, delta: data.delta ?? 0 };
      return true;
    }
  }
  if (event?.type === "answer_received" && data.team === me.team?.id) {
    const value = data.choice !== undefined && data.choice !== null ? [CHOICE_IDS[data.choice]] : data.value ?? data.text;
    accepted(data.index, value);
    return true;
  }
  return false;
}

function onReply(frame) {
  for (const [q, entry] of me.answers) {
    if (entry.ref !== frame.id) continue;
    if (frame.ok) accepted(q, entry.value);
    else me.answers.set(q, { ...entry, status: "refused", message: frame.error?.message ?? t("answer_refused") });
  }
}

/** The hub took our answer to question `q`: it stays on this page, and in this phone's storage for a reload (the
 * socket replays no events from before it connected). */
function accepted(q, value) {
  me.answers.set(q, { ...me.answers.get(q), value, status: "ok" });
  localStorage.setItem(ANSWER_KEY, JSON.stringify({ team: me.team?.id, q, value }));
}

function restoreAnswer() {
  try {
    const saved = JSON.parse(localStorage.getItem(ANSWER_KEY) ?? "null");
    if (saved?.team === me.team?.id && Number.isInteger(saved.q)) me.answers.set(saved.q, { value: saved.value, status: "ok" });
  } catch {
    localStorage.removeItem(ANSWER_KEY); // not ours to read: forget it
  }
}

function onAnswerRefused(ref, message) {
  if (ref === undefined) return false;
  for (const [q, entry] of me.answers) {
    if (entry.ref === ref) {
      me.answers.set(q, { ...entry, status: "refused", message });
      render();
      return true;
    }
  }
  return false;
}

// ------------------------------------------------------------------------------------------------ buzzing

function isAnswerQuestion() {
  return ANSWER_TYPES.has(me.question?.type);
}

/** [state, label]: what the big button shows now. */
function buzzState() {
  const state = me.state ?? {};
  const teamId = me.team?.id;
  const ruling = state.last_ruling?.q === state.question ? state.last_ruling : null;
  const winner = ruling?.winner?.team;
  if (ruling && ["buzzed", "judged", "revealed"].includes(state.phase)) {
    if (winner === teamId) return ["won", t("state_won")];
    if (winner) return ["lost", t("state_lost", { name: teamNames(me.scores).get(winner) ?? t("another_team") })];
    if (ruling.too_close) return ["lost", t("too_close")];
  }
  const early = me.early?.q === state.question && state.question !== undefined;
  const locked = (state.locked_out ?? []).includes(teamId);
  if (early && (locked || state.phase === "question")) return ["false_start", t("state_false_start")];
  if (locked) return ["locked", t("state_locked")];
  if (state.phase === "armed") return me.pressed ? ["pressed", t("state_pressed")] : ["armed", t("state_armed")];
  if (state.phase === "question") return ["ready", t("state_ready")];
  if (state.phase === "closed") return ["closed", t("state_closed")];
  return ["wait", t("state_wait")];
}

function canPress(kind) {
  // "ready" presses too: pressing before the buzzers are live is a false start, and the hub rules on it.
  return (kind === "armed" || kind === "ready") && !$("#conn").classList.contains("offline");
}

function buzz(at) {
  if (isAnswerQuestion()) return;
  const [kind] = buzzState();
  if (!canPress(kind) || !me.socket) return;
  if (me.socket.send({ type: "buzz", t: at })) {
    if (kind === "armed") me.pressed = true;
    $("#message").textContent = "";
    render();
  }
}

function earlyMessage() {
  const early = me.early;
  if (!early || early.q !== me.state?.question) return "";
  if (early.outcome === "not_armed") return t("early_ignored");
  if (early.delta < 0) return t("early_penalty", { points: formatNumber(-early.delta) });
  return t("early_locked");
}

// ------------------------------------------------------------------------------------------------ answering

function sendAnswer(value) {
  const q = me.state?.question;
  if (q === undefined || !me.socket || me.answers.get(q)?.status === "ok") return;
  const ref = `a${me.nextRef++}`;
  if (!me.socket.send({ type: "answer", value, id: ref })) {
    $("#message").textContent = t("not_sent_offline");
    return;
  }
  me.answers.set(q, { value, ref, status: "sending" });
  render();
}

function answersOpen() {
  return me.state?.phase === "armed" && isAnswerQuestion();
}

function renderChoices(question, mine, open) {
  const reveal = me.state?.reveal;
  const correct = new Set(reveal?.correct ?? []);
  const picked = Array.isArray(mine?.value) ? mine.value[0] : null;
  const locked = !open || mine?.status === "ok" || mine?.status === "sending";
  fill(
    $("#choices"),
    (question.choices ?? []).map((choice) => {
      const classes = ["choice"];
      if (choice.id === picked) classes.push("picked");
      if (reveal && correct.has(choice.id)) classes.push("right");
      return el(
        "button",
        {
          type: "button",
          class: classes.join(" "),
          disabled: locked,
          "aria-pressed": choice.id === picked ? "true" : "false",
          dataset: { choice: choice.id },
          onclick: () => sendAnswer([choice.id]),
        },
        el("span", { class: "choice-id" }, choice.id.toUpperCase()),
        el("span", { class: "choice-text" }, choiceText(question, choice)),
      );
    }),
  );
}

function answerStatus(question, mine) {
  const reveal = me.state?.reveal;
  if (reveal && mine?.status === "ok") {
    const right = Array.isArray(mine.value)
      ? (reveal.correct ?? []).includes(mine.value[0])
      : String(mine.value).trim().toLowerCase() === String(reveal.answer).trim().toLowerCase();
    if (question.type === "numeric" || question.type === "estimate" || question.type === "open_text") {
      return ["", t("answer_was", { answer: reveal.answer })];
    }
    return right ? ["right", t("answer_right")] : ["wrong", t("answer_wrong", { answer: reveal.answer })];
  }
  if (reveal) return ["", t("answer_was", { answer: reveal.answer })];
  if (me.state?.phase === "closed" && me.state.question === question.index && mine?.status === "ok") {
    return ["ok", t("answer_closed_yours", { answer: mineText(question, mine) })];
  }
  if (me.state?.phase === "closed" && me.state.question === question.index && !mine) {
    return ["", t("answer_closed_none")];
  }
  if (mine?.status === "sending") return ["", t("answer_sending")];
  if (mine?.status === "ok") return ["ok", t("answer_locked")];
  if (mine?.status === "refused") return ["wrong", mine.message];
  if (answersOpen()) return ["", t("answer_now")];
  return ["", t("answer_wait")];
}

/** Our answer as sent: the choice's letter and text, or the number or text. */
function mineText(question, mine) {
  if (Array.isArray(mine.value)) return choiceLabel(question, mine.value[0]);
  return typeof mine.value === "number" ? formatNumber(mine.value) : String(mine.value);
}

function renderAnswers() {
  const question = me.question;
  const answering = isAnswerQuestion() && me.state?.question === question?.index;
  show("#answers", answering);
  if (!answering) return;
  const mine = me.answers.get(question.index);
  const open = answersOpen();
  const free = !question.choices?.length;
  show("#choices", !free);
  show("#free-form", free);
  if (free) {
    const input = $("#free-input");
    const numeric = question.type === "numeric" || question.type === "estimate";
    input.type = numeric ? "number" : "text";
    input.inputMode = numeric ? "decimal" : "text";
    input.step = "any";
    $("#free-label").textContent = numeric
      ? t(question.unit ? "your_number_unit" : "your_number", { unit: question.unit ?? "" })
      : t("your_answer");
    const done = mine?.status === "ok" || mine?.status === "sending";
    if (done && !input.value) input.value = String(mine.value); // after a reload: what the team sent
    input.disabled = !open || done;
    $("#free-form button").disabled = !open || done;
  } else {
    renderChoices(question, mine, open);
  }
  const [kind, text] = answerStatus(question, mine);
  const status = $("#answer-status");
  status.className = `answer-status ${kind}`;
  status.textContent = text;
}

$("#free-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#free-input");
  const raw = input.value.trim();
  if (!raw) {
    $("#answer-status").textContent = t("answer_empty");
    return;
  }
  if (input.type === "number") {
    const value = Number(raw);
    if (!Number.isFinite(value)) {
      $("#answer-status").textContent = t("answer_not_number");
      return;
    }
    sendAnswer(value);
  } else sendAnswer(raw);
});

// ------------------------------------------------------------------------------------------------ the page

function phaseText() {
  if (!me.state?.phase) return "";
  // phase_answer, phase_closed_answers, phase_closed_buzzer or the phase's own (see phaseKey)
  return t(`phase_${phaseKey(me.state, me.question)}`);
}

function render() {
  if (!me.team) return;
  const answering = isAnswerQuestion();
  const [kind, label] = buzzState();
  const button = $("#buzz");
  button.className = kind;
  button.dataset.state = kind;
  button.textContent = label;
  button.disabled = !canPress(kind);
  show("#buzz", !answering);
  show("#hint", !answering);
  $("#phase").textContent = phaseText();
  $("#phase").dataset.phase = me.state?.phase ?? "";
  const sameQuestion = me.question && me.state?.question === me.question.index;
  $("#question").textContent = sameQuestion ? me.question.text : "";
  if (kind === "false_start") $("#message").textContent = earlyMessage();
  else if ($("#message").dataset.early) $("#message").textContent = "";
  $("#message").dataset.early = kind === "false_start" ? "1" : "";
  renderAnswers();
  const row = (me.scores?.teams ?? []).find((r) => r.team === me.team.id);
  $("#score").textContent = row ? formatNumber(row.score) : formatNumber(0);
  $("#rank").textContent = row ? formatNumber(row.rank) : "–";
  renderScores($("#scores"), me.scores, me.team.id);
}

$("#join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#join-error").textContent = "";
  try {
    const doc = await api("POST", "/api/join", { code: $("#join-code").value.trim(), name: $("#join-name").value });
    localStorage.setItem(TOKEN_KEY, doc.token);
    play(doc.token, doc.team);
  } catch (err) {
    $("#join-error").textContent = err.message; // the server's sentence (unknown code, name taken, too many tries)
  }
});

$("#leave").addEventListener("click", () => forget(""));

// The press time is the input event's own timestamp (same clock as performance.now()), not when the handler runs.
$("#buzz").addEventListener("pointerdown", (event) => buzz(event.timeStamp));
$("#buzz").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.repeat) buzz(event.timeStamp); // keyboard users on the focused button
});
document.addEventListener("keydown", (event) => {
  if (event.code !== "Space" || event.repeat || !me.team) return;
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
  if (event.target instanceof HTMLButtonElement && event.target !== $("#buzz")) return; // space presses that button
  event.preventDefault();
  buzz(event.timeStamp);
});

prefillCode(); // before the catalogs load, so the code is there as soon as the page is
await initI18n("play");
$("#lang-slot").replaceWith(languageSwitcher());
boot();
