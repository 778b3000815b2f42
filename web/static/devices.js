// Devices page: the buzzers the hub has seen, with their health. Unpaired ones appear as they connect; "Identify"
// blinks one; a buzzer is paired to a team of the chosen game with a team picker, or by press-to-pair: the host
// picks a team, and the next press of an unpaired buzzer (the hub's buzz_unpaired event on /ws) pairs that buzzer.
// The list is read once each time the socket connects (GET /api/devices); after that the socket, subscribed with
// "devices": true, pushes each buzzer's status (online, offline, battery, signal) as a `device` frame.
import { $, api, el, fill, GameSocket, setConn, show } from "/static/common.js";
import { initI18n, languageSwitcher, t } from "/static/i18n.js";
import { requireHost } from "/static/session.js";
import { healthCells, labelCells } from "/static/devicehealth.js";

// Only while the socket is down (or there is no game to subscribe to) is the list re-read, this often.
const FALLBACK_POLL_MS = 30000;
// What the hub measures (clock sync error, last seen) it writes to the database every few seconds and pushes to
// no socket: while the page is live and in view, the list is re-read this often for those columns, and only when
// some buzzer is online. Presence and what buzzers report themselves (battery, signal) are pushed at once.
const HEALTH_REFRESH_MS = 5000;
const PRESS_FLASH_MS = 1500;

const page = {
  csrf: null,
  game: null,
  teams: [],
  devices: [],
  pending: null, // {team, name}: the team the next unpaired press is paired to
  socket: null,
  fallback: null, // the slow re-read's timer while the socket is not live
  health: null, // the measurements' re-read timer while the socket is live
  generation: 0, // the newest list read: an older answer that arrives late is dropped
  pushed: null, // while a list read is in flight: the device frames that arrived meanwhile (applied on top)
  rowErrors: new Map(), // device -> the last refusal, shown next to that buzzer
  choices: new Map(), // device -> the team picked in its row (kept across refreshes)
};

async function boot() {
  await initI18n("devices");
  $("#lang-slot").append(languageSwitcher());
  try {
    page.csrf = (await requireHost()).csrf;
    await loadGames();
  } catch (err) {
    $("#boot-error").textContent = err.message;
    return;
  }
  if (!page.socket) {
    // No game to subscribe to, so no socket: the list as it is now, then the slow re-read.
    startFallback();
  }
}

async function loadGames() {
  const games = (await api("GET", "/api/games")).filter((game) => game.status !== "finished");
  const wanted = new URLSearchParams(location.search).get("game");
  const chosen = games.find((game) => game.id === wanted) ?? games[0];
  fill(
    $("#game-select"),
    games.map((game) =>
      el("option", { value: game.id, selected: game === chosen }, t("game_option", { id: game.id, code: game.join_code })),
    ),
  );
  if (!chosen) {
    $("#game-error").textContent = t("no_game");
    return;
  }
  await selectGame(chosen.id);
}

$("#game-select").addEventListener("change", () => selectGame($("#game-select").value));

async function selectGame(gameId) {
  if (page.socket) page.socket.stop();
  Object.assign(page, { game: gameId, pending: null, socket: null });
  history.replaceState(null, "", `/devices?game=${encodeURIComponent(gameId)}`);
  $("#nav-games").href = `/?game=${encodeURIComponent(gameId)}`;
  renderPending();
  await loadTeams();
  page.socket = new GameSocket({ game: gameId, onFrame, onStatus, extra: { devices: true } }).start();
  render();
}

function onStatus(status, detail) {
  setConn(status, detail);
  if (status === "live") {
    stopFallback();
    refresh(); // (re)connected: the whole list once; from now on changes are pushed
    page.health ??= setInterval(refreshMeasurements, HEALTH_REFRESH_MS);
  } else {
    clearInterval(page.health);
    page.health = null;
    startFallback();
  }
}

function refreshMeasurements() {
  if (document.visibilityState === "visible" && page.devices.some((device) => device.online)) refresh();
}

function startFallback() {
  if (page.fallback) return;
  page.fallback = setInterval(refresh, FALLBACK_POLL_MS);
  refresh(); // the list as it is now: the socket may stay down (refused, hub away) for much longer than a read
}

function stopFallback() {
  clearInterval(page.fallback);
  page.fallback = null;
}

async function loadTeams() {
  $("#game-error").textContent = "";
  try {
    const detail = await api("GET", `/api/games/${encodeURIComponent(page.game)}`);
    page.teams = detail.teams.map((team) => ({ id: team.id, name: team.name }));
  } catch (err) {
    $("#game-error").textContent = err.message;
  }
  renderPressTeams();
}

async function refresh() {
  const generation = ++page.generation;
  page.pushed ??= [];
  setBusy(true);
  let devices = null;
  let error = "";
  try {
    devices = await api("GET", "/api/devices");
  } catch (err) {
    error = err.message;
  }
  if (generation !== page.generation) return; // a newer read is on its way
  if (devices) {
    // The hub writes a status to the database after the socket brought it here: what arrived meanwhile is newer.
    page.devices = devices;
    for (const frame of page.pushed) applyStatus(frame);
  }
  page.pushed = null;
  $("#devices-error").textContent = error;
  setBusy(false);
  render();
}

function setBusy(busy) {
  for (const tbody of [$("#unpaired"), $("#paired")]) tbody.setAttribute("aria-busy", String(busy));
}

/** A pushed status ({type: "device", id, data: {state, fw?, rssi?, battery_mv?, boot?}}) applied to the list. */
function applyStatus({ id, data }) {
  let device = page.devices.find((candidate) => candidate.id === id);
  if (!device) {
    // New since the list was read, so in no game yet: it joins the unpaired ones.
    device = { id, name: null, game_id: null, team_id: null, paired: false, online: false, fw: null, rssi: null,
      battery_mv: null, boot: null, clock_uncertainty_us: null, one_way_us: null, first_seen_at: null,
      last_seen_at: null };
    page.devices.push(device);
  }
  device.online = data.state === "online";
  if (data.boot !== undefined && data.boot !== device.boot) device.clock_uncertainty_us = null; // a new clock
  for (const key of ["fw", "rssi", "battery_mv", "boot"]) {
    if (data[key] !== undefined) device[key] = data[key];
  }
}

// ---------------------------------------------------------------------------------------------- live

function onFrame(frame) {
  if (frame.type === "device") {
    page.pushed?.push(frame);
    applyStatus(frame);
    render();
    return;
  }
  if (frame.type !== "event") return;
  const event = frame.data;
  if (event.type === "buzz_unpaired") onUnpairedPress(event.data.device);
  else if (event.type.startsWith("team_")) loadTeams();
  else if (event.type.startsWith("device_")) refresh();
}

async function onUnpairedPress(device) {
  flash(device);
  if (!page.pending) return;
  const { team, name } = page.pending;
  page.pending = null;
  renderPending();
  const ok = await pair(device, team);
  $("#press-status").textContent = ok
    ? t("press_done", { device, team: name })
    : t("press_failed", { device, reason: page.rowErrors.get(device) ?? "" });
}

function flash(device) {
  const row = document.querySelector(`#unpaired tr[data-device="${CSS.escape(device)}"]`);
  if (!row) return;
  row.classList.add("pressed");
  setTimeout(() => row.classList.remove("pressed"), PRESS_FLASH_MS);
}

// ---------------------------------------------------------------------------------------------- actions

async function act(device, doIt) {
  page.rowErrors.delete(device);
  try {
    await doIt();
    return true;
  } catch (err) {
    page.rowErrors.set(device, err.message);
    return false;
  } finally {
    await refresh();
  }
}

function pair(device, team) {
  const path = `/api/devices/${encodeURIComponent(device)}/pair`;
  return act(device, () => api("POST", path, { team_id: team }, { csrf: page.csrf }));
}

function unpair(device) {
  return act(device, () => api("POST", `/api/devices/${encodeURIComponent(device)}/unpair`, undefined, { csrf: page.csrf }));
}

function identify(device) {
  const path = `/api/devices/${encodeURIComponent(device)}/identify`;
  return act(device, () => api("POST", path, { game_id: page.game }, { csrf: page.csrf }));
}

function startPressToPair(team) {
  page.pending = team;
  renderPending();
  $("#press-cancel").focus();
}

$("#press-cancel").addEventListener("click", () => {
  page.pending = null;
  renderPending();
});

// ---------------------------------------------------------------------------------------------- rendering

function renderPending() {
  $("#press-status").textContent = page.pending ? t("press_waiting", { team: page.pending.name }) : "";
  show("#press-cancel", Boolean(page.pending));
  for (const button of document.querySelectorAll("#press-teams button")) {
    button.setAttribute("aria-pressed", String(button.dataset.team === page.pending?.team));
  }
}

function renderPressTeams() {
  fill(
    $("#press-teams"),
    page.teams.length === 0 ? el("li", { class: "muted" }, t("no_teams")) : null,
    page.teams.map((team) =>
      el(
        "li",
        { dataset: { team: team.id } },
        el("span", { class: "name" }, team.name),
        el(
          "button",
          { type: "button", dataset: { team: team.id }, onclick: () => startPressToPair({ team: team.id, name: team.name }) },
          t("press_button"),
        ),
      ),
    ),
  );
  renderPending();
  render();
}

function isHardware(device) {
  return !device.id.startsWith("web-"); // a team's phone is its own virtual buzzer, paired by the page itself
}

function render() {
  const unpaired = page.devices.filter((d) => isHardware(d) && !d.game_id);
  const paired = page.devices.filter((d) => isHardware(d) && d.game_id && d.game_id === page.game);
  syncRows($("#unpaired"), unpaired, unpairedRow, 6, t("no_unpaired"));
  syncRows($("#paired"), paired, pairedRow, 7, t("no_paired"));
}

/** Keep one row per device, rebuilt in place, so a refresh keeps the row's team choice and the keyboard focus. */
function syncRows(tbody, devices, build, columns, emptyText) {
  const wanted = new Set(devices.map((d) => d.id));
  for (const row of [...tbody.children]) {
    if (!wanted.has(row.dataset.device)) row.remove();
  }
  for (const device of devices) {
    let row = tbody.querySelector(`tr[data-device="${CSS.escape(device.id)}"]`);
    if (!row) {
      row = el("tr", { dataset: { device: device.id } });
      tbody.append(row);
    }
    build(row, device);
    labelCells(row);
  }
  if (devices.length === 0) fill(tbody, el("tr", { dataset: { device: "" } }, el("td", { colspan: columns, class: "muted" }, emptyText)));
}

function nameCell(device) {
  return el("td", { class: "mono" }, device.name ? `${device.name} (${device.id})` : device.id);
}

function rowError(device) {
  return el("p", { class: "error row-error", role: "alert" }, page.rowErrors.get(device.id) ?? "");
}

/** Refresh the status cells; build the action cell only once (it holds the picker and maybe the focus). */
function keepActions(row, cells, buildActions) {
  const version = page.teams.map((team) => `${team.id}:${team.name}`).join("|"); // the pickers list the teams
  let actions = row.querySelector("td.actions");
  if (!actions || actions.dataset.version !== version) {
    actions?.remove();
    actions = el("td", { class: "actions", dataset: { version } }, buildActions());
  }
  const error = actions.querySelector(".row-error");
  error.textContent = page.rowErrors.get(row.dataset.device) ?? "";
  for (const node of [...row.children]) if (node !== actions) node.remove();
  row.prepend(...cells);
  row.append(actions);
}

function unpairedRow(row, device) {
  keepActions(row, [nameCell(device), ...healthCells(device, t)], () => {
    const picker = el(
      "select",
      { "aria-label": t("pair_to"), class: "team-pick", onchange: (e) => page.choices.set(device.id, e.target.value) },
      el("option", { value: "" }, t("pick_team")),
      page.teams.map((team) => el("option", { value: team.id, selected: page.choices.get(device.id) === team.id }, team.name)),
    );
    return [
      el("button", { type: "button", class: "identify", onclick: () => identify(device.id) }, t("identify")),
      " ",
      picker,
      " ",
      el("button", { type: "button", class: "pair", onclick: () => pairPicked(device.id, picker.value) }, t("pair")),
      rowError(device),
    ];
  });
}

function pairPicked(device, team) {
  if (!team) {
    page.rowErrors.set(device, t("pick_team_first"));
    render();
    return;
  }
  pair(device, team);
}

function pairedRow(row, device) {
  const team = page.teams.find((candidate) => candidate.id === device.team_id);
  const cells = [nameCell(device), el("td", { class: "team" }, team?.name ?? device.team_id ?? "–"), ...healthCells(device, t)];
  keepActions(row, cells, () => [
    el("button", { type: "button", class: "identify", onclick: () => identify(device.id) }, t("identify")),
    " ",
    el("button", { type: "button", class: "unpair", onclick: () => unpair(device.id) }, t("unpair")),
    rowError(device),
  ]);
}

boot();
