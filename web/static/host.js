// Host console: local login, game list, host commands, live state/buzz order/scoreboard over /ws.
import { $, api, ApiError, el, fill, GameSocket, renderScores, rulingRows, teamNames, winnerGap, formatGap } from "/static/common.js";

const ui = { csrf: null, game: null, socket: null, state: null, question: null, scores: null };

function show(id, visible) {
  $(id).classList.toggle("hidden", !visible);
}

function setConn(status, detail) {
  const node = $("#conn");
  node.className = `status ${status}`;
  node.textContent = detail ? `${status}: ${detail}` : status;
}

async function boot() {
  try {
    const me = await api("GET", "/api/auth/me");
    signedIn(me.principal ?? me, me.csrf_token);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) $("#login-error").textContent = err.message;
    showLogin();
  }
}

function showLogin() {
  show("#login", true);
  show("#games", false);
  show("#console", false);
  show("#logout", false);
  $("#who").textContent = "";
  $("#login-name").focus();
}

function signedIn(principal, csrf) {
  ui.csrf = csrf;
  $("#who").textContent = `${principal.name} (${principal.role})`;
  show("#login", false);
  show("#logout", true);
  const wanted = new URLSearchParams(location.search).get("game");
  if (wanted) openGame(wanted);
  else listGames();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const doc = await api("POST", "/api/auth/login", {
      name: $("#login-name").value,
      password: $("#login-password").value,
    });
    $("#login-password").value = "";
    signedIn(doc.principal, doc.csrf_token);
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

$("#logout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/auth/logout", undefined, { csrf: ui.csrf });
  } catch {
    /* signed out anyway */
  }
  closeGame();
  showLogin();
});

async function listGames() {
  closeGame();
  show("#games", true);
  $("#games-error").textContent = "";
  try {
    const games = await api("GET", "/api/games");
    fill(
      $("#game-list"),
      games.length === 0 ? el("li", { class: "muted" }, "No games yet. Start one with `quizhub serve --demo`.") : null,
      games.map((game) =>
        el(
          "li",
          { dataset: { game: game.id } },
          el("strong", {}, game.id),
          el("span", {}, `code ${game.join_code}`),
          el("span", { class: "muted" }, game.status),
          el("button", { type: "button", class: "primary", onclick: () => openGame(game.id) }, "Host this game"),
        ),
      ),
    );
  } catch (err) {
    $("#games-error").textContent = err.message;
  }
}

function closeGame() {
  if (ui.socket) ui.socket.stop();
  ui.socket = null;
  ui.game = null;
  show("#console", false);
}

async function openGame(gameId) {
  closeGame();
  show("#games", false);
  try {
    const detail = await api("GET", `/api/games/${encodeURIComponent(gameId)}`);
    ui.game = detail.game;
  } catch (err) {
    $("#games-error").textContent = err.message;
    show("#games", true);
    return;
  }
  const game = ui.game;
  $("#game-id").textContent = game.id;
  $("#join-code").textContent = game.join_code;
  $("#join-link").href = `/play?code=${encodeURIComponent(game.join_code)}`;
  $("#screen-link").href = `/screen?game=${encodeURIComponent(game.id)}`;
  history.replaceState(null, "", `/?game=${encodeURIComponent(game.id)}`);
  fill($("#log"));
  show("#console", true);
  ui.socket = new GameSocket({ game: game.id, onFrame, onStatus: setConn }).start();
}

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

async function command(body) {
  $("#cmd-error").textContent = "";
  try {
    await api("POST", `/api/games/${encodeURIComponent(ui.game.id)}/commands`, body, { csrf: ui.csrf });
  } catch (err) {
    $("#cmd-error").textContent = err.message;
  }
}

$("#back").addEventListener("click", () => {
  history.replaceState(null, "", "/");
  listGames();
});

const COMMANDS = {
  show: { cmd: "show" },
  arm: { cmd: "arm" },
  "judge-right": { cmd: "judge", verdict: "right" },
  "judge-wrong": { cmd: "judge", verdict: "wrong" },
  reveal: { cmd: "reveal" },
  next: { cmd: "next" },
  undo: { cmd: "undo" },
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

function onFrame(frame) {
  switch (frame.type) {
    case "state":
      ui.state = frame.data;
      break;
    case "question":
      ui.question = frame.data;
      break;
    case "scores":
      ui.scores = frame.data;
      break;
    case "event":
      logEvent(frame.data);
      return;
    case "error":
      $("#cmd-error").textContent = frame.message;
      return;
    default:
      return;
  }
  render();
}

function logEvent(event) {
  const log = $("#log");
  log.prepend(el("li", {}, `#${event.seq} ${event.type}`));
  while (log.childElementCount > 30) log.lastElementChild.remove();
}

function render() {
  const state = ui.state ?? {};
  const names = teamNames(ui.scores);
  $("#phase").textContent = state.phase ?? "–";
  $("#qnum").textContent =
    state.question === undefined ? "–" : `${state.question + 1} of ${state.question_count ?? "?"}`;
  $("#question").textContent = ui.question?.text ?? "";
  $("#answer").textContent = state.reveal ? `Answer: ${state.reveal.answer}` : "";
  const ruling = state.last_ruling;
  const winner = ruling?.winner?.team;
  $("#winner").textContent = winner ? `First: ${names.get(winner) ?? winner}` : "";
  const gap = winnerGap(ruling);
  if (winner && gap !== null) $("#winner").textContent += ` (${formatGap(gap)} ahead)`;
  const tooClose = Boolean(ruling?.too_close) && !winner;  // the tie rule left it to the host
  show("#too-close", Boolean(ruling?.too_close));
  // Too close to call: the host decides between the presses inside the uncertainty.
  show("#decide", tooClose);
  fill(
    $("#decide"),
    tooClose
      ? (ruling.order ?? [])
          .filter((press) => press.team)
          .map((press) =>
            el("button", { type: "button", onclick: () => command({ cmd: "decide", team: press.team }) },
              `Decide: ${names.get(press.team) ?? press.team}`),
          )
      : [],
  );
  fill(
    $("#order"),
    rulingRows(ruling, names).map((row) =>
      el("li", { dataset: { team: row.team ?? "" } }, `${row.name} `, el("span", { class: "muted" }, row.gap)),
    ),
  );
  renderScores($("#scores"), ui.scores);
}

boot();
