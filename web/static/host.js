// Host console: pick a quiz and start a game (or pick a running one), then run it — show, arm, judge, undo, reveal,
// next, pause, adjust scores, add and remove teams — watching the live state, the buzz order with its gaps, the
// timers, the scoreboard and the buzzers' health over /ws. Every change is a REST call with the session's CSRF token.
import {
  $,
  api,
  ApiError,
  CHOICE_IDS,
  choiceLabel,
  el,
  fill,
  GameSocket,
  renderScores,
  setConn,
  show,
  startHostSession,
  teamNames,
  winnerGap,
  formatGap,
} from "/static/common.js";
import { formatNumber, initI18n, languageSwitcher, t } from "/static/i18n.js";
import { healthCells, labelCells } from "/static/devicehealth.js";

const ui = {
  csrf: null,
  game: null,
  socket: null,
  state: null,
  stateAt: 0, // performance.now() when the state arrived: the timers count from there
  question: null,
  scores: null,
  devices: [],
  devicesTimer: null,
  removing: null, // the team whose Remove button waits for a second click
};

// What the teams answered to question `q`, from its answer_received events (the state names who answered, never
// what): opened mid-question, this console lacks the answers that came before, so it cannot list them for marking.
const round = { q: null, answers: new Map() };

// Literal keys (not built from the value), so the catalog test sees every one of them.
const STATUS_KEYS = { lobby: "status_lobby", running: "status_running", finished: "status_finished" };
const PHASE_KEYS = {
  lobby: "phase_lobby",
  question: "phase_question",
  armed: "phase_armed",
  buzzed: "phase_buzzed",
  closed: "phase_closed",
  judged: "phase_judged",
  revealed: "phase_revealed",
  paused: "phase_paused",
  finished: "phase_finished",
  error: "phase_error",
};
const DEVICE_POLL_MS = 5000; // health changes arrive as database writes, not as game events

async function boot() {
  await initI18n("host");
  $("#lang-slot").append(languageSwitcher());
  const session = await startHostSession();
  if (!session) return;
  ui.csrf = session.csrf;
  const wanted = new URLSearchParams(location.search).get("game");
  if (wanted) openGame(wanted);
  else listGames();
}

// ---------------------------------------------------------------------------------------------- games and quizzes

async function listGames() {
  closeGame();
  show("#games", true);
  $("#games-error").textContent = "";
  $("#start-error").textContent = "";
  await Promise.all([loadQuizzes(), loadGames()]);
}

async function loadQuizzes() {
  try {
    const quizzes = await api("GET", "/api/quizzes");
    fill(
      $("#quiz-select"),
      quizzes.map((quiz) => el("option", { value: quiz.id }, quiz.title)),
    );
    if (quizzes.length === 0) $("#start-error").textContent = t("no_quizzes");
  } catch (err) {
    $("#start-error").textContent = err.message;
  }
}

async function loadGames() {
  try {
    const games = await api("GET", "/api/games");
    fill(
      $("#game-list"),
      games.length === 0 ? el("li", { class: "muted" }, t("no_games")) : null,
      games.map((game) =>
        el(
          "li",
          { dataset: { game: game.id } },
          el("strong", { class: "mono" }, game.id),
          el("span", {}, t("code_is", { code: game.join_code })),
          el("span", { class: "muted" }, t(STATUS_KEYS[game.status] ?? "status_running")),
          el("button", { type: "button", class: "primary", onclick: () => openGame(game.id) }, t("host_game")),
        ),
      ),
    );
  } catch (err) {
    $("#games-error").textContent = err.message;
  }
}

$("#start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#start-error").textContent = "";
  const quizId = Number($("#quiz-select").value);
  if (!quizId) {
    $("#start-error").textContent = t("pick_quiz");
    return;
  }
  try {
    const settings = { tie_rule: $("#tie-rule").value }; // what the arbiter does inside the clocks' uncertainty
    const game = await api("POST", "/api/games", { quiz_id: quizId, settings }, { csrf: ui.csrf });
    openGame(game.id);
  } catch (err) {
    $("#start-error").textContent = err.message;
  }
});

function closeGame() {
  if (ui.socket) ui.socket.stop();
  Object.assign(round, { q: null, answers: new Map() });
  clearInterval(ui.devicesTimer);
  Object.assign(ui, { socket: null, game: null, state: null, question: null, scores: null, devices: [] });
  show("#console", false);
}

async function openGame(gameId) {
  closeGame();
  show("#games", false);
  let detail;
  try {
    detail = await api("GET", `/api/games/${encodeURIComponent(gameId)}`);
  } catch (err) {
    show("#games", true);
    await listGames();
    $("#games-error").textContent = err.message;
    return;
  }
  const game = detail.game;
  ui.game = game;
  $("#game-id").textContent = game.id;
  $("#join-code").textContent = game.join_code;
  $("#join-link").href = `/join?code=${encodeURIComponent(game.join_code)}`;
  $("#screen-link").href = `/screen?game=${encodeURIComponent(game.id)}`;
  $("#devices-link").href = `/devices?game=${encodeURIComponent(game.id)}`;
  $("#nav-devices").href = $("#devices-link").href;
  history.replaceState(null, "", `/?game=${encodeURIComponent(game.id)}`);
  fill($("#log"));
  show("#display-out", false);
  show("#console", true);
  if (detail.live) {
    ui.state = detail.live.state;
    ui.stateAt = performance.now();
    ui.question = detail.live.question;
    ui.scores = detail.live.scores;
  }
  render();
  ui.socket = new GameSocket({ game: game.id, onFrame, onStatus: setConn }).start();
  loadDevices();
  ui.devicesTimer = setInterval(loadDevices, DEVICE_POLL_MS);
}

$("#back").addEventListener("click", () => {
  history.replaceState(null, "", "/");
  listGames();
});

// A read-only display token for this game's screen; the link carries it in the fragment (never sent to a server).
$("#display-link").addEventListener("click", async () => {
  if (!ui.game) return;
  $("#cmd-error").textContent = "";
  try {
    const doc = await api("POST", `/api/games/${encodeURIComponent(ui.game.id)}/display-tokens`, { name: "screen" }, {
      csrf: ui.csrf,
    });
    const url = `${location.origin}/screen#token=${encodeURIComponent(doc.token)}`;
    $("#display-url").href = url;
    $("#display-url").textContent = url;
    show("#display-out", true);
  } catch (err) {
    $("#cmd-error").textContent = err.message;
  }
});

// ---------------------------------------------------------------------------------------------- commands

/** Send a host command; its refusal (the hub's sentence) goes to `errorNode`. True when the hub accepted it. */
async function command(body, errorNode = $("#cmd-error")) {
  errorNode.textContent = "";
  try {
    await api("POST", `/api/games/${encodeURIComponent(ui.game.id)}/commands`, body, { csrf: ui.csrf });
    return true;
  } catch (err) {
    errorNode.textContent = err.message;
    return false;
  }
}

const COMMANDS = {
  show: { cmd: "show" },
  arm: { cmd: "arm" },
  "judge-right": { cmd: "judge", verdict: "right" },
  "judge-wrong": { cmd: "judge", verdict: "wrong" },
  reveal: { cmd: "reveal" },
  next: { cmd: "next" },
  skip: { cmd: "skip" },
  undo: { cmd: "undo" },
  pause: { cmd: "pause" },
  resume: { cmd: "resume" },
};

for (const button of document.querySelectorAll("[data-cmd]")) {
  button.addEventListener("click", async () => {
    if (!ui.game) return;
    button.disabled = true;
    try {
      await command(COMMANDS[button.dataset.cmd]);
    } finally {
      button.disabled = false;
    }
  });
}

// One key per command for a host with a hand on the keyboard (aria-keyshortcuts on each button). Keys typed into a
// field, or with a modifier, are the field's and the browser's.
document.addEventListener("keydown", (event) => {
  if (!ui.game || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, select, textarea")) return;
  const key = event.key.toLowerCase();
  const button = [...document.querySelectorAll("#console [data-cmd][aria-keyshortcuts]")].find(
    (candidate) => candidate.getAttribute("aria-keyshortcuts") === key && !candidate.classList.contains("hidden"),
  );
  if (!button || button.disabled) return;
  event.preventDefault();
  button.click();
});

$("#adjust-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const delta = Number($("#adjust-delta").value);
  if (!Number.isInteger(delta) || delta === 0) {
    $("#adjust-error").textContent = t("adjust_bad_delta");
    return;
  }
  const body = { cmd: "adjust", team: $("#adjust-team").value, delta };
  const reason = $("#adjust-reason").value.trim();
  if (reason) body.reason = reason;
  if (await command(body, $("#adjust-error"))) {
    $("#adjust-delta").value = "";
    $("#adjust-reason").value = "";
  }
});

// A host adds a team the way a team joins (by the game's code); the team's token is not kept: its players join
// on their own phones with a name of their own, or play on a paired buzzer.
$("#team-add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#teams-error").textContent = "";
  const name = $("#team-add-name").value.trim();
  if (!name) {
    $("#teams-error").textContent = t("team_name_needed");
    return;
  }
  try {
    await api("POST", "/api/join", { code: ui.game.join_code, name });
    $("#team-add-name").value = "";
  } catch (err) {
    $("#teams-error").textContent = err.message;
  }
});

async function removeTeam(team) {
  if (ui.removing !== team) {
    ui.removing = team; // a second click confirms: a removed team loses its score
    renderTeams(teamNames(ui.scores));
    return;
  }
  ui.removing = null;
  $("#teams-error").textContent = "";
  const path = `/api/games/${encodeURIComponent(ui.game.id)}/teams/${encodeURIComponent(team)}`;
  try {
    await api("DELETE", path, undefined, { csrf: ui.csrf }); // the hub drops it, then its row and token go
  } catch (err) {
    // A team the hub has but the database lacks (the demo's own teams) is removed on the hub alone.
    if (err instanceof ApiError && err.status === 404) await command({ cmd: "remove_team", team }, $("#teams-error"));
    else $("#teams-error").textContent = err.message;
  }
  renderTeams(teamNames(ui.scores));
}

// ---------------------------------------------------------------------------------------------- live frames

function onFrame(frame) {
  switch (frame.type) {
    case "state":
      ui.state = frame.data;
      ui.stateAt = performance.now();
      break;
    case "question":
      ui.question = frame.data;
      break;
    case "scores":
      ui.scores = frame.data;
      break;
    case "event":
      logEvent(frame.data);
      if (String(frame.data.type).startsWith("device_")) loadDevices();
      if (!followRound(frame.data)) return;
      break;
    case "error":
      $("#cmd-error").textContent = frame.message;
      return;
    default:
      return;
  }
  render();
}

/** Keep the answers of the current question (see `round`); true when the page needs redrawing. */
function followRound(event) {
  const data = event?.data ?? {};
  if (event?.type === "question_shown") {
    Object.assign(round, { q: data.index, answers: new Map() });
    return true;
  }
  if (event?.type === "answer_received" && data.index === round.q) {
    round.answers.set(data.team, data);
    return true;
  }
  return false;
}

function logEvent(event) {
  const log = $("#log");
  log.prepend(el("li", {}, `#${event.seq} ${event.type}`));
  while (log.childElementCount > 30) log.lastElementChild.remove();
}

function render() {
  const state = ui.state ?? {};
  const names = teamNames(ui.scores);
  // A game made on the web is opened by the hub at its first command: until then it is in the lobby, state-less.
  const phase = state.phase ?? (ui.game?.status === "lobby" ? "lobby" : "");
  $("#phase").dataset.phase = phase;
  $("#phase").textContent = phase ? t(PHASE_KEYS[phase] ?? "phase_unknown") : "–";
  $("#qnum").textContent =
    state.question === undefined || state.question === null
      ? t("no_question")
      : t("question_of", { n: state.question + 1, count: state.question_count ?? "?" });
  renderQuestion(state);
  renderClosed(state, phase, names);
  renderRuling(state.last_ruling, names);
  renderScores($("#scores"), ui.scores);
  renderTeamPicker(names);
  renderTeams(names);
  renderDevices();
  renderTimer();
  // In closed only the commands the hub takes there are offered; elsewhere every one (the hub's refusal explains).
  const allowed = phase === "closed" ? closedCommands(state, names) : null;
  for (const button of document.querySelectorAll("#console [data-cmd]")) {
    const cmd = button.dataset.cmd;
    let hidden = (cmd === "pause" && phase === "paused") || (cmd === "resume" && phase !== "paused");
    if (allowed) hidden = !allowed.has(cmd);
    button.classList.toggle("hidden", hidden);
  }
}

/** The commands hub/core/transitions.py accepts in closed, narrowed by the game's own rules (Game._decide_*) as the
 * state tells them: re-arm only a buzzer question with a team left to buzz; undo only when the hub holds a checkpoint
 * (`can_undo`); no show, next or global judge (an open-text answer is marked per team, in #marks). */
function closedCommands(state, names) {
  const allowed = new Set(["reveal", "skip", "pause"]);
  if (ui.question?.type === "buzzer" && (state.locked_out ?? []).length < names.size) allowed.add("arm");
  if (state.can_undo) allowed.add("undo");
  return allowed;
}

/** In closed: what happened, in one line, and the open-text answers with a Right/Wrong pair each until marked. */
function renderClosed(state, phase, names) {
  const question = ui.question;
  const closed = phase === "closed" && question && question.index === state.question;
  const answered = state.answered ?? []; // who answered, from the hub; what they answered only from this console's events
  const given = round.q === state.question ? answered.filter((team) => round.answers.has(team)) : [];
  let note = "";
  if (closed && question.type === "buzzer") note = t("closed_nobody_buzzed");
  else if (closed) note = t("closed_answered", { count: answered.length, total: names.size });
  if (closed && question.type === "open_text") {
    note += ` ${t(given.length === answered.length ? "closed_mark" : "closed_mark_unknown")}`;
  }
  $("#closed-note").textContent = note;
  show("#closed-note", Boolean(note));
  const marking = Boolean(closed) && question.type === "open_text";
  const verdicts = new Map((state.judged ?? []).map((mark) => [mark.team, mark.verdict === "right"]));
  show("#marks", marking && given.length > 0);
  fill(
    $("#marks"),
    marking
      ? given.map((team) => {
          const answer = round.answers.get(team);
          const name = names.get(team) ?? team;
          const verdict = verdicts.get(team);
          return el(
            "li",
            { dataset: { team } },
            el("span", { class: "name" }, name),
            el("span", { class: "given" }, answerText(question, answer)),
            verdict === undefined
              ? [
                  el("button", { type: "button", class: "ok", onclick: () => command({ cmd: "judge", verdict: "right", team }) },
                    t("mark_right", { name })),
                  el("button", { type: "button", class: "bad", onclick: () => command({ cmd: "judge", verdict: "wrong", team }) },
                    t("mark_wrong", { name })),
                ]
              : el("span", { class: verdict ? "badge ok" : "badge bad" }, t(verdict ? "marked_right" : "marked_wrong")),
          );
        })
      : [],
  );
}

/** A team's answer as the host reads it (an answer_received event): the choice's letter and text, the number, or the
 * text. */
function answerText(question, answer) {
  if (typeof answer.choice === "number") return choiceLabel(question, CHOICE_IDS[answer.choice]);
  return String(answer.value ?? answer.text ?? "");
}

function renderQuestion(state) {
  const question = ui.question;
  $("#question").textContent = question?.text ?? "";
  fill(
    $("#choices"),
    (question?.choices ?? []).map((choice) =>
      el("li", { dataset: { choice: choice.id }, class: state.reveal?.correct?.includes(choice.id) ? "correct" : null }, choice.text),
    ),
  );
  $("#answer").textContent = state.reveal ? t("answer_is", { answer: state.reveal.answer ?? "" }) : "";
}

function renderRuling(ruling, names) {
  const winner = ruling?.winner?.team;
  const gap = winnerGap(ruling);
  let line = "";
  if (winner) {
    const name = names.get(winner) ?? winner;
    line = gap === null ? t("first_is", { name }) : t("first_by", { name, gap: formatGap(gap) });
  }
  $("#winner").textContent = line;
  show("#too-close", Boolean(ruling?.too_close));
  // Too close to call and the tie rule left it to the host: the host names the team that answered and judges it
  // (the hub's `decide` is "this team, right"; a wrong one is `judge` with the team, which may re-arm the others).
  const undecided = Boolean(ruling?.too_close) && !winner && ui.state?.phase === "buzzed";
  show("#decide", undecided);
  fill(
    $("#decide"),
    undecided
      ? (ruling.order ?? [])
          .filter((press) => press.team)
          .map((press) => {
            const name = names.get(press.team) ?? press.team;
            return el(
              "span",
              { class: "decide-pair", dataset: { team: press.team } },
              el("button", { type: "button", class: "ok", onclick: () => command({ cmd: "decide", team: press.team }) },
                t("decide", { name })),
              el("button", { type: "button", class: "bad",
                onclick: () => command({ cmd: "judge", verdict: "wrong", team: press.team }) },
                t("decide_wrong", { name })),
            );
          })
      : [],
  );
  fill(
    $("#order"),
    (ruling?.order ?? []).map((press, i) =>
      el(
        "li",
        { dataset: { team: press.team ?? "" } },
        el("span", { class: "name" }, names.get(press.team) ?? press.team ?? press.device),
        " ",
        el("span", { class: "gap" }, i === 0 ? t("first") : formatGap(press.gap_us)),
        " ",
        el("span", { class: "muted" }, t("uncertainty", { ms: formatNumber(press.uncertainty_us / 1000, { maximumFractionDigits: 1 }) })),
        press.device ? el("span", { class: "muted mono" }, ` ${press.device}`) : null,
      ),
    ),
  );
}

function renderTeamPicker(names) {
  const select = $("#adjust-team");
  const current = select.value;
  fill(select, [...names].map(([team, name]) => el("option", { value: team, selected: team === current }, name)));
}

function renderTeams(names) {
  fill(
    $("#teams"),
    names.size === 0 ? el("li", { class: "muted" }, t("no_teams")) : null,
    [...names].map(([team, name]) =>
      el(
        "li",
        { dataset: { team } },
        el("span", { class: "name" }, name),
        el(
          "button",
          { type: "button", class: ui.removing === team ? "bad" : null, onclick: () => removeTeam(team) },
          ui.removing === team ? t("team_remove_confirm") : t("team_remove"),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------- timers

function renderTimer() {
  const state = ui.state ?? {};
  const deadline = state.answer_deadline_us ?? state.buzz_deadline_us;
  const node = $("#timer");
  if (!deadline || typeof state.ts_us !== "number" || state.phase === "paused") {
    show("#timer", false);
    return;
  }
  // Deadlines are on the hub's clock; ts_us is that clock at publication, so the rest counts on this page's clock.
  const leftMs = (deadline - state.ts_us) / 1000 - (performance.now() - ui.stateAt);
  const seconds = Math.max(0, Math.ceil(leftMs / 1000));
  node.textContent = state.answer_deadline_us ? t("timer_answer", { s: seconds, count: seconds }) : t("timer_buzz", { s: seconds, count: seconds });
  node.classList.toggle("urgent", seconds <= 5);
  show("#timer", true);
}

setInterval(renderTimer, 250);

// ---------------------------------------------------------------------------------------------- devices

async function loadDevices() {
  if (!ui.game) return;
  const game = ui.game.id;
  try {
    const devices = await api("GET", `/api/devices?game_id=${encodeURIComponent(game)}`);
    if (ui.game?.id !== game) return;
    ui.devices = devices;
    $("#devices-error").textContent = "";
  } catch (err) {
    $("#devices-error").textContent = err.message;
  }
  renderDevices();
}

function renderDevices() {
  const names = teamNames(ui.scores);
  fill(
    $("#devices"),
    ui.devices.length === 0 ? el("tr", {}, el("td", { colspan: 6, class: "muted" }, t("no_devices"))) : null,
    ui.devices.map((device) =>
      el(
        "tr",
        { dataset: { device: device.id } },
        el("td", { class: "mono" }, device.name ? `${device.name} (${device.id})` : device.id),
        el("td", {}, device.team_id ? names.get(device.team_id) ?? device.team_id : "–"),
        healthCells(device, t),
      ),
    ),
  );
  for (const row of $("#devices").children) labelCells(row);
}

boot();
