// Big screen: question, the winner with the gap to the next press, the answer once revealed, the scoreboard.
// Opens with a display token in the fragment (/screen#token=qhd_…, kept for this tab only), or as a signed-in host
// previewing a game (/screen?game=<id>).
import { $, api, GameSocket, formatGap, renderScores, teamNames, winnerGap } from "/static/common.js";

const PHASES = {
  lobby: "Waiting for the quiz to start",
  question: "Get ready…",
  armed: "Buzzers are live!",
  buzzed: "We have a buzz",
  judged: "",
  revealed: "The answer",
  paused: "Paused",
  finished: "Final scores",
};

const view = { state: null, question: null, scores: null };

function tokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem("quizhub.display", token);
    history.replaceState(null, "", location.pathname + location.search);  // the token leaves the address bar
  }
  return sessionStorage.getItem("quizhub.display");
}

function setConn(status, detail) {
  const node = $("#conn");
  node.className = `status ${status}`;
  node.textContent = status;
  if (status === "refused") $("#error").textContent = detail ?? "This screen may not show that game.";
}

function render() {
  const state = view.state ?? {};
  const names = teamNames(view.scores);
  $("#phase").textContent = PHASES[state.phase] ?? "";
  $("#question").textContent = view.question?.text ?? "";
  const ruling = state.last_ruling;
  const winner = ruling?.winner?.team;
  $("#winner").textContent = winner ? names.get(winner) ?? winner : "";
  const gap = winnerGap(ruling);
  let gapText = "";
  if (ruling?.too_close) gapText = "Too close to call: the quizmaster decides";
  else if (winner && gap !== null) {
    const second = ruling.order[1];
    gapText = `${formatGap(gap)} ahead of ${names.get(second.team) ?? second.team ?? second.device}`;
  } else if (winner) gapText = "first to buzz";
  $("#gap").textContent = gapText;
  $("#answer").textContent = state.reveal ? `Answer: ${state.reveal.answer}` : "";
  renderScores($("#scores"), view.scores);
}

async function showCode(game, bearer) {
  try {
    const detail = await api("GET", `/api/games/${encodeURIComponent(game)}`, undefined, { bearer });
    $("#code").textContent = `Join with code ${detail.game.join_code}`;
  } catch {
    $("#code").textContent = "";
  }
}

function start() {
  const bearer = tokenFromFragment();
  const game = new URLSearchParams(location.search).get("game");
  if (!bearer && !game) {
    $("#error").textContent = "Open this page from the host console, or with a display link (/screen#token=…).";
    return;
  }
  new GameSocket({
    game,
    bearer,
    onStatus: setConn,
    onFrame(frame) {
      if (frame.type === "hello") showCode(frame.game, bearer);
      else if (frame.type === "state") view.state = frame.data;
      else if (frame.type === "question") view.question = frame.data;
      else if (frame.type === "scores") view.scores = frame.data;
      else return;
      render();
    },
  }).start();
}

start();
