// A buzzer's health as table cells, for the host console and the devices page: online, battery, signal and the
// clock's sync error (the uncertainty the arbiter adds to its presses). `t` is the page's translate function, so
// each page keeps the words in its own catalog (keys: yes, no).
import { el } from "/static/common.js";

const number = (value, digits) => new Intl.NumberFormat(document.documentElement.lang || "en", {
  maximumFractionDigits: digits,
}).format(value);

/** [online, battery, signal, sync error] cells for `device` (a row of GET /api/devices). */
export function healthCells(device, t) {
  const uncertainty = device.clock_uncertainty_us;
  return [
    el("td", { class: device.online ? "online" : "offline" }, device.online ? t("yes") : t("no")),
    el("td", {}, device.battery_mv ? `${number(device.battery_mv / 1000, 2)} V` : "–"),
    el("td", {}, device.rssi ? `${device.rssi} dBm` : "–"),
    el("td", {}, uncertainty === null || uncertainty === undefined ? "–" : `±${number(uncertainty / 1000, 1)} ms`),
  ];
}

/** Give each cell of `row` (already in its table) its column's heading, which a phone shows beside the value. */
export function labelCells(row) {
  const heads = row.closest("table")?.querySelectorAll("thead th") ?? [];
  [...row.children].forEach((cell, i) => {
    if (heads[i] && cell.colSpan === 1) cell.dataset.label = heads[i].textContent;
  });
}
