// Lays out a workflow's node table as an SVG: sequences stack downwards, processes are framed,
// parallel and decide branches sit side by side between a fork and a join. Every shape carries
// the status of its node as a class (s-COMPLETED, ...), which the stylesheet colours.
"use strict";

(function (global) {
  const NS = "http://www.w3.org/2000/svg";
  const BOX_W = 172, BOX_H = 42, GAP_Y = 26, GAP_X = 22, PAD = 12, TITLE = 18, FORK = 16, MARGIN = 14;
  const STACKED = new Set(["sequence", "process"]);
  const BRANCHING = new Set(["parallel", "decide"]);
  const QUIET = new Set(["NOT_STARTED", "SKIPPED"]);

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Generated names are paths ("PAYMENT/decide/then/call check_fraud"): show the last step,
  // without the kind already written above it.
  function label(node) {
    const last = node.name.split("/").pop();
    const bare = last.startsWith(node.kind + " ") ? last.slice(node.kind.length + 1) : last;
    return bare === node.kind ? "" : bare;
  }

  function clip(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function measure(id, ctx) {
    const node = ctx.nodes.get(id);
    const kids = node.children.map((child) => measure(child, ctx));
    let size;
    if (STACKED.has(node.kind)) {
      const w = kids.length ? Math.max(...kids.map((k) => k.w)) : BOX_W / 2;
      const h = kids.length ? kids.reduce((sum, k) => sum + k.h, 0) + GAP_Y * (kids.length - 1) : 8;
      size = node.kind === "process" ? { w: w + 2 * PAD, h: h + TITLE + 2 * PAD } : { w, h };
      if (node.kind === "process") size.w = Math.max(size.w, label(node).length * 7 + 2 * PAD);
    } else if (BRANCHING.has(node.kind)) {
      const w = kids.reduce((sum, k) => sum + k.w, 0) + GAP_X * Math.max(kids.length - 1, 0);
      const h = kids.length ? Math.max(...kids.map((k) => k.h)) : 8;
      size = { w: Math.max(w, BOX_W / 2), h: h + 2 * (FORK + GAP_Y) };
    } else {
      size = { w: BOX_W, h: BOX_H };
    }
    ctx.sizes.set(id, size);
    return size;
  }

  function statusOf(id, ctx) {
    return ctx.status.get(id) || "NOT_STARTED";
  }

  function group(id, kind, ctx, parent) {
    const node = ctx.nodes.get(id);
    return el("g", {
      class: `node kind-${kind} s-${statusOf(id, ctx)}`,
      "data-node-id": id,
      "data-node-name": node.name,
      "data-status": statusOf(id, ctx),
    }, parent);
  }

  function edge(ctx, d, target, label, at) {
    const taken = !QUIET.has(statusOf(target, ctx));
    el("path", { class: taken ? "edge taken" : "edge", d, "marker-end": "url(#arrow)" }, ctx.edges);
    if (label !== undefined) {
      el("text", { class: "edge-label", x: at[0] + 4, y: at[1] - 5 }, ctx.edges, clip(label, 14));
    }
  }

  function drawLeaf(id, x, y, ctx, parent) {
    const node = ctx.nodes.get(id);
    const run = ctx.runs.get(id);
    const g = group(id, node.kind, ctx, parent);
    el("rect", { x, y, width: BOX_W, height: BOX_H, rx: 6 }, g);
    el("text", { class: "kind", x: x + 8, y: y + 14 }, g, node.kind);
    el("text", { class: "name", x: x + 8, y: y + 31 }, g, clip(label(node) || node.kind, 26));
    const detail = run && run.detail ? `\n${run.detail}` : "";
    el("title", {}, g, `${node.name} (${node.kind}): ${statusOf(id, ctx)}${detail}`);
  }

  function drawStack(id, x, y, ctx, parent) {
    const node = ctx.nodes.get(id);
    const size = ctx.sizes.get(id);
    const g = group(id, node.kind, ctx, parent);
    let top = y;
    if (node.kind === "process") {
      el("rect", { class: "frame", x, y, width: size.w, height: size.h, rx: 8 }, g);
      el("text", { class: "title", x: x + PAD, y: y + PAD + 6, "font-weight": 600 }, g, label(node));
      top += TITLE + PAD;
    }
    const cx = x + size.w / 2;
    let previous = null;
    for (const child of node.children) {
      const cs = ctx.sizes.get(child);
      if (previous !== null) edge(ctx, `M${cx},${previous} L${cx},${top - 2}`, child);
      draw(child, cx - cs.w / 2, top, ctx, g);
      previous = top + cs.h;
      top += cs.h + GAP_Y;
    }
  }

  function junction(kind, cx, cy, g) {
    if (kind === "decide") {
      const r = FORK / 2 + 2;
      el("polygon", { points: `${cx},${cy - r} ${cx + r},${cy} ${cx},${cy + r} ${cx - r},${cy}` }, g);
    } else {
      el("rect", { x: cx - 22, y: cy - 4, width: 44, height: 8, rx: 3 }, g);
    }
  }

  function drawBranches(id, x, y, ctx, parent) {
    const node = ctx.nodes.get(id);
    const size = ctx.sizes.get(id);
    const g = group(id, node.kind, ctx, parent);
    const cx = x + size.w / 2;
    const forkY = y + FORK / 2;
    const joinY = y + size.h - FORK / 2;
    junction(node.kind, cx, forkY, g);
    const kidsW = node.children.reduce((sum, c) => sum + ctx.sizes.get(c).w, 0);
    let left = x + (size.w - kidsW - GAP_X * Math.max(node.children.length - 1, 0)) / 2;
    const top = y + FORK + GAP_Y;
    node.children.forEach((child, i) => {
      const cs = ctx.sizes.get(child);
      const ccx = left + cs.w / 2;
      const label = node.labels ? node.labels[i] : undefined;
      const mid = (forkY + top) / 2;
      edge(ctx, `M${cx},${forkY + FORK / 2} C${cx},${mid} ${ccx},${mid} ${ccx},${top - 2}`, child, label, [ccx, top]);
      draw(child, left, top, ctx, g);
      const bottom = top + cs.h;
      edge(ctx, `M${ccx},${bottom} L${ccx},${joinY - GAP_Y / 2} Q${ccx},${joinY - 2} ${cx},${joinY - FORK / 2}`, id);
      left += cs.w + GAP_X;
    });
    junction(node.kind, cx, joinY, g);
    if (node.join) el("text", { class: "kind", x: cx + 26, y: joinY + 4 }, g, `join ${node.join}`);
  }

  function draw(id, x, y, ctx, parent) {
    const kind = ctx.nodes.get(id).kind;
    if (STACKED.has(kind)) drawStack(id, x, y, ctx, parent);
    else if (BRANCHING.has(kind)) drawBranches(id, x, y, ctx, parent);
    else drawLeaf(id, x, y, ctx, parent);
  }

  function defs(svg) {
    const d = el("defs", {}, svg);
    const marker = el("marker", {
      id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto",
    }, d);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#9ca3af" }, marker);
  }

  // workflow: {nodes: [{id, name, kind, parent, children, labels?, join?}]}
  // runs: [{id, status, detail, ...}] from /api/instances/{id}, or [] for the bare graph.
  function render(container, workflow, runs) {
    const ctx = {
      nodes: new Map(workflow.nodes.map((n) => [n.id, n])),
      runs: new Map(runs.map((r) => [r.id, r])),
      status: new Map(runs.map((r) => [r.id, r.status])),
      sizes: new Map(),
      edges: null,
    };
    const roots = workflow.nodes.filter((n) => n.parent === -1).map((n) => n.id);
    const sizes = roots.map((r) => measure(r, ctx));
    const width = Math.max(...sizes.map((s) => s.w), BOX_W) + 2 * MARGIN;
    const height = sizes.reduce((sum, s) => sum + s.h + GAP_Y, 0) + 2 * MARGIN;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
    el("title", {}, svg, `${workflow.name} graph`);
    defs(svg);
    const shapes = el("g", { class: "shapes" }, svg);
    ctx.edges = el("g", { class: "edges" }, svg);
    let top = MARGIN;
    roots.forEach((root, i) => {
      draw(root, (width - sizes[i].w) / 2, top, ctx, shapes);
      top += sizes[i].h + GAP_Y;
    });
    container.replaceChildren(svg);
    return svg;
  }

  global.DaggerGraph = { render };
})(window);
