// Team page: join by code with a team name (the team token stays in localStorage, so a reload or a dropped
// connection keeps the team), then one big buzz button (space bar too) with armed/locked/won states.
import { $, api, ApiError, GameSocket, renderScores, teamNames } from "/static/common.js";

const TOKEN_KEY = "quizhub.team";
const me = { token: null, team: null, game: null, socket: null, state: null, question: null, scores: null, pressed: false };

function show(id, visible) {
  $(id).classList.toggle("hidden", !visible);
}

function setConn(status, detail) {
  const node = $("#conn");
  node.className = `status ${status}`;
  node.textContent = status;
  if (status === "refused") {
    forget(detail ?? "This team can no longer play; join again.");
  }
  render();
}

function forget(message) {
  localStorage.removeItem(TOKEN_KEY);
  if (me.socket) me.socket.stop();
  Object.assign(me, { token: null, team: null, game: null, socket: null, state: null, question: null, scores: null });
  showJoin(message);
}

function showJoin(message = "") {
  show("#team", false);
  show("#join", true);
  $("#join-error").textContent = message;
  const code = new URLSearchParams(location.search).get("code");
  if (code && !$("#join-code").value) $("#join-code").value = code;
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
    play(token, doc.team, doc.game);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
      forget("Your team is no longer in a game; join again.");
    } else {
      showJoin(`Could not reach the server (${err.message}); reload to try again.`);
    }
  }
}

$("#join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#join-error").textContent = "";
  try {
    const doc = await api("POST", "/api/join", { code: $("#join-code").value.trim(), name: $("#join-name").value });
    localStorage.setItem(TOKEN_KEY, doc.token);
    play(doc.token, doc.team, null);
  } catch (err) {
    $("#join-error").textContent = err.message;
  }
});

$("#leave").addEventListener("click", () => forget(""));

function play(token, team, game) {
  Object.assign(me, { token, team, game });
  show("#join", false);
  show("#team", true);
  $("#team-name").textContent = team.name;
  me.socket = new GameSocket({ bearer: token, onFrame, onStatus: setConn }).start();
  render();
}

function onFrame(frame) {
  switch (frame.type) {
    case "sync": {
      // The hub's clock ping: answer at once with when it arrived and when we answer (performance.now(), ms).
      const t2 = performance.now();
      me.socket.send({ type: "sync_reply", n: frame.n, t2, t3: performance.now() });
      return;
    }
    case "state":
      if (frame.data?.phase !== me.state?.phase || frame.data?.question !== me.state?.question) {
        if (frame.data?.phase === "armed" || frame.data?.phase === "question") me.pressed = false;
      }
      me.state = frame.data;
      break;
    case "question":
      me.question = frame.data;
      break;
    case "scores":
      me.scores = frame.data;
      break;
    case "error":
      $("#message").textContent = frame.message;
      return;
    default:
      return;
  }
  render();
}

function buzzState() {
  const state = me.state ?? {};
  const teamId = me.team?.id;
  const ruling = state.last_ruling;
  const winner = ruling?.winner?.team;
  if (winner && ["buzzed", "judged", "revealed"].includes(state.phase)) {
    if (winner === teamId) return ["won", "You're first!"];
    return ["lost", `${teamNames(me.scores).get(winner) ?? "Another team"} was first`];
  }
  if ((state.locked_out ?? []).includes(teamId)) return ["locked", "Locked"];
  if (state.phase === "armed") return me.pressed ? ["pressed", "Buzzed…"] : ["armed", "BUZZ!"];
  return ["wait", "Wait"];
}

function render() {
  if (!me.team) return;
  const [kind, label] = buzzState();
  const button = $("#buzz");
  button.className = kind;
  button.dataset.state = kind;
  button.textContent = label;
  button.disabled = kind !== "armed" || $("#conn").classList.contains("offline");
  $("#question").textContent = me.question?.text ?? "";
  const row = (me.scores?.teams ?? []).find((r) => r.team === me.team.id);
  $("#score").textContent = row ? row.score : 0;
  $("#rank").textContent = row ? row.rank : "–";
  renderScores($("#scores"), me.scores, me.team.id);
}

function buzz(at) {
  const [kind] = buzzState();
  if (kind !== "armed" || !me.socket) return;
  if (me.socket.send({ type: "buzz", t: at })) {
    me.pressed = true;
    $("#message").textContent = "";
    render();
  }
}

// The press time is the input event's own timestamp (same clock as performance.now()), not when the handler runs.
$("#buzz").addEventListener("pointerdown", (event) => buzz(event.timeStamp));
document.addEventListener("keydown", (event) => {
  if (event.code !== "Space" || event.repeat || !me.team) return;
  if (event.target instanceof HTMLInputElement) return;
  event.preventDefault();
  buzz(event.timeStamp);
});

boot();
