// Translations for the Quizhub pages (English, Italian, Russian). Each page has its own catalog per language in
// /static/locales/<page>.<lang>.json beside a shared common.<lang>.json, so the pages stay independent.
//
// In HTML: data-i18n="key" sets the text; data-i18n-placeholder / -title / -aria-label set those attributes.
// In JS: t("key", {name}) returns the string with {name} filled in as plain text (the callers put it into the page as
// text, never as HTML). A value may be a plural object {"one": "...", "few": "...", "many": "...", "other": "..."}
// chosen by Intl.PluralRules with params.count.

export const LANGS = { en: "English", it: "Italiano", ru: "Русский" };
const STORAGE_KEY = "quizhub.lang";

let lang = "en";
let catalog = {};
let fallback = {};

/** The language: ?lang=xx, then the saved choice, then the browser's languages, then English. */
export function pickLanguage() {
  const wanted = [new URLSearchParams(location.search).get("lang"), safeStorage()?.getItem(STORAGE_KEY)];
  for (const tag of navigator.languages ?? [navigator.language]) wanted.push(tag);
  for (const tag of wanted) {
    const base = String(tag ?? "").toLowerCase().split("-")[0];
    if (base in LANGS) return base;
  }
  return "en";
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage can be disabled (private mode, strict settings): fall back to the browser language
  }
}

async function load(name) {
  try {
    const response = await fetch(`/static/locales/${name}.json`, { credentials: "same-origin" });
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}

/** Load the catalogs for `page` and translate the document. Call once before building the page. */
export async function initI18n(page, root = document) {
  lang = pickLanguage();
  const [common, own, commonEn, ownEn] = await Promise.all([
    load(`common.${lang}`),
    load(`${page}.${lang}`),
    lang === "en" ? {} : load("common.en"),
    lang === "en" ? {} : load(`${page}.en`),
  ]);
  catalog = { ...common, ...own };
  fallback = { ...commonEn, ...ownEn };
  document.documentElement.lang = lang;
  applyI18n(root);
  return lang;
}

export function currentLanguage() {
  return lang;
}

/** Translate `key`; {name} placeholders are filled from params. Unknown keys show the key (visible in tests). */
export function t(key, params = {}) {
  let value = key in catalog ? catalog[key] : fallback[key];
  if (value === undefined) return key;
  if (typeof value === "object" && value !== null) {
    const form = new Intl.PluralRules(lang).select(Number(params.count ?? 0));
    value = value[form] ?? value.other ?? key;
  }
  return String(value).replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

const ATTRS = ["placeholder", "title", "aria-label"];

/** Translate every element under root that carries data-i18n or data-i18n-<attr>. */
export function applyI18n(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const attr of ATTRS) {
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      node.setAttribute(attr, t(node.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

/** A <select> that switches the language; the choice is saved and the page reloads in it. */
export function languageSwitcher() {
  const select = document.createElement("select");
  select.className = "lang";
  select.setAttribute("aria-label", t("language"));
  for (const [code, name] of Object.entries(LANGS)) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name;
    option.selected = code === lang;
    select.append(option);
  }
  select.addEventListener("change", () => {
    safeStorage()?.setItem(STORAGE_KEY, select.value);
    const url = new URL(location.href);
    url.searchParams.delete("lang");
    location.replace(url.toString());
  });
  return select;
}

/** Numbers in the page's language (scores, ms). */
export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(lang, options).format(value);
}
