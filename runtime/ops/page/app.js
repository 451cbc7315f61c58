// The operations page: an instances list with filters and paging, and an instance view with its
// graph. Plain DOM and fetch; the URL fragment holds the view (#/?status=COMPLETED, #/instances/ID).
"use strict";

(function () {
  const STATUSES = ["NOT_STARTED", "EXECUTING", "COMPLETED", "FAILED", "SKIPPED", "STOPPED"];
  const $ = (id) => document.getElementById(id);
  const state = { workflows: new Map(), cursors: [null], page: 0, next: null, refresh: null, following: false };

  // ---------------------------------------------------------------- API access

  function token() {
    return sessionStorage.getItem("dagger-token") || "";
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401) {
      askToken("This server needs a token.");
      throw new Error("unauthorized");
    }
    const body = await response.json();
    if (!response.ok) throw new Error(`${body.error}: ${JSON.stringify(body.detail)}`);
    return body;
  }

  function askToken(why) {
    $("token-form").hidden = false;
    $("token-error").textContent = why;
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("dagger-token", $("token-input").value);
    $("token-form").hidden = true;
    boot();
  });

  function showError(error) {
    if (error.message === "unauthorized") return;
    $("message").textContent = error.message;
    $("message").hidden = false;
  }

  // ---------------------------------------------------------------- helpers

  function when(seconds) {
    if (!seconds) return "—";
    const at = new Date(seconds * 1000);
    const pad = (n, width = 2) => String(n).padStart(width, "0");
    const time = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
    if (at.toDateString() === new Date().toDateString()) return time;
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${time}`;
  }

  function badge(status) {
    const span = document.createElement("span");
    span.className = `badge s-${status}`;
    span.textContent = status;
    return span;
  }

  function cell(row, content, className) {
    const td = row.insertCell();
    if (className) td.className = className;
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content;
    return td;
  }

  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    return { path, params: new URLSearchParams(query || "") };
  }

  // ---------------------------------------------------------------- list view

  function filtersFromRoute(params) {
    $("filter-workflow").value = params.get("workflow") || "";
    $("filter-status").value = params.get("status") || "";
    $("filter-limit").value = params.get("limit") || "25";
  }

  function listQuery(cursor) {
    const q = new URLSearchParams();
    for (const [key, id] of [["workflow", "filter-workflow"], ["status", "filter-status"], ["limit", "filter-limit"]]) {
      if ($(id).value) q.set(key, $(id).value);
    }
    if (cursor) q.set("cursor", cursor);
    return q;
  }

  function renderRows(items) {
    const body = $("instances").tBodies[0];
    body.replaceChildren();
    for (const item of items) {
      const row = body.insertRow();
      row.dataset.status = item.status;
      const link = document.createElement("a");
      link.href = `#/instances/${encodeURIComponent(item.id)}`;
      link.textContent = item.id;
      cell(row, link, "id");
      cell(row, item.workflow);
      cell(row, badge(item.status));
      cell(row, when(item.updated_at));
    }
    $("empty").hidden = items.length > 0;
  }

  async function loadPage() {
    const page = await api(`/api/instances?${listQuery(state.cursors[state.page])}`);
    renderRows(page.items);
    state.next = page.next;
    $("next").disabled = !page.next;
    $("prev").disabled = state.page === 0;
    $("first").disabled = state.page === 0;
    $("page-no").textContent = `page ${state.page + 1}`;
  }

  async function showList(params) {
    filtersFromRoute(params);
    state.cursors = [null];
    state.page = 0;
    $("instance-view").hidden = true;
    $("list-view").hidden = false;
    state.refresh = loadPage;
    await loadPage();
  }

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = listQuery(null);
    const target = `#/?${q}`;
    if (location.hash === target) showList(q).catch(showError);
    else location.hash = target;
  });
  $("next").addEventListener("click", () => {
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    loadPage().catch(showError);
  });
  $("prev").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    loadPage().catch(showError);
  });
  $("first").addEventListener("click", () => {
    state.page = 0;
    loadPage().catch(showError);
  });

  // ---------------------------------------------------------------- instance view

  function renderNodes(runs) {
    const body = $("nodes").tBodies[0];
    body.replaceChildren();
    for (const run of runs) {
      const row = body.insertRow();
      row.title = run.detail || "";
      const steps = run.name.split("/");
      const name = cell(row, steps[steps.length - 1]);
      name.title = run.name;
      name.style.paddingLeft = `${0.6 + 0.9 * (steps.length - 1)}rem`;
      cell(row, run.kind);
      cell(row, badge(run.status));
      cell(row, when(run.started_at));
      cell(row, when(run.ended_at));
      cell(row, String(run.attempt));
    }
  }

  function renderLegend() {
    $("legend").replaceChildren(...STATUSES.map(badge));
  }

  async function loadInstance(id) {
    const inst = await api(`/api/instances/${encodeURIComponent(id)}`);
    const workflow = state.workflows.get(inst.workflow);
    $("inst-id").textContent = inst.id;
    $("inst-status").replaceWith(Object.assign(badge(inst.status), { id: "inst-status" }));
    $("inst-workflow").textContent = inst.workflow;
    $("inst-version").textContent = inst.version;
    $("inst-created").textContent = when(inst.created_at);
    $("inst-updated").textContent = when(inst.updated_at);
    $("inst-error").textContent = inst.error || "";
    $("inst-error").hidden = !inst.error;
    $("inst-state").textContent = JSON.stringify(inst.state, null, 2);
    $("cancel").hidden = !["NOT_STARTED", "EXECUTING"].includes(inst.status);
    $("cancel").onclick = () => cancel(inst.id);
    $("mermaid").textContent = workflow ? workflow.graph : "";
    renderNodes(inst.nodes);
    if (workflow) DaggerGraph.render($("graph"), workflow, inst.nodes);
  }

  async function cancel(id) {
    await api(`/api/instances/${encodeURIComponent(id)}/cancel`, { method: "POST" }).catch(showError);
    await loadInstance(id).catch(showError);
  }

  async function showInstance(id) {
    $("list-view").hidden = true;
    $("instance-view").hidden = false;
    renderLegend();
    state.refresh = () => loadInstance(id);
    await loadInstance(id);
  }

  // ---------------------------------------------------------------- live updates

  async function follow() {
    const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
    const response = await fetch("/api/updates", { headers });
    if (!response.ok || !response.body) return;
    $("live").textContent = "live";
    $("live").classList.add("on");
    const reader = response.body.getReader();
    let timer = null;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (new TextDecoder().decode(value).includes("data:") && timer === null) {
        timer = setTimeout(() => {
          timer = null;
          if (state.refresh) state.refresh().catch(showError);
        }, 400);
      }
    }
    $("live").textContent = "offline";
    $("live").classList.remove("on");
  }

  // ---------------------------------------------------------------- boot

  async function dispatch() {
    $("message").hidden = true;
    const { path, params } = route();
    const match = path.match(/^\/instances\/(.+)$/);
    if (match) await showInstance(decodeURIComponent(match[1]));
    else await showList(params);
  }

  async function boot() {
    const listing = await api("/api/workflows");
    state.workflows = new Map(listing.items.map((w) => [w.name, w]));
    const select = $("filter-workflow");
    select.replaceChildren(new Option("all", ""), ...listing.items.map((w) => new Option(w.name, w.name)));
    await dispatch();
    if (!state.following) {
      state.following = true;
      follow().catch(() => undefined).finally(() => { state.following = false; });
    }
  }

  const statusSelect = $("filter-status");
  for (const status of STATUSES) statusSelect.appendChild(new Option(status, status));
  window.addEventListener("hashchange", () => dispatch().catch(showError));
  boot().catch(showError);
})();
