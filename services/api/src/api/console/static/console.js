// wadah jobs console. The token lives in this closure only (never in storage or a
// cookie); every value from the API is put on the page with textContent.
"use strict";
(function () {
  const POLL_MS = Math.max(2, Number(document.body.dataset.pollSeconds) || 2) * 1000;
  const PAGE_SIZE = 20;
  const $ = (id) => document.getElementById(id);
  const session = { token: null, operator: false, email: "" };
  const view = { status: "", kind: "", offset: 0, total: 0, follow: null, timer: null, healthAt: 0 };

  function headers(extra) {
    return Object.assign({ Authorization: "Bearer " + session.token }, extra || {});
  }

  async function api(method, path, body) {
    const init = { method: method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    if (response.status === 401) { signOut("Your session has ended; sign in again."); throw new Error("signed out"); }
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    return { status: response.status, body: payload || {}, headers: response.headers };
  }

  function say(text) { $("action-message").textContent = text; }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function percent(done, total) {
    if (!total) return 0;
    return Math.max(0, Math.min(100, Math.round((100 * done) / total)));
  }

  function setBar(bar, value) {
    bar.setAttribute("aria-valuenow", String(value));
    bar.firstElementChild.style.width = value + "%";
  }

  function progressBar(job) {
    const value = job.status === "succeeded" ? 100 : percent(job.progress_done, job.progress_total);
    const bar = el("div", null, "progress");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-label", "Progress of " + job.kind + " job " + job.id.slice(0, 8));
    bar.appendChild(el("div", null, "fill"));
    setBar(bar, value);
    return bar;
  }

  function when(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : ""; }

  function describeResult(job) {
    if (job.status !== "succeeded" || job.result === null || job.result === undefined) return "";
    const r = job.result;
    if (job.kind === "import_books" && typeof r === "object") {
      return "rows " + r.rows + ", inserted " + r.inserted + ", rejected " + r.rejected;
    }
    const text = typeof r === "string" ? r : JSON.stringify(r);
    return text.length > 200 ? text.slice(0, 200) + "…" : text;
  }

  function actionButton(label, action, job) {
    const button = el("button", label);
    button.type = "button";
    button.dataset.action = action;
    button.dataset.id = job.id;
    return button;
  }

  function row(job) {
    const tr = document.createElement("tr");
    tr.dataset.id = job.id;
    tr.appendChild(el("td", job.kind));
    tr.appendChild(el("td", job.status));
    tr.appendChild(el("td", job.attempts));
    const progress = document.createElement("td");
    progress.appendChild(progressBar(job));
    tr.appendChild(progress);
    tr.appendChild(el("td", when(job.created_at)));
    tr.appendChild(el("td", when(job.started_at)));
    tr.appendChild(el("td", when(job.finished_at)));
    tr.appendChild(el("td", job.error || "", "text"));
    tr.appendChild(el("td", describeResult(job), "text"));
    const actions = el("td");
    if (job.status === "queued" || job.status === "running") actions.appendChild(actionButton("Cancel", "cancel", job));
    if (job.status === "failed" || job.status === "cancelled") actions.appendChild(actionButton("Retry", "retry", job));
    if (job.kind === "export" && job.status === "succeeded") {
      const link = el("a", "Download");
      link.href = "/exports/" + encodeURIComponent(job.id) + "/download";
      link.dataset.download = job.id;
      actions.appendChild(link);
    }
    tr.appendChild(actions);
    return tr;
  }

  function renderJobs(page) {
    const rows = $("job-rows");
    rows.replaceChildren.apply(rows, page.data.map(row));
    view.total = page.meta.total;
    const pages = Math.max(1, Math.ceil(view.total / PAGE_SIZE));
    const current = Math.floor(view.offset / PAGE_SIZE) + 1;
    $("page-info").textContent = "Page " + current + " of " + pages + " (" + view.total + " jobs)";
    $("previous").disabled = view.offset === 0;
    $("next").disabled = view.offset + PAGE_SIZE >= view.total;
  }

  function renderImport(job) {
    setBar($("import-bar"), job.status === "succeeded" ? 100 : percent(job.progress_done, job.progress_total));
    const counts = $("import-counts");
    if (job.status === "succeeded" && job.result) {
      counts.textContent = "Import finished: rows " + job.result.rows + ", inserted " + job.result.inserted +
        ", rejected " + job.result.rejected + (job.result.rejections_truncated ? " (first rejections shown)" : "");
      const list = $("import-rejections");
      list.replaceChildren.apply(list, (job.result.rejections || []).map(function (r) {
        return el("li", "line " + r.line + ": " + r.reason);
      }));
      $("import-rejections-box").hidden = list.childElementCount === 0;
      $("import-rejections-box").open = true;
      view.follow = null;
    } else if (job.status === "failed" || job.status === "cancelled") {
      counts.textContent = "Import " + job.status + (job.error ? ": " + job.error : "");
      view.follow = null;
    } else {
      counts.textContent = "Import " + job.status + ": " + job.progress_done + " of " + (job.progress_total || "?") + " rows";
    }
  }

  function listPath() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(view.offset) });
    if (view.status) q.set("status", view.status);
    if (view.kind) q.set("kind", view.kind);
    if (session.operator) q.set("all", "true");
    return "/jobs?" + q.toString();
  }

  // One request per tick: the page of jobs, or (when the followed import is not on it) that job.
  let lastPage = null;
  async function tick() {
    if (!session.token) return;
    const followed = view.follow;
    const onPage = lastPage && followed && lastPage.data.some(function (j) { return j.id === followed; });
    if (followed && lastPage && !onPage) {
      const one = await api("GET", "/jobs/" + encodeURIComponent(followed));
      if (one.status === 200) renderImport(one.body.data);
      lastPage = null;
      return;
    }
    const page = await api("GET", listPath());
    if (page.status !== 200) { say(page.body.message || "could not load jobs"); return; }
    lastPage = page.body;
    renderJobs(page.body);
    if (followed) {
      const job = page.body.data.find(function (j) { return j.id === followed; });
      if (job) renderImport(job);
    }
    if (session.operator && Date.now() - view.healthAt >= 5 * POLL_MS) await health();
  }

  function schedule() {
    clearTimeout(view.timer);
    view.timer = setTimeout(async function () {
      try { if (!document.hidden) await tick(); } catch (e) { /* shown on the next tick */ }
      if (session.token) schedule();
    }, POLL_MS);
  }

  async function refresh() {
    await tick();
    schedule();
  }

  async function health() {
    view.healthAt = Date.now();
    const answer = await api("GET", "/queue/health");
    if (answer.status !== 200) return false;
    const h = answer.body.data;
    const figures = $("health-figures");
    const items = [];
    Object.keys(h.by_status).forEach(function (s) { items.push(["Jobs " + s, h.by_status[s]]); });
    items.push(["Oldest queued job", h.oldest_queued_seconds === null ? "none" : Math.round(h.oldest_queued_seconds) + " s"]);
    items.push(["Workers alive", h.workers_alive]);
    items.push(["Not yet dispatched (outbox)", h.undispatched]);
    figures.replaceChildren();
    items.forEach(function (pair) { figures.appendChild(el("dt", pair[0])); figures.appendChild(el("dd", pair[1])); });
    drawChart(h.finished_per_minute);
    $("health").hidden = false;
    return true;
  }

  function drawChart(counts) {
    const NS = "http://www.w3.org/2000/svg";
    const width = 360, height = 80, bar = width / counts.length;
    const top = Math.max(1, Math.max.apply(null, counts));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-labelledby", "chart-label");
    const total = counts.reduce(function (a, b) { return a + b; }, 0);
    const title = document.createElementNS(NS, "title");
    title.textContent = total + " jobs finished in the last hour; busiest minute " + top;
    svg.appendChild(title);
    counts.forEach(function (n, i) {
      const h = Math.round((n / top) * (height - 2));
      const rect = document.createElementNS(NS, "rect");
      rect.setAttribute("x", String(i * bar));
      rect.setAttribute("y", String(height - h));
      rect.setAttribute("width", String(Math.max(1, bar - 1)));
      rect.setAttribute("height", String(h));
      svg.appendChild(rect);
    });
    $("health-chart").replaceChildren(svg);
  }

  async function signIn(event) {
    event.preventDefault();
    const email = $("email").value, password = $("password").value;
    $("sign-in-error").textContent = "";
    const response = await fetch("/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: email, password: password }),
    });
    let body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    if (response.status !== 200 || !body.token) {
      $("sign-in-error").textContent = body.message || "could not sign in";
      return;
    }
    session.token = body.token;
    session.email = email;
    $("password").value = "";
    session.operator = await health();
    $("who").textContent = email + (session.operator ? " (operator)" : "");
    $("who").hidden = false;
    $("sign-out").hidden = false;
    $("sign-in-view").hidden = true;
    $("app").hidden = false;
    await refresh();
  }

  function signOut(message) {
    session.token = null;
    session.operator = false;
    clearTimeout(view.timer);
    view.follow = null;
    lastPage = null;
    $("job-rows").replaceChildren();
    $("health").hidden = true;
    $("app").hidden = true;
    $("who").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in-view").hidden = false;
    $("sign-in-error").textContent = typeof message === "string" ? message : "";
  }

  async function act(event) {
    const target = event.target;
    if (target.dataset.download) { event.preventDefault(); await download(target); return; }
    const action = target.dataset.action;
    if (!action) return;
    target.disabled = true;
    const answer = await api("POST", "/jobs/" + encodeURIComponent(target.dataset.id) + "/" + action);
    say(answer.body.message || action + ": " + answer.status);
    await tick();
  }

  async function download(link) {
    const response = await fetch(link.href, { headers: headers() });
    if (response.status !== 200) {
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      say(body.message || "download failed (" + response.status + ")");
      return;
    }
    const disposition = response.headers.get("content-disposition") || "";
    const match = /filename="?([^";]+)"?/.exec(disposition);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = match ? match[1] : "export.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  async function exportOf(resource) {
    const answer = await api("POST", "/exports", { resource: resource });
    say(answer.body.message || "export: " + answer.status);
    await tick();
  }

  function importFile(event) {
    event.preventDefault();
    const file = $("file").files[0];
    if (!file) { say("choose a CSV or NDJSON file first"); return; }
    const type = /\.(ndjson|jsonl)$/i.test(file.name) ? "application/x-ndjson" : "text/csv";
    $("import-status").hidden = false;
    $("import-rejections-box").hidden = true;
    $("import-counts").textContent = "Uploading " + file.name;
    setBar($("upload-bar"), 0);
    setBar($("import-bar"), 0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/books/import");
    xhr.setRequestHeader("Authorization", "Bearer " + session.token);
    xhr.setRequestHeader("Content-Type", type);
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) setBar($("upload-bar"), percent(e.loaded, e.total)); };
    xhr.onload = function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status !== 202) { $("import-counts").textContent = body.message || "upload failed (" + xhr.status + ")"; return; }
      setBar($("upload-bar"), 100);
      view.follow = body.data.id;
      $("import-counts").textContent = "Import queued";
      view.status = ""; view.kind = ""; view.offset = 0;
      $("filter-status").value = ""; $("filter-kind").value = "";
      tick();
    };
    xhr.onerror = function () { $("import-counts").textContent = "upload failed: the connection was lost"; };
    xhr.send(file);
  }

  function filter() {
    view.status = $("filter-status").value;
    view.kind = $("filter-kind").value;
    view.offset = 0;
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("sign-in").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", function () { signOut(""); });
    $("job-rows").addEventListener("click", act);
    $("export-books").addEventListener("click", function () { exportOf("books"); });
    $("export-blogs").addEventListener("click", function () { exportOf("blogs"); });
    $("import").addEventListener("submit", importFile);
    $("filters").addEventListener("change", filter);
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    $("previous").addEventListener("click", function () { view.offset = Math.max(0, view.offset - PAGE_SIZE); tick(); });
    $("next").addEventListener("click", function () { view.offset += PAGE_SIZE; tick(); });
  });
})();
