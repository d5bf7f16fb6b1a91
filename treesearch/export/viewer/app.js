"use strict";
/* The viewer: reads the inline data, lays the tree out, and wires the canvas, the details panel,
 * search and filters, and the replay slider together. `window.treesearchViewer` exposes the same
 * actions to scripts (and to the browser tests). */

function collectStrings(value, out, depth = 0) {
  if (typeof value === "string") out.push(value);
  else if (value && typeof value === "object" && depth < 6) {
    for (const v of Array.isArray(value) ? value : Object.values(value)) collectStrings(v, out, depth + 1);
  }
  return out;
}

function rampColour(stops, t) {
  const rgb = (c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16));
  const pos = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const low = Math.min(Math.floor(pos), stops.length - 2);
  const a = rgb(stops[low]), b = rgb(stops[low + 1]), f = pos - low;
  return `rgb(${a.map((x, k) => Math.round(x + (b[k] - x) * f)).join(",")})`;
}

const STATUS_FILTERS = {
  all: () => true,
  passed: (app, i) => app.payload(i).passed_all === true,
  failed: (app, i) => app.payload(i).passed_all === false,
  evaluated: (app, i) => app.stateAt(i).value !== null,
  unevaluated: (app, i) => app.stateAt(i).value === null,
  superseded: (app, i) => app.stateAt(i).superseded,
  current: (app, i) => !app.stateAt(i).superseded,
  best: (app, i) => app.model.bestPath.has(i) || i === app.model.finalPick,
  in_flight: (app, i) => app.stateAt(i).in_flight > 0,
};

const COLOUR_BY = {
  value: (st) => st.value ?? st.q_max ?? st.q_mean,
  q_max: (st) => st.q_max,
  q_mean: (st) => st.q_mean,
  visits: (st, app) => (st.visits > 0 ? Math.log1p(st.visits) / Math.log1p(app.maxVisits) : null),
  prior: (st, app, i) => app.model.nodes[i].prior,
};

class ViewerApp {
  constructor(data) {
    const $ = (id) => document.getElementById(id);
    this.data = data;
    this.model = buildModel(data);
    this.selection = data.selection;
    this.palette = data.palette;
    this.replay = new Replay(this.model);
    this.lastStep = this.model.events.length;
    this.step = this.lastStep;
    this.selected = -1;
    this.matches = new Set();
    this.matchList = [];
    this.matchCursor = -1;
    this.hiddenKinds = new Set();
    this.statusFilter = "all";
    this.colourBy = "value";
    this.maxVisits = Math.max(1, ...this.model.nodes.map((node) => (isNumber(node.visits) ? node.visits : 0)));
    this.textIndex = null;
    this.el = { canvas: $("tree"), details: $("details"), search: $("search"), searchCount: $("search-count"),
      kinds: $("kind-filters"), status: $("status-filter"), colour: $("colour-by"), fit: $("fit"), slider: $("step"),
      stepLabel: $("step-label"), play: $("play"), prev: $("prev"), next: $("next"), shown: $("shown"),
      tooltip: $("tooltip"), legend: $("legend"), title: $("title"), summary: $("summary"), replay: $("replay") };

    this.tree = new TreeCanvas(this.el.canvas, this.model, tidyLayout(this.model.children, this.model.root));
    this.details = new DetailsPanel(this.el.details, this);
    this.tree.view = this.frameView();
    this.header();
    this.legend();
    this.controls();
    this.canvasEvents();
    this.details.clear();
    new ResizeObserver(() => this.tree.resize()).observe(this.el.canvas);
    this.tree.resize();
    this.tree.fit();
    this.setStep(this.lastStep);
  }

  payload(i) {
    const p = this.model.nodes[i].payload;
    return p && typeof p === "object" ? p : {};
  }

  /* A node's state at the current step: the tree document's at the last step, else the replay's. */
  stateAt(i) {
    const node = this.model.nodes[i];
    const payload = this.payload(i);
    const versions = Array.isArray(payload.versions) ? payload.versions.length : 1;
    if (this.step >= this.lastStep) {
      const num = (v) => (isNumber(v) ? v : null);
      return { exists: true, visits: num(node.visits), q_mean: num(node.q_mean), q_max: num(node.q_max),
        in_flight: num(node.in_flight), superseded: node.superseded === true, value: num(payload.value), versions };
    }
    return { exists: this.replay.exists[i] === 1, ...this.replay.stats(i), versions: this.replay.versions[i] };
  }

  frameView() {
    const app = this;
    return {
      get selected() { return app.selected; },
      get matches() { return app.matches; },
      get touched() { return app.touched; },
      exists: (i) => app.step >= app.lastStep || app.replay.exists[i] === 1,
      superseded: (i) => (app.step >= app.lastStep ? app.model.nodes[i].superseded === true : app.replay.superseded[i] === 1),
      // Ringed: the leaves whose expansion is pending (their ancestors count it too, as in the engine).
      inFlight: (i) => app.step < app.lastStep &&
        app.replay.inFlight[i] > app.model.children[i].reduce((sum, j) => sum + app.replay.inFlight[j], 0),
      dim: (i) => !app.passesFilters(i),
      fill: (i) => app.fillOf(i),
      label: (i) => {
        const v = COLOUR_BY.value(app.stateAt(i));
        return `#${app.model.nodes[i].id}` + (isNumber(v) ? ` ${v.toFixed(2)}` : "");
      },
    };
  }

  fillOf(i) {
    const v = COLOUR_BY[this.colourBy](this.stateAt(i), this, i);
    return isNumber(v) ? rampColour(this.palette.stops, v) : this.palette.none;
  }

  passesFilters(i) {
    return !this.hiddenKinds.has(this.model.kind[i]) && STATUS_FILTERS[this.statusFilter](this, i);
  }

  // ------------------------------------------------------------------ actions
  select(i, reveal) {
    this.selected = i;
    if (i >= 0) {
      this.details.show(i);
      if (reveal) this.tree.reveal(i);
    } else {
      this.details.clear();
    }
    this.tree.invalidate();
  }

  setStep(k) {
    this.step = Math.max(0, Math.min(this.lastStep, k));
    if (this.step < this.lastStep) this.replay.seek(this.step);
    const event = this.step > 0 ? this.model.events[this.step - 1] : null;
    this.touched = new Set(event && this.step < this.lastStep
      ? eventNodes(event).map((id) => this.model.index.get(id)).filter((i) => i !== undefined) : []);
    this.el.slider.value = String(this.step);
    this.el.stepLabel.textContent = this.lastStep === 0 ? "no events.jsonl: nothing to replay"
      : `step ${this.step} of ${this.lastStep}` + (event ? `: ${describeEvent(event)}` : ": before the first event") +
        (this.step === this.lastStep ? " (final tree)" : "");
    if (this.selected >= 0) this.details.show(this.selected);
    this.tree.invalidate();
    this.updateShown();
  }

  goToStep(k) {
    this.stopPlaying();
    this.setStep(k);
  }

  updateShown() {
    let existing = 0;
    for (let i = 0; i < this.model.n; i++) if (this.tree.view.exists(i)) existing++;
    this.el.shown.textContent = `${existing} of ${this.model.n} nodes` + (this.matches.size ? ` · ${this.matches.size} match` : "");
    this.el.shown.dataset.shown = String(existing);
    this.el.shown.dataset.total = String(this.model.n);
  }

  search(query) {
    const q = query.trim().toLowerCase();
    this.matches = new Set();
    if (q) {
      const id = /^#?(\d+)$/.exec(q);
      if (id) {
        const i = this.model.index.get(Number(id[1]));
        if (i !== undefined) this.matches.add(i);
      }
      if (!q.startsWith("#")) {
        this.textIndex ||= this.model.nodes.map((node, i) =>
          `${this.model.kind[i]}\n${collectStrings(node.payload, []).join("\n")}`.toLowerCase());
        this.textIndex.forEach((text, i) => { if (text.includes(q)) this.matches.add(i); });
      }
    }
    this.matchList = [...this.matches].sort((a, b) => a - b);
    this.matchCursor = -1;
    this.el.searchCount.textContent = q ? `${this.matches.size} match${this.matches.size === 1 ? "" : "es"}` : "";
    this.updateShown();
    this.tree.invalidate();
  }

  nextMatch(direction) {
    if (!this.matchList.length) return;
    const len = this.matchList.length;
    this.matchCursor = (this.matchCursor + direction + len) % len;
    const i = this.matchList[this.matchCursor];
    this.el.searchCount.textContent = `${this.matchCursor + 1}/${len} matches`;
    this.select(i, false);
    this.tree.centerOn(i, true);
  }

  stopPlaying() {
    clearInterval(this.timer);
    this.timer = null;
    this.el.play.textContent = "▶";
  }

  togglePlay() {
    if (this.timer) return this.stopPlaying();
    if (this.step >= this.lastStep) this.setStep(0);
    const stride = Math.max(1, Math.ceil(this.lastStep / 400));
    this.el.play.textContent = "❚❚";
    this.timer = setInterval(() => {
      this.setStep(this.step + stride);
      if (this.step >= this.lastStep) this.stopPlaying();
    }, 80);
  }

  // ------------------------------------------------------------------ building the page
  header() {
    const result = (this.data.run && this.data.run.result) || {};
    const config = (this.data.run && this.data.run.config) || {};
    this.el.title.textContent = this.data.title;
    const facts = [];
    if ("solved" in result) facts.push(result.solved ? "solved on the visible tests" : "not solved");
    if (result.stopped_because) facts.push(`stopped: ${result.stopped_because}`);
    const model = result.model || config.model;
    if (model) facts.push(`model ${model}` + (model === "sim" ? " (simulated coder)" : ""));
    if (result.strategy || config.strategy) facts.push(`strategy ${result.strategy || config.strategy}`);
    const stats = result.stats || {};
    if (isNumber(stats.llm_calls)) facts.push(`${stats.llm_calls} LLM calls`);
    if (isNumber(stats.executions)) facts.push(`${stats.executions} executions`);
    if (isNumber(stats.rethinks_tried)) facts.push(`rethinks ${stats.rethinks_tried} (helped ${stats.rethinks_helped ?? 0})`);
    this.el.summary.textContent = facts.join(" · ");
  }

  legend() {
    const kinds = [...new Set(this.model.kind)].sort((a, b) => {
      const ka = KNOWN_KINDS.indexOf(a), kb = KNOWN_KINDS.indexOf(b);
      return (ka < 0 ? 99 : ka) - (kb < 0 ? 99 : kb) || a.localeCompare(b);
    });
    const counts = {};
    for (const k of this.model.kind) counts[k] = (counts[k] || 0) + 1;
    for (const kind of kinds) {
      const icon = el("canvas", { width: "16", height: "16", class: "icon" });
      const ctx = icon.getContext("2d");
      shapePath(ctx, kind, 8, 8, 5);
      ctx.fillStyle = "#ffffff";
      ctx.fill();
      ctx.strokeStyle = COLOURS.outline;
      ctx.stroke();
      const box = el("input", { type: "checkbox", "data-kind": kind });
      box.checked = true;
      box.addEventListener("change", () => {
        if (box.checked) this.hiddenKinds.delete(kind); else this.hiddenKinds.add(kind);
        this.tree.invalidate();
      });
      this.el.kinds.append(el("label", { class: "kind", title: `show ${kind} nodes` }, box, icon, `${kind} (${counts[kind]})`));
    }
    const ramp = el("span", { class: "ramp" });
    ramp.style.background = `linear-gradient(to right, ${this.palette.stops.join(", ")})`;
    this.el.legend.append(
      el("div", {}, "0 ", ramp, " 1 ", el("span", { class: "swatch", style: `background:${this.palette.none}` }), " no value"),
      el("div", {}, el("span", { class: "line best" }), " most visited path  ", el("span", { class: "star", text: "★" }), " final pick"),
      el("div", {}, el("span", { class: "line dashed" }), " superseded  ", el("span", { class: "ring inflight" }), " in flight  ",
        el("span", { class: "ring match" }), " search match"));
  }

  controls() {
    const { el: e } = this;
    e.search.addEventListener("input", () => this.search(e.search.value));
    e.search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") this.nextMatch(ev.shiftKey ? -1 : 1); });
    e.status.addEventListener("change", () => { this.statusFilter = e.status.value; this.tree.invalidate(); });
    e.colour.addEventListener("change", () => { this.colourBy = e.colour.value; this.tree.invalidate(); });
    e.fit.addEventListener("click", () => this.tree.fit());
    e.slider.max = String(this.lastStep);
    e.slider.addEventListener("input", () => { this.stopPlaying(); this.setStep(Number(e.slider.value)); });
    e.play.addEventListener("click", () => this.togglePlay());
    e.prev.addEventListener("click", () => this.goToStep(this.step - 1));
    e.next.addEventListener("click", () => this.goToStep(this.step + 1));
    if (this.lastStep === 0) for (const c of [e.slider, e.play, e.prev, e.next]) c.disabled = true;
  }

  canvasEvents() {
    const canvas = this.el.canvas;
    let drag = null;
    const local = (ev) => { const b = canvas.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; };
    canvas.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const [x, y] = local(ev);
      this.tree.zoomAt(x, y, Math.exp(-ev.deltaY * 0.0015));
    }, { passive: false });
    canvas.addEventListener("pointerdown", (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, moved: false };
      canvas.setPointerCapture(ev.pointerId);
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (drag) {
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
          drag.moved = true;
          this.tree.panBy(dx, dy);
          drag.x = ev.clientX;
          drag.y = ev.clientY;
        }
        return;
      }
      this.hover(...local(ev));
    });
    canvas.addEventListener("pointerup", (ev) => {
      if (drag && !drag.moved) {
        const i = this.tree.hit(...local(ev));
        this.select(i, false);
      }
      drag = null;
      canvas.focus();
    });
    canvas.addEventListener("pointerleave", () => { this.el.tooltip.hidden = true; });
    canvas.addEventListener("dblclick", (ev) => {
      const i = this.tree.hit(...local(ev));
      if (i >= 0) this.tree.centerOn(i, true); else this.tree.fit();
    });
    canvas.addEventListener("keydown", (ev) => this.key(ev));
  }

  hover(x, y) {
    const i = this.tree.hit(x, y);
    const tip = this.el.tooltip;
    if (i < 0) { tip.hidden = true; return; }
    const node = this.model.nodes[i];
    const line = nodeText(node).split("\n").find((l) => l.trim()) || "";
    tip.textContent = `${this.tree.view.label(i)} ${this.model.kind[i]}` + (line ? `\n${line.trim().slice(0, 160)}` : "") +
      (isNumber(node.visits) ? `\nN=${node.visits}` : "");
    tip.style.left = `${x + 14}px`;
    tip.style.top = `${y + 14}px`;
    tip.hidden = false;
  }

  key(ev) {
    const { model } = this;
    const i = this.selected;
    const exists = (j) => j !== undefined && j >= 0 && this.tree.view.exists(j);
    let next = -2;
    if (ev.key === "f" || ev.key === "F") { this.tree.fit(); return; }
    if (ev.key === "Escape") next = -1;
    else if (i < 0 && ev.key.startsWith("Arrow")) next = model.root;
    else if (ev.key === "ArrowUp") next = model.parent[i];
    else if (ev.key === "ArrowDown") {
      const kids = model.children[i].filter(exists);
      next = kids.find((j) => model.bestPath.has(j)) ?? kids[0];
    } else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
      const p = model.parent[i];
      const sibs = p < 0 ? [i] : model.children[p].filter(exists);
      next = sibs[sibs.indexOf(i) + (ev.key === "ArrowLeft" ? -1 : 1)];
    }
    if (next === -2) return;
    ev.preventDefault();
    if (next === -1) this.select(-1);
    else if (exists(next)) this.select(next, true);
  }
}

function startViewer() {
  const started = performance.now();
  const data = JSON.parse(document.getElementById("treesearch-data").textContent);
  const app = new ViewerApp(data);
  const at = (id) => {
    if (!app.model.index.has(id)) throw new Error(`no node ${id}`);
    return app.model.index.get(id);
  };
  window.treesearchViewer = {
    app,
    lastStep: app.lastStep,
    drawn: () => app.tree.drawn,
    select: (id) => app.select(at(id), true),
    pagePosition: (id) => app.tree.pagePosition(at(id)),
    setStep: (k) => app.goToStep(k),
    /* Node statistics replayed from the events up to step k, by id. */
    replayedStats: (k) => {
      const replay = new Replay(app.model);
      replay.seek(k);
      return Object.fromEntries(app.model.nodes.map((node, i) => [node.id, { exists: replay.exists[i] === 1, ...replay.stats(i) }]));
    },
  };
  requestAnimationFrame(() => requestAnimationFrame(() => {  // after the first frame is drawn
    window.treesearchViewer.setupMs = performance.now() - started;
    document.body.dataset.ready = "1";
  }));
}

startViewer();
