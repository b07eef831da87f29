// Crucible playground: the page's only script, hand-written, no libraries. It talks to the
// server this page came from: GET /v1/crucible/info and /v1/models, POST /v1/crucible/solve
// (an event stream of the run) and POST /v1/chat/completions (OpenAI streaming chunks).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "crucible-api-key";

// ---------------------------------------------------------------- the API key and requests

let apiKey = sessionStorage.getItem(KEY_STORE) || "";
let keyWanted = null; // resolves when the user gives a key after a 401

function headers() {
  const h = { "Content-Type": "application/json" };
  if (apiKey) h.Authorization = "Bearer " + apiKey;
  return h;
}

function askForKey() {
  if (!keyWanted) {
    keyWanted = new Promise((resolve) => {
      const dialog = $("key-dialog");
      $("api-key").value = apiKey;
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        apiKey = $("api-key").value.trim();
        sessionStorage.setItem(KEY_STORE, apiKey);
        keyWanted = null;
        resolve();
      });
      dialog.showModal();
    });
  }
  return keyWanted;
}

// fetch with the key; a 401 asks for the key once and tries again.
async function call(path, options) {
  for (let tries = 0; ; tries++) {
    const response = await fetch(path, { ...options, headers: headers() });
    if (response.status !== 401 || tries > 0) return response;
    await askForKey();
  }
}

// The message of an OpenAI-shaped error answer, or the status line.
async function errorOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body.error && body.error.message) return `${response.status}: ${body.error.message}`;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}${text ? ": " + text.slice(0, 300) : ""}`;
}

function showStatus(message) {
  const status = $("status");
  status.textContent = message || "";
  status.hidden = !message;
}

// Calls `onEvent(name, data)` for each event of a text/event-stream response body.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

// ---------------------------------------------------------------- highlighting

const KEYWORDS = {
  python: "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case self print len range int str list dict set tuple input",
  c: "auto break case char const continue default do double else enum extern float for goto if inline int long register return short signed sizeof static struct switch typedef union unsigned void volatile while include define bool true false NULL",
  cpp: "auto break case char class const constexpr continue default delete do double else enum explicit extern false float for friend goto if inline int long namespace new nullptr operator private protected public return short signed sizeof static struct switch template this throw true try typedef typename union unsigned using virtual void while include define std vector string cout cin endl",
  rust: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err Vec String Option Result Box usize isize u8 u32 u64 i32 i64 f64 bool str char",
  java: "abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long native new null package private protected public return short static super switch synchronized this throw throws true false try void volatile while var String System",
  javascript: "async await break case catch class const continue debugger default delete do else export extends false finally for function if import in instanceof let new null of return super switch this throw true try typeof undefined var void while with yield console require",
  go: "break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false int int64 string bool byte rune float64 error make len append fmt",
};

// Comment syntax per language.
function commentPattern(language) {
  if (language === "python") return "#[^\\n]*";
  return "\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/";
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// HTML of `code` with comments, strings, numbers, keywords and called names wrapped in spans.
function highlight(code, language) {
  const words = new Set((KEYWORDS[language] || KEYWORDS.python).split(" "));
  const strings = language === "python"
    ? "\"\"\"[\\s\\S]*?\"\"\"|'''[\\s\\S]*?'''|\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\\\n])*'"
    : "\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\\\n])*'|`(?:\\\\.|[^`\\\\])*`";
  const token = new RegExp(
    `(${commentPattern(language)})|(${strings})|(\\b\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?\\b)|([A-Za-z_][A-Za-z0-9_]*)(?=(\\s*\\()?)`,
    "g",
  );
  let html = "";
  let last = 0;
  for (const m of code.matchAll(token)) {
    html += escapeHtml(code.slice(last, m.index));
    last = m.index + m[0].length;
    const text = escapeHtml(m[0]);
    if (m[1]) html += `<span class="tok-com">${text}</span>`;
    else if (m[2]) html += `<span class="tok-str">${text}</span>`;
    else if (m[3]) html += `<span class="tok-num">${text}</span>`;
    else if (words.has(m[4])) html += `<span class="tok-kw">${text}</span>`;
    else if (m[5]) html += `<span class="tok-fn">${text}</span>`;
    else html += text;
  }
  return html + escapeHtml(code.slice(last));
}

function showCode(element, code, language) {
  element.innerHTML = highlight(code || "", language);
  element.dataset.language = language;
}

// ---------------------------------------------------------------- the solve tab

let info = null;

async function loadInfo() {
  const response = await call("/v1/crucible/info");
  if (!response.ok) {
    showStatus("Could not read the server's options: " + (await errorOf(response)));
    return;
  }
  info = await response.json();
  $("model").textContent = info.model ? `model: ${info.model}` : "model loading...";
  fill($("language"), info.languages, "python");
  fill($("strategy"), info.strategies, info.default_strategy);
  $("model-calls").max = info.max_budget.model_calls;
  $("model-calls").value = Math.min(8, info.max_budget.model_calls);
  if (!info.sandbox) showStatus("This server has no sandbox: strategies cannot run here (plain generation still works).");
}

function fill(select, names, chosen) {
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    option.selected = name === chosen;
    return option;
  }));
}

function addExample(input = "", output = "") {
  const row = $("example-row").content.firstElementChild.cloneNode(true);
  row.querySelector(".ex-input").value = input;
  row.querySelector(".ex-output").value = output;
  row.querySelector(".remove").addEventListener("click", () => row.remove());
  $("examples").append(row);
}

// The task in the task-file format (docs/TASKS.md), from the form.
function taskFromForm() {
  const examples = [...document.querySelectorAll("#examples .example")]
    .map((row) => ({ input: row.querySelector(".ex-input").value, output: row.querySelector(".ex-output").value }))
    .filter((ex) => ex.input !== "" || ex.output !== "")
    .map((ex) => ({ input: withNewline(ex.input), output: withNewline(ex.output) }));
  return { id: "playground", description: $("description").value.trim(), examples };
}

function withNewline(text) {
  return text === "" || text.endsWith("\n") ? text : text + "\n";
}

function setVerdict(text, kind) {
  const badge = $("verdict");
  badge.textContent = text;
  badge.className = "badge " + (kind || "");
}

function verdictText(verdict) {
  if (!verdict) return "not verified";
  const status = verdict.status.replace(/_/g, " ");
  return `${status} ${verdict.passed}/${verdict.total}`;
}

// One attempt's list item, made when the model call starts.
function attemptItem(attempt, stage, n) {
  const item = document.createElement("li");
  item.className = "attempt";
  item.dataset.attempt = attempt;
  const head = document.createElement("span");
  head.className = "stage";
  head.textContent = `#${attempt} ${stage}`;
  const state = document.createElement("span");
  state.className = "verdicts";
  state.textContent = n > 1 ? `asking for ${n} programs...` : "asking...";
  item.append(head, state);
  $("attempts").append(item);
  return item;
}

function showAttempt(attempt, language) {
  let item = document.querySelector(`#attempts li[data-attempt="${attempt.index}"]`);
  if (!item) item = attemptItem(attempt.index, attempt.stage, attempt.outputs.length);
  const state = item.querySelector(".verdicts");
  state.replaceChildren();
  attempt.outputs.forEach((output, i) => {
    const last = output.verdicts && output.verdicts[output.verdicts.length - 1];
    const badge = document.createElement("span");
    badge.className = "badge " + (last ? (last.status === "passed" ? "passed" : "failed") : "");
    badge.textContent = last ? verdictText(last) : output.code ? "not run" : "no program";
    badge.title = `output ${i + 1}, ${output.tokens} tokens`;
    state.append(badge);
    if (output.code) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = `program ${i + 1}`;
      const pre = document.createElement("pre");
      pre.className = "code";
      showCode(pre, output.code, language);
      details.append(summary, pre);
      item.append(details);
    }
  });
}

async function solve(event) {
  event.preventDefault();
  showStatus("");
  const task = taskFromForm();
  if (!task.description) {
    showStatus("Describe the task first.");
    return;
  }
  const language = $("language").value || "python";
  const request = {
    task,
    language,
    strategy: $("strategy").value || undefined,
    budget: { model_calls: Number($("model-calls").value) || undefined },
    stream: true,
  };
  $("attempts").replaceChildren();
  $("live").textContent = "";
  $("code").textContent = "";
  setVerdict("running", "running");
  $("solve").disabled = true;
  try {
    const response = await call("/v1/crucible/solve", { method: "POST", body: JSON.stringify(request) });
    if (!response.ok) {
      setVerdict("error", "failed");
      showStatus(await errorOf(response));
      return;
    }
    let ended = false;
    await readEvents(response, (name, data) => {
      const value = JSON.parse(data);
      if (name === "asking") attemptItem(value.attempt, value.stage, value.n);
      else if (name === "text") $("live").textContent += value.text;
      else if (name === "attempt") { showAttempt(value, language); $("live").textContent += "\n"; }
      else if (name === "note") {
        const note = document.createElement("li");
        note.className = "note";
        note.textContent = value.note;
        $("attempts").append(note);
      } else if (name === "result") {
        ended = true;
        showCode($("code"), value.code, language);
        const passed = value.verdict && value.verdict.status === "passed";
        setVerdict(verdictText(value.verdict), value.verdict ? (passed ? "passed" : "failed") : "");
      } else if (name === "error") {
        ended = true;
        setVerdict("error", "failed");
        showStatus((value.error && value.error.message) || data);
      }
    });
    if (!ended) {
      setVerdict("cut off", "failed");
      showStatus("The stream ended before a result (the server stopped or the connection dropped).");
    }
  } catch (err) {
    setVerdict("error", "failed");
    showStatus("The request failed: " + err.message);
  } finally {
    $("solve").disabled = false;
  }
}

// ---------------------------------------------------------------- the chat tab

const history = [];

function messageElement(role, text) {
  const element = document.createElement("div");
  element.className = "message " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "you" : "model";
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = text;
  element.append(who, body);
  $("messages").append(element);
  return body;
}

// Text with ``` fences turned into highlighted code blocks.
function renderReply(body, text) {
  body.replaceChildren();
  const parts = text.split(/```([A-Za-z+#]*)\n?/);
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 1) continue; // a fence's language tag
    if (i > 0 && (i / 2) % 2 === 1) {
      const pre = document.createElement("pre");
      pre.className = "code";
      const tag = (parts[i - 1] || "").toLowerCase();
      const language = { py: "python", js: "javascript", "c++": "cpp", rs: "rust" }[tag] || tag || "python";
      showCode(pre, parts[i].replace(/\n$/, ""), language);
      body.append(pre);
    } else if (parts[i]) {
      body.append(document.createTextNode(parts[i]));
    }
  }
}

async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text) return;
  showStatus("");
  history.push({ role: "user", content: text });
  messageElement("user", text);
  $("chat-input").value = "";
  const body = messageElement("assistant", "");
  body.parentElement.classList.add("streaming");
  $("chat-send").disabled = true;
  let reply = "";
  try {
    const response = await call("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({
        messages: history,
        stream: true,
        temperature: Number($("chat-temperature").value),
        max_tokens: Number($("chat-max-tokens").value) || undefined,
      }),
    });
    if (!response.ok) {
      history.pop();
      body.parentElement.remove();
      showStatus(await errorOf(response));
      return;
    }
    await readEvents(response, (_, data) => {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) {
        showStatus(chunk.error.message);
        return;
      }
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) {
        reply += delta.content;
        body.textContent = reply;
      }
    });
    history.push({ role: "assistant", content: reply });
    renderReply(body, reply);
  } catch (err) {
    showStatus("The request failed: " + err.message);
  } finally {
    body.parentElement.classList.remove("streaming");
    $("chat-send").disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const active = tab.dataset.panel === name;
    tab.classList.toggle("active", active);
    $("panel-" + tab.dataset.panel).hidden = !active;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showTab(tab.dataset.panel));
  }
  $("add-example").addEventListener("click", () => addExample());
  $("task-form").addEventListener("submit", solve);
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-clear").addEventListener("click", () => {
    history.length = 0;
    $("messages").replaceChildren();
  });
  $("key-button").addEventListener("click", () => askForKey());
  $("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("chat-form").requestSubmit();
  });
  addExample();
  loadInfo();
});
