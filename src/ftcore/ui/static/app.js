// ftcore ui: the page's behaviour. Plain JS, no build step, nothing from the network: the API is /api/* (app.py).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const state = { job: null, run: null, since: 0, train: [], evals: [], poll: null, validateTimer: null, chat: [] };

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = data.error || (data.detail ? JSON.stringify(data.detail) : res.statusText);
    throw Object.assign(new Error(detail), { problems: data.problems || [detail] });
  }
  return data;
}

function option(select, value, text, title) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text || value; if (title) o.title = title;
  select.appendChild(o);
  return o;
}

// ---- 1. run file -------------------------------------------------------------------------------------------
async function loadCatalog() {
  const cat = await api("/api/catalog");
  $("root").textContent = "folder: " + cat.root;
  for (const m of cat.models) option($("model"), m.name, m.name, m.description || m.plugin);
  for (const d of cat.datasets) option($("datasets"), d.name, d.name, d.description);
  for (const t of cat.tuners) option($("tuner"), t.name);
}

async function writeDraft() {
  const form = {
    model: $("model").value, tuner: $("tuner").value,
    datasets: Array.from($("datasets").selectedOptions).map((o) => o.value),
    output_dir: $("output-dir").value || null,
  };
  const steps = parseInt($("max-steps").value, 10);
  if (steps > 0) form.max_steps = steps;
  const lr = $("lr").value.trim();
  if (lr) form.lr = isNaN(Number(lr)) ? lr : Number(lr);
  const res = await api("/api/draft", form);
  $("editor").value = res.text;
  await validateNow();
}

function showProblems(problems, ok) {
  const list = $("problems");
  list.innerHTML = "";
  for (const p of problems) { const li = document.createElement("li"); li.textContent = p; list.appendChild(li); }
  if (ok) { const li = document.createElement("li"); li.className = "ok"; li.textContent = $("path").value + ": ok"; list.appendChild(li); }
  list.dataset.state = ok ? "ok" : "problems";
  $("start-btn").disabled = !ok || isRunning();
}

async function validateNow() {
  const text = $("editor").value;
  if (!text.trim()) { showProblems([], false); $("problems").dataset.state = "empty"; return; }
  try {
    const res = await api("/api/validate", { path: $("path").value, text });
    showProblems(res.problems, res.ok);
  } catch (e) { showProblems(e.problems, false); }
}

function validateSoon() {
  clearTimeout(state.validateTimer);
  $("problems").dataset.state = "checking";
  state.validateTimer = setTimeout(validateNow, 400);
}

// ---- 2. training -------------------------------------------------------------------------------------------
function isRunning() { return state.job && (state.job.state === "running" || state.job.state === "stopping"); }

async function startJob() {
  $("start-btn").disabled = true;
  try {
    const job = await api("/api/jobs", { path: $("path").value, text: $("editor").value });
    state.job = job;
    followRun(null);
    showJob(job);
    clearInterval(state.poll);
    state.poll = setInterval(pollJob, 1000);
  } catch (e) { showProblems(e.problems, false); }
}

async function stopJob() {
  if (!state.job) return;
  showJob(await api(`/api/jobs/${state.job.id}/stop`, {}));
}

function showJob(job) {
  state.job = job;
  $("job-state").textContent = `#${job.id} ${job.state}` + (job.returncode !== null ? ` (exit ${job.returncode})` : "");
  $("job-run").textContent = job.run ? job.run : "";
  $("stop-btn").disabled = !isRunning();
  $("start-btn").disabled = isRunning() || $("problems").dataset.state !== "ok";
  if (job.total) { $("progress").max = job.total; $("progress").value = job.step; }
  $("progress-text").textContent = job.total ? `step ${job.step} / ${job.total}` : (job.state === "running" ? "loading…" : "");
  const log = $("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  // a progress bar redraws its line with "\r": show each line as it was last drawn
  const lines = job.log.split("\n").map((l) => l.split("\r").filter((s) => s.trim()).pop() || "");
  log.textContent = lines.filter((l) => l.trim()).slice(-60).join("\n");
  if (atEnd) log.scrollTop = log.scrollHeight;
}

async function pollJob() {
  if (!state.job) return;
  const job = await api(`/api/jobs/${state.job.id}`);
  showJob(job);
  if (job.run && state.run !== job.run) followRun(job.run);
  await pollMetrics();
  if (!isRunning()) {
    clearInterval(state.poll);
    state.poll = null;
    await pollMetrics();
    await loadRuns();
  }
}

function followRun(run) {
  state.run = run; state.since = 0; state.train = []; state.evals = [];
  $("chart-run").textContent = run ? "— " + run : "";
  drawChart();
}

async function pollMetrics() {
  if (!state.run) return;
  const res = await api(`/api/metrics?run=${encodeURIComponent(state.run)}&since=${state.since}`);
  state.since = res.next;
  for (const r of res.records) {
    if (typeof r.loss === "number") state.train.push([r.step, r.loss]);
    if (typeof r.eval_loss === "number") state.evals.push([r.step, r.eval_loss]);
  }
  if (res.records.length) drawChart();
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawChart() {
  const svg = $("chart");
  const W = svg.clientWidth || 600, H = svg.clientHeight || 240, L = 48, R = 12, T = 10, B = 26;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.innerHTML = "";
  svg.dataset.points = state.train.length;
  svg.dataset.evals = state.evals.length;
  const all = state.train.concat(state.evals);
  if (!all.length) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#6b7280" }, "no loss logged yet"));
    return;
  }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    svg.appendChild(el("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#eef1f5" }));
    svg.appendChild(el("text", { x: L - 4, y: sy(y) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7280" }, y.toFixed(2)));
  }
  const raw = (x1 - x0) / 5, mag = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
    svg.appendChild(el("text", { x: sx(x), y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#6b7280" }, x));
  }
  svg.appendChild(el("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#9ca3af" }));
  svg.appendChild(el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9ca3af" }));
  const line = (pts, color, id) => {
    if (!pts.length) return;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    svg.appendChild(el("path", { id, d, fill: "none", stroke: color, "stroke-width": 2 }));
    for (const p of pts) svg.appendChild(el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: color }));
  };
  line(state.train, "#2563eb", "loss-line");
  line(state.evals, "#d97706", "eval-line");
}

// ---- 3. runs and checkpoints ------------------------------------------------------------------------------
async function loadRuns() {
  const runs = await api("/api/runs");
  const body = $("runs"), pick = $("chat-ckpt"), chosen = pick.value;
  body.innerHTML = ""; pick.innerHTML = "";
  for (const run of runs) {
    const tr = document.createElement("tr");
    const ckpts = run.checkpoints.map((c) => {
      const name = c.split("/").pop();
      const tag = name === run.best ? " (best)" : name === run.last ? " (last)" : "";
      option(pick, c, c + tag);
      return `<code>${name}</code>${tag}`;
    });
    const m = (run.result && run.result.metrics) || {};
    const last = m.last_loss !== undefined ? m.last_loss : m.train_loss;
    const loss = last !== undefined ? `loss ${Number(last).toFixed(3)}` : "";
    tr.innerHTML = `<td><code></code></td><td>${ckpts.join("<br>") || "none yet"}</td>` +
      `<td>${run.running ? "running" : (run.result ? "done " + loss : "ended")}</td><td></td>`;
    tr.querySelector("td code").textContent = run.path;
    const curves = document.createElement("button");
    curves.className = "plain"; curves.textContent = "curves";
    curves.onclick = async () => { followRun(run.path); await pollMetrics(); };
    tr.lastChild.appendChild(curves);
    if (run.checkpoints.length) {
      const talk = document.createElement("button");
      talk.className = "plain"; talk.textContent = "chat";
      const best = run.checkpoints.find((c) => c.endsWith("/" + run.best)) || run.checkpoints[run.checkpoints.length - 1];
      talk.onclick = () => { pick.value = best; $("chat-input").focus(); };
      tr.lastChild.appendChild(talk);
    }
    body.appendChild(tr);
  }
  if (chosen && Array.from(pick.options).some((o) => o.value === chosen)) pick.value = chosen;
}

// ---- 4. chat ------------------------------------------------------------------------------------------------
function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role; div.textContent = text;
  $("chat-log").appendChild(div);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return div;
}

async function sendChat() {
  const text = $("chat-input").value.trim(), ckpt = $("chat-ckpt").value;
  if (!text) return;
  if (!ckpt) { $("chat-status").textContent = "choose a checkpoint (train one, or Refresh the runs)"; return; }
  $("chat-input").value = "";
  $("chat-send").disabled = true;
  addMessage("user", text);
  state.chat.push({ role: "user", content: text });
  const messages = ($("chat-system").value.trim() ? [{ role: "system", content: $("chat-system").value.trim() }] : [])
    .concat(state.chat);
  const box = addMessage("assistant", "");
  box.dataset.done = "false";
  $("chat-status").textContent = "loading the checkpoint…";
  let answer = "";
  try {
    const res = await fetch("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ checkpoint: ckpt, messages, max_new_tokens: parseInt($("chat-max").value, 10) || null }),
    });
    if (!res.ok) { const d = await res.json().catch(() => ({})); throw new Error(d.error || JSON.stringify(d.detail || res.statusText)); }
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!line.startsWith("data: ")) continue;
        const ev = JSON.parse(line.slice(6));
        if (ev.loaded) $("chat-status").textContent = "answering with " + ev.loaded;
        if (ev.delta) { answer += ev.delta; box.textContent = answer; }
        if (ev.error) throw new Error(ev.error);
      }
    }
    state.chat.push({ role: "assistant", content: answer });
  } catch (e) {
    box.className = "msg error"; box.textContent = e.message; state.chat.pop();
  } finally {
    box.dataset.done = "true";
    $("chat-send").disabled = false;
  }
}

// ---- start --------------------------------------------------------------------------------------------------
window.addEventListener("DOMContentLoaded", async () => {
  $("draft-btn").onclick = writeDraft;
  $("editor").addEventListener("input", validateSoon);
  $("path").addEventListener("input", validateSoon);
  $("start-btn").onclick = startJob;
  $("stop-btn").onclick = stopJob;
  $("runs-btn").onclick = loadRuns;
  $("chat-send").onclick = sendChat;
  $("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter") sendChat(); });
  $("chat-clear").onclick = () => { state.chat = []; $("chat-log").innerHTML = ""; };
  window.addEventListener("resize", drawChart);
  drawChart();
  await loadCatalog();
  await loadRuns();
  const jobs = await api("/api/jobs");
  if (jobs.length) {  // the page was reloaded while a run was going: follow the newest
    showJob(jobs[jobs.length - 1]);
    if (state.job.run) { followRun(state.job.run); await pollMetrics(); }
    if (isRunning()) state.poll = setInterval(pollJob, 1000);
  }
  document.body.dataset.ready = "true";
});
