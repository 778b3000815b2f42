// Quiz editor: list, create, rename and delete quizzes; add, edit, reorder and delete questions of every type; import
// (Quizhub JSON, CSV, Open Trivia DB JSON) and export (JSON, CSV). Every change is a REST call with the session's CSRF
// token, and a refusal is shown next to the field its path names (the server's 422 `errors` list).
import { $, api, ApiError, el, fill, show, startHostSession } from "/static/common.js";
import { initI18n, languageSwitcher, t } from "/static/i18n.js";

const ui = {
  csrf: null,
  quizzes: [],
  quiz: null, // the open quiz with its rounds and questions (GET /api/quizzes/{id})
  editing: null, // the question being edited, or null for a new one
  deleting: null, // the question id (or "quiz") whose Delete waits for a second click
};

// Literal keys (not built from the value), so the catalog test sees every one of them.
const TYPE_KEYS = {
  buzzer: "short_buzzer",
  multiple_choice: "short_multiple_choice",
  true_false: "short_true_false",
  numeric: "short_numeric",
  open_text: "short_open_text",
};
const MIN_CHOICES = 2;
const MAX_CHOICES = 10; // hub.db.schemas.MAX_CHOICES
const DEFAULT_POINTS = 10; // what imports give a question without points
const MS = 1000;

async function boot() {
  await initI18n("editor");
  $("#lang-slot").append(languageSwitcher());
  const session = await startHostSession();
  if (!session) return;
  ui.csrf = session.csrf;
  show("#editor", true);
  await loadList();
  const wanted = Number(new URLSearchParams(location.search).get("quiz"));
  if (wanted) await openQuiz(wanted);
}

// Question changes run one after another, each on the list the one before left (a fast second click must not
// write back a question as the list showed it before the first change landed).
let queue = Promise.resolve();
function serial(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => {});
  return run;
}

function call(method, path, body) {
  return api(method, path, body, { csrf: ui.csrf });
}

// ---------------------------------------------------------------------------------------------- errors by field

/** The refusal's problems as {field, message}: the new `errors` list, FastAPI's raw list, or one sentence. */
function problems(err) {
  const body = err instanceof ApiError ? err.body : null;
  if (Array.isArray(body?.errors)) return body.errors.map((p) => ({ field: p.field ?? "", message: p.message }));
  if (Array.isArray(body?.detail)) {
    return body.detail.map((d) => ({ field: (d.loc ?? []).slice(1).join("."), message: d.msg }));
  }
  return [{ field: "", message: err.message }];
}

/** "choices[1]" → "choices", "questions[0].text" → "text": the form's slot for that field. */
function slotName(field) {
  const last = field.split(".").pop() ?? "";
  return last.replace(/\[\d+\]$/, "");
}

/** A whole-question refusal has no field path; its sentence says which field it is about. */
function guessSlot(message) {
  const text = message.toLowerCase();
  if (/needs .*choices|no choices/.test(text)) return "choices";
  if (text.includes("answer")) return "answer";
  if (text.includes("round")) return "round_title";
  return "";
}

function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/** Put each problem next to its field (or in `general`), mark the field invalid and focus the first one. */
function showErrors(form, err, general) {
  clearErrors(form);
  general.textContent = "";
  let first = null;
  for (const problem of problems(err)) {
    const name = slotName(problem.field) || guessSlot(problem.message);
    const slot = name ? form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`) : null;
    if (!slot) {
      general.textContent = [general.textContent, problem.message].filter(Boolean).join(" ");
      continue;
    }
    slot.textContent = [slot.textContent, problem.message].filter(Boolean).join(" ");
    const input = fieldInput(slot);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first ??= input;
    }
  }
  first?.focus();
}

/** The input an error slot belongs to: in the nearest shown element before it (the answer's slot follows the
 * inputs of every type, and only the current type's are shown). */
function fieldInput(slot) {
  for (let node = slot.previousElementSibling; node; node = node.previousElementSibling) {
    if (node.classList.contains("hidden")) continue;
    const input = node.matches("input, textarea, select")
      ? node
      : (node.querySelector("input:not([type=radio]), textarea, select") ?? node.querySelector("input"));
    if (input) return input;
  }
  return slot.parentElement.querySelector("input, textarea, select");
}

// ---------------------------------------------------------------------------------------------- quiz list

async function loadList() {
  $("#list-error").textContent = "";
  try {
    ui.quizzes = await call("GET", "/api/quizzes");
  } catch (err) {
    $("#list-error").textContent = err.message;
    return;
  }
  renderList();
}

function renderList() {
  const items = ui.quizzes.map((quiz) =>
    el(
      "li",
      { dataset: { quiz: quiz.id } },
      el(
        "button",
        {
          type: "button",
          class: "quiz-pick",
          "aria-current": ui.quiz?.id === quiz.id ? "true" : null,
          onclick: () => openQuiz(quiz.id),
        },
        quiz.title,
      ),
    ),
  );
  fill($("#quiz-list"), items.length ? items : el("li", { class: "muted" }, t("no_quizzes")));
}

$("#new-quiz-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  try {
    const quiz = await call("POST", "/api/quizzes", { title: $("#new-quiz-title").value.trim() });
    $("#new-quiz-title").value = "";
    await loadList();
    await openQuiz(quiz.id);
    $("#quiz-title").focus();
  } catch (err) {
    showErrors(form, err, $("#list-error"));
  }
});

// ---------------------------------------------------------------------------------------------- one quiz

async function openQuiz(id) {
  $("#quiz-error").textContent = "";
  try {
    ui.quiz = await call("GET", `/api/quizzes/${id}`);
  } catch (err) {
    $("#list-error").textContent = err.message;
    return;
  }
  ui.deleting = null;
  closeQuestion();
  const url = new URL(location.href);
  url.searchParams.set("quiz", String(id));
  history.replaceState(null, "", url.toString());
  renderQuiz();
  renderList();
}

function renderQuiz() {
  const quiz = ui.quiz;
  $("#no-quiz").classList.toggle("hidden", quiz !== null);
  $("#quiz").classList.toggle("hidden", quiz === null);
  $("#questions-panel").classList.toggle("hidden", quiz === null);
  if (!quiz) return;
  clearErrors($("#quiz-form"));
  $("#quiz-done").textContent = "";
  $("#quiz-title").value = quiz.title;
  $("#quiz-description").value = quiz.description ?? "";
  $("#export-json").href = `/api/quizzes/${quiz.id}/export`;
  $("#export-json").download = `quiz-${quiz.id}.json`;
  $("#export-csv").href = `/api/quizzes/${quiz.id}/export.csv`;
  $("#export-csv").download = `quiz-${quiz.id}.csv`;
  $("#delete-quiz").textContent = t("delete_quiz");
  renderQuestions();
}

$("#quiz-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  $("#quiz-done").textContent = "";
  const changes = { title: $("#quiz-title").value.trim(), description: $("#quiz-description").value };
  try {
    const quiz = await call("PATCH", `/api/quizzes/${ui.quiz.id}`, changes);
    ui.quiz = quiz;
    ui.quizzes = ui.quizzes.map((q) => (q.id === quiz.id ? { ...q, title: quiz.title } : q));
    renderList();
    renderQuestions();
    $("#quiz-error").textContent = "";
    $("#quiz-done").textContent = t("quiz_saved");
  } catch (err) {
    showErrors(form, err, $("#quiz-error"));
  }
});

$("#delete-quiz").addEventListener("click", async () => {
  const button = $("#delete-quiz");
  if (ui.deleting !== "quiz") {
    ui.deleting = "quiz";
    button.textContent = t("confirm_delete_quiz");
    return;
  }
  ui.deleting = null;
  button.textContent = t("delete_quiz");
  try {
    await call("DELETE", `/api/quizzes/${ui.quiz.id}`);
  } catch (err) {
    $("#quiz-error").textContent = err.message;
    return;
  }
  ui.quiz = null;
  closeQuestion();
  const url = new URL(location.href);
  url.searchParams.delete("quiz");
  history.replaceState(null, "", url.toString());
  renderQuiz();
  await loadList();
  $("#new-quiz-title").focus();
});

// ---------------------------------------------------------------------------------------------- question list

function answerText(q) {
  if (q.type === "multiple_choice") return q.choices?.[q.answer] ?? "";
  if (q.type === "true_false") return q.answer ? t("true") : t("false");
  if (q.answer === null || q.answer === undefined) return "";
  return String(q.answer);
}

function roundTitle(q) {
  return ui.quiz.rounds.find((r) => r.id === q.round_id)?.title ?? "";
}

function questionItem(q, index, count) {
  const details = [t(TYPE_KEYS[q.type] ?? "short_buzzer"), t("points_n", { count: q.points })];
  const round = roundTitle(q);
  if (round) details.push(round);
  const answer = answerText(q);
  const deleting = ui.deleting === q.id;
  return el(
    "li",
    { dataset: { id: q.id, type: q.type } },
    el("span", { class: "q-num", "aria-hidden": "true" }, `${index + 1}.`),
    el(
      "div",
      { class: "q-main" },
      el("p", { class: "q-text" }, q.text),
      q.type === "multiple_choice"
        ? el("ol", { class: "q-choices" }, (q.choices ?? []).map((c, i) => el("li", { class: i === q.answer ? "correct" : null }, c)))
        : null,
      el("p", { class: "muted q-meta" }, details.join(" · ")),
      answer ? el("p", { class: "q-answer" }, t("answer_is", { answer })) : null,
    ),
    el(
      "div",
      { class: "q-actions" },
      el("button", { type: "button", class: "edit", onclick: () => openQuestion(q) }, t("edit")),
      el(
        "button",
        { type: "button", class: "up", disabled: index === 0, "aria-label": t("move_up_label", { n: index + 1 }), onclick: () => serial(() => move(q.id, -1, "up")) },
        "↑",
      ),
      el(
        "button",
        {
          type: "button",
          class: "down",
          disabled: index === count - 1,
          "aria-label": t("move_down_label", { n: index + 1 }),
          onclick: () => serial(() => move(q.id, 1, "down")),
        },
        "↓",
      ),
      el("button", { type: "button", class: "bad delete", onclick: () => serial(() => deleteQuestion(q.id)) }, deleting ? t("confirm_delete") : t("delete")),
    ),
  );
}

function renderQuestions() {
  const questions = ui.quiz.questions;
  $("#question-count").textContent = t("question_count", { count: questions.length });
  fill(
    $("#questions"),
    questions.map((q, i) => questionItem(q, i, questions.length)),
  );
}

async function reloadQuiz() {
  ui.quiz = await call("GET", `/api/quizzes/${ui.quiz.id}`);
  renderQuestions();
}

async function deleteQuestion(id) {
  $("#questions-error").textContent = "";
  if (ui.deleting !== id) {
    ui.deleting = id;
    renderQuestions();
    focusIn(id, "button.delete");
    return;
  }
  ui.deleting = null;
  try {
    await call("DELETE", `/api/quizzes/${ui.quiz.id}/questions/${id}`);
    if (ui.editing?.id === id) closeQuestion();
    await reloadQuiz();
  } catch (err) {
    $("#questions-error").textContent = err.message;
  }
  $("#add-question").focus();
}

function focusIn(id, selector) {
  const button = $("#questions").querySelector(`li[data-id="${id}"] ${selector}`);
  if (button && !button.disabled) button.focus();
  else $("#questions").querySelector(`li[data-id="${id}"] button.edit`)?.focus();
}

// One call puts every question in its new place (PUT …/order); a list made stale by another editor is refused
// (409) and the page shows the server's order again.
async function move(id, step, direction) {
  $("#questions-error").textContent = "";
  const order = ui.quiz.questions.map((q) => q.id);
  const index = order.indexOf(id);
  if (index === -1 || index + step < 0 || index + step >= order.length) return;
  order.splice(index, 1);
  order.splice(index + step, 0, id);
  try {
    ui.quiz = await call("PUT", `/api/quizzes/${ui.quiz.id}/order`, { question_ids: order });
    renderQuestions();
  } catch (err) {
    $("#questions-error").textContent = err.message;
    await reloadQuiz();
  }
  focusIn(id, direction === "up" ? "button.up" : "button.down");
}

// ---------------------------------------------------------------------------------------------- question form

$("#add-question").addEventListener("click", () => openQuestion(null));
function cancelQuestion() {
  const id = ui.editing?.id;
  closeQuestion();
  if (id) focusIn(id, "button.edit");
  else $("#add-question").focus();
}

$("#q-cancel").addEventListener("click", cancelQuestion);
$("#question-form").addEventListener("keydown", (event) => {
  if (event.key === "Escape") cancelQuestion();
});
$("#q-type").addEventListener("change", () => showKind($("#q-type").value));
$("#q-add-choice").addEventListener("click", () => {
  addChoice("", false);
  const inputs = $("#q-choices").querySelectorAll("input.choice-text");
  inputs[inputs.length - 1]?.focus();
});

function closeQuestion() {
  ui.editing = null;
  $("#question-editor").classList.add("hidden");
}

function showKind(kind) {
  for (const node of $("#question-form").querySelectorAll(".kind")) {
    node.classList.toggle("hidden", !node.classList.contains(`kind-${kind}`));
  }
  if (kind === "multiple_choice") {
    while ($("#q-choices").children.length < MIN_CHOICES) addChoice("", $("#q-choices").children.length === 0);
  }
}

function addChoice(text, correct) {
  const list = $("#q-choices");
  if (list.children.length >= MAX_CHOICES) return;
  const row = el(
    "li",
    { class: "choice-row" },
    el("input", { type: "radio", name: "q-correct", class: "choice-correct", checked: correct, "aria-label": t("choice_correct") }),
    el("input", { class: "choice-text", maxlength: 500, value: text, "aria-label": t("choice_text"), autocomplete: "off" }),
    el("button", { type: "button", class: "remove-choice", "aria-label": t("remove_choice"), onclick: () => removeChoice(row) }, "✕"),
  );
  list.append(row);
  $("#q-add-choice").disabled = list.children.length >= MAX_CHOICES;
}

function removeChoice(row) {
  const next = row.nextElementSibling ?? row.previousElementSibling;
  row.remove();
  $("#q-add-choice").disabled = false;
  (next?.querySelector("input.choice-text") ?? $("#q-add-choice")).focus();
}

function seconds(ms) {
  return ms ? String(ms / MS) : "";
}

function openQuestion(q) {
  ui.editing = q;
  const form = $("#question-form");
  clearErrors(form);
  $("#question-error").textContent = "";
  $("#question-heading").textContent = q ? t("edit_question", { n: ui.quiz.questions.findIndex((x) => x.id === q.id) + 1 }) : t("new_question");
  $("#q-type").value = q?.type ?? "buzzer";
  $("#q-text").value = q?.text ?? "";
  fill($("#q-choices"));
  for (const [i, choice] of (q?.type === "multiple_choice" ? q.choices ?? [] : []).entries()) addChoice(choice, i === q.answer);
  $("#q-add-choice").disabled = $("#q-choices").children.length >= MAX_CHOICES;
  $(q?.type === "true_false" && q.answer === false ? "#q-false" : "#q-true").checked = true;
  $("#q-number").value = q?.type === "numeric" ? String(q.answer) : "";
  $("#q-answer-text").value = (q?.type === "buzzer" || q?.type === "open_text") && q.answer ? q.answer : "";
  $("#q-points").value = String(q?.points ?? DEFAULT_POINTS);
  $("#q-penalty").value = String(q?.penalty ?? 0);
  $("#q-buzz-window").value = seconds(q?.buzz_window_ms);
  $("#q-answer-time").value = seconds(q?.answer_time_ms);
  $("#q-media").value = typeof q?.media?.url === "string" ? q.media.url : "";
  $("#q-round").value = q ? roundTitle(q) : "";
  fill($("#q-rounds"), ui.quiz.rounds.map((r) => el("option", { value: r.title })));
  showKind($("#q-type").value);
  $("#question-editor").classList.remove("hidden");
  $("#q-text").focus();
}

/** A number input's value: null when empty; NaN (refused by the server) when it is not a number. */
function numberOf(input) {
  const raw = input.value.trim();
  if (raw === "" && !input.validity.badInput) return null;
  return raw === "" ? Number.NaN : Number(raw);
}

function msOf(input) {
  const value = numberOf(input);
  return value === null ? null : Math.round(value * MS);
}

function answerOf(kind) {
  if (kind === "multiple_choice") {
    const rows = [...$("#q-choices").children];
    const index = rows.findIndex((row) => row.querySelector("input.choice-correct").checked);
    return index === -1 ? null : index;
  }
  if (kind === "true_false") return $("#q-true").checked;
  if (kind === "numeric") return numberOf($("#q-number"));
  return $("#q-answer-text").value.trim() || null;
}

/** The form as a QuestionCreate body; a bad number goes as a string so that the server names the field. */
function questionBody() {
  const kind = $("#q-type").value;
  const body = {
    type: kind,
    text: $("#q-text").value.trim(),
    choices: kind === "multiple_choice" ? [...$("#q-choices").querySelectorAll("input.choice-text")].map((i) => i.value.trim()) : null,
    answer: answerOf(kind),
    points: numberOf($("#q-points")) ?? DEFAULT_POINTS,
    penalty: numberOf($("#q-penalty")) ?? 0,
    buzz_window_ms: msOf($("#q-buzz-window")),
    answer_time_ms: msOf($("#q-answer-time")),
    media: $("#q-media").value.trim() ? { url: $("#q-media").value.trim() } : null,
  };
  const round = $("#q-round").value.trim();
  if (round) body.round_title = round;
  for (const [key, value] of Object.entries(body)) if (Number.isNaN(value)) body[key] = "not a number";
  return body;
}

$("#question-form").addEventListener("submit", (event) => {
  event.preventDefault();
  serial(() => saveQuestion(event.currentTarget));
});

async function saveQuestion(form) {
  const editing = ui.editing;
  const body = questionBody();
  const base = `/api/quizzes/${ui.quiz.id}/questions`;
  let saved;
  try {
    saved = editing ? await call("PUT", `${base}/${editing.id}`, body) : await call("POST", base, body);
  } catch (err) {
    showErrors(form, err, $("#question-error"));
    return;
  }
  closeQuestion();
  await reloadQuiz();
  focusIn(saved.id, "button.edit");
}

// ---------------------------------------------------------------------------------------------- import

/** "json", "csv" or "opentdb", from the picker or else the file's name and contents. */
function formatOf(file, text) {
  const chosen = $("#import-format").value;
  if (chosen !== "auto") return chosen;
  if (/\.csv$/i.test(file.name) || file.type === "text/csv") return "csv";
  try {
    const doc = JSON.parse(text);
    return doc && Array.isArray(doc.results) && "response_code" in doc ? "opentdb" : "json";
  } catch {
    return "json"; // the JSON import says what is wrong with it
  }
}

async function upload(path, form) {
  const response = await fetch(path, {
    method: "POST",
    body: form,
    headers: { Accept: "application/json", "X-CSRF-Token": ui.csrf },
    credentials: "same-origin",
  });
  const doc = await response.json().catch(() => null);
  if (!response.ok) {
    const message = typeof doc?.detail === "string" ? doc.detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, doc);
  }
  return doc;
}

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(0, t("import_not_json", { reason: err.message }));
  }
}

async function importFile(file) {
  const text = await file.text();
  const format = formatOf(file, text);
  const title = $("#import-title").value.trim();
  if (format === "csv") {
    const form = new FormData();
    form.append("file", file);
    if (title) form.append("title", title);
    return upload("/api/quizzes/import/csv", form);
  }
  if (format === "opentdb") {
    const query = title ? `?title=${encodeURIComponent(title)}` : "";
    return call("POST", `/api/quizzes/import/opentdb${query}`, parsed(text));
  }
  return call("POST", "/api/quizzes/import", parsed(text));
}

$("#import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#import-error").textContent = "";
  $("#import-done").textContent = "";
  const file = $("#import-file").files[0];
  if (!file) {
    $("#import-error").textContent = t("import_pick_file");
    $("#import-file").focus();
    return;
  }
  let quiz;
  try {
    quiz = await importFile(file);
  } catch (err) {
    $("#import-error").textContent = problems(err)
      .map((p) => p.message)
      .join(" ");
    return;
  }
  $("#import-form").reset();
  $("#import-done").textContent = t("imported", { title: quiz.title, count: quiz.questions.length });
  await loadList();
  await openQuiz(quiz.id);
});

boot();
