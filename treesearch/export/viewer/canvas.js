"use strict";
/* Drawing the laid-out tree on a canvas, with pan, zoom and hit testing.
 *
 * Screen x is the layout x times SPACING_X, scaled by the zoom. Screen y is depth times a level gap
 * that follows the zoom too but never falls below the gap that fills the view's height: a search
 * tree is far wider than deep, and scaling both axes alike would flatten a large tree to a line.
 * Only nodes and edges inside the viewport are drawn, and zoomed far out nodes become plain
 * squares, so a tree of thousands of nodes redraws in milliseconds. Hit testing bisects the row of
 * the clicked depth. */

const SPACING_X = 22;
const SPACING_Y = 70;
const NODE_RADIUS = 7;
const COLOURS = {
  edge: "#9aa3ad", best: "#d4a017", selected: "#1f6feb", match: "#d63384", inFlight: "#f08c00",
  touched: "rgba(31, 111, 235, 0.25)", outline: "#3b434b", superseded: "#8a8f95", label: "#30363d", background: "#ffffff",
};

/* Path of a node's shape (by kind) centred at (x, y) with radius r; the legend draws with it too. */
function shapePath(ctx, kind, x, y, r) {
  ctx.beginPath();
  switch (kind) {
    case "root":  // diamond
      ctx.moveTo(x, y - r * 1.3); ctx.lineTo(x + r * 1.3, y); ctx.lineTo(x, y + r * 1.3); ctx.lineTo(x - r * 1.3, y);
      break;
    case "thought":
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      break;
    case "code":
      ctx.rect(x - r, y - r, 2 * r, 2 * r);
      break;
    case "debug":  // triangle pointing down: a repair below its program
      ctx.moveTo(x - r * 1.15, y - r * 0.9); ctx.lineTo(x + r * 1.15, y - r * 0.9); ctx.lineTo(x, y + r * 1.1);
      break;
    case "rethink":  // hexagon
      for (let k = 0; k < 6; k++) {
        const a = Math.PI / 6 + (k * Math.PI) / 3;
        ctx.lineTo(x + r * 1.1 * Math.cos(a), y + r * 1.1 * Math.sin(a));
      }
      break;
    default:  // any other kind: pentagon
      for (let k = 0; k < 5; k++) {
        const a = -Math.PI / 2 + (k * 2 * Math.PI) / 5;
        ctx.lineTo(x + r * 1.1 * Math.cos(a), y + r * 1.1 * Math.sin(a));
      }
  }
  ctx.closePath();
}

class TreeCanvas {
  constructor(canvas, model, xUnits) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.model = model;
    this.wx = Float64Array.from(xUnits, (x) => x * SPACING_X);
    this.rows = [];  // node indices per depth, sorted by x
    for (let i = 0; i < model.n; i++) (this.rows[model.depth[i]] ||= []).push(i);
    for (const row of this.rows) row.sort((a, b) => this.wx[a] - this.wx[b]);
    this.scale = 1;
    this.minGap = SPACING_Y;
    this.fitted = false;
    this.offsetX = 0;
    this.offsetY = 0;
    this.width = 0;
    this.height = 0;
    this.view = null;
    this.drawn = 0;
    this.pending = false;
  }

  resize() {
    const box = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.width = box.width;
    this.height = box.height;
    this.canvas.width = Math.max(1, Math.round(box.width * dpr));
    this.canvas.height = Math.max(1, Math.round(box.height * dpr));
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.fitted) this.fit(); else this.invalidate();
  }

  /* Whole tree in view. */
  fit() {
    let maxX = 0;
    for (const x of this.wx) maxX = Math.max(maxX, x);
    const levels = Math.max(this.rows.length - 1, 1);
    const pad = 30;
    this.minGap = Math.min(SPACING_Y * 1.5, (this.height - 2 * pad) / levels);
    this.scale = Math.min(2, (this.width - 2 * pad) / Math.max(maxX, 1), (this.height - 2 * pad) / (levels * SPACING_Y));
    this.minScale = this.scale / 2;
    this.offsetX = (this.width - maxX * this.scale) / 2;
    this.offsetY = (this.height - (this.rows.length - 1) * this.gap()) / 2;
    this.fitted = true;  // refit when the view changes size, until the user pans or zooms
    this.invalidate();
  }

  /* Screen distance between two levels. */
  gap(scale = this.scale) {
    return Math.max(SPACING_Y * scale, this.minGap);
  }

  centerOn(i, zoomIn) {
    this.fitted = false;
    if (zoomIn) this.scale = Math.max(this.scale, 1);
    this.offsetX = this.width / 2 - this.wx[i] * this.scale;
    this.offsetY = this.height / 2 - this.model.depth[i] * this.gap();
    this.invalidate();
  }

  /* Keep a node in view without moving the tree when it already is. */
  reveal(i) {
    const p = this.toScreen(i);
    if (p.x < 20 || p.y < 20 || p.x > this.width - 20 || p.y > this.height - 20) this.centerOn(i, false);
  }

  zoomAt(sx, sy, factor) {
    const scale = Math.min(8, Math.max(this.minScale || 0.001, this.scale * factor));
    this.fitted = false;
    this.offsetX = sx - ((sx - this.offsetX) * scale) / this.scale;
    this.offsetY = sy - ((sy - this.offsetY) * this.gap(scale)) / this.gap();
    this.scale = scale;
    this.invalidate();
  }

  panBy(dx, dy) {
    this.fitted = false;
    this.offsetX += dx;
    this.offsetY += dy;
    this.invalidate();
  }

  toScreen(i) {
    return { x: this.wx[i] * this.scale + this.offsetX, y: this.model.depth[i] * this.gap() + this.offsetY };
  }

  /* Page coordinates of node i (for scripted clicks). */
  pagePosition(i) {
    const box = this.canvas.getBoundingClientRect();
    const p = this.toScreen(i);
    return { x: box.left + p.x, y: box.top + p.y };
  }

  /* The existing node under a point in canvas coordinates, or -1. */
  hit(sx, sy) {
    const radius = Math.max(this.radius() * 1.4, 5);
    const depth = Math.round((sy - this.offsetY) / this.gap());
    const row = this.rows[depth];
    if (!row || Math.abs(depth * this.gap() + this.offsetY - sy) > radius) return -1;
    const wx = (sx - this.offsetX) / this.scale;
    let lo = 0, hi = row.length;  // first node with x >= wx
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.wx[row[m]] < wx) lo = m + 1; else hi = m;
    }
    let best = -1, bestDist = radius;
    for (const k of [lo - 1, lo]) {
      const i = row[k];
      if (i === undefined || !this.view.exists(i)) continue;
      const d = Math.abs(this.wx[i] * this.scale + this.offsetX - sx);
      if (d <= bestDist) { best = i; bestDist = d; }
    }
    return best;
  }

  radius() {
    return Math.max(1.5, NODE_RADIUS * this.scale);
  }

  invalidate() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { ctx, model, view } = this;
    if (!view) return;
    const w = this.width, h = this.height, s = this.scale, g = this.gap(), ox = this.offsetX, oy = this.offsetY;
    const depth = model.depth;
    const r = this.radius();
    ctx.fillStyle = COLOURS.background;  // opaque, so a dimmed node reads as pale in any export of the canvas
    ctx.fillRect(0, 0, w, h);
    const inView = (x, y) => x >= -r * 2 && x <= w + r * 2 && y >= -r * 2 && y <= h + r * 2;

    // Edges in three batches: plain, into superseded nodes (dashed), along the best path (gold).
    const plain = new Path2D(), dashed = new Path2D(), best = new Path2D();
    for (let i = 0; i < model.n; i++) {
      const p = model.parent[i];
      if (p < 0 || !view.exists(i)) continue;
      const x1 = this.wx[p] * s + ox, y1 = depth[p] * g + oy, x2 = this.wx[i] * s + ox, y2 = depth[i] * g + oy;
      if (Math.max(x1, x2) < 0 || Math.min(x1, x2) > w || y2 < 0 || y1 > h) continue;
      const path = model.bestPath.has(i) && model.bestPath.has(p) ? best : view.superseded(i) ? dashed : plain;
      path.moveTo(x1, y1);
      path.lineTo(x2, y2);
    }
    ctx.lineWidth = Math.max(0.5, Math.min(1.5, s));
    ctx.strokeStyle = COLOURS.edge;
    ctx.stroke(plain);
    ctx.setLineDash([4, 3]);
    ctx.stroke(dashed);
    ctx.setLineDash([]);
    ctx.lineWidth = Math.max(1.5, Math.min(4, 3 * s));
    ctx.strokeStyle = COLOURS.best;
    ctx.stroke(best);

    let drawn = 0;
    const small = r < 3;
    const labels = SPACING_X * s >= 50;  // room for "#1234 0.50" between siblings
    for (let i = 0; i < model.n; i++) {
      if (!view.exists(i)) continue;
      const x = this.wx[i] * s + ox, y = depth[i] * g + oy;
      if (!inView(x, y)) continue;
      drawn++;
      ctx.globalAlpha = view.dim(i) ? 0.15 : view.superseded(i) ? 0.45 : 1;
      if (small) {
        ctx.fillStyle = view.fill(i);
        ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
        continue;
      }
      if (view.touched.has(i)) {
        ctx.fillStyle = COLOURS.touched;
        ctx.beginPath(); ctx.arc(x, y, r * 2.2, 0, 2 * Math.PI); ctx.fill();
      }
      shapePath(ctx, model.kind[i], x, y, r);
      ctx.fillStyle = view.fill(i);
      ctx.fill();
      ctx.lineWidth = model.bestPath.has(i) ? 2.5 : 1;
      ctx.strokeStyle = model.bestPath.has(i) ? COLOURS.best : view.superseded(i) ? COLOURS.superseded : COLOURS.outline;
      if (view.superseded(i)) ctx.setLineDash([3, 2]);
      ctx.stroke();
      ctx.setLineDash([]);
      if (view.superseded(i)) {  // struck through
        ctx.beginPath(); ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r); ctx.stroke();
      }
      if (view.inFlight(i)) this.ring(x, y, r * 1.7, COLOURS.inFlight, [3, 3]);
      if (view.matches.has(i)) this.ring(x, y, r * 1.9, COLOURS.match, []);
      if (i === model.finalPick) this.star(x, y - r * 2.2, r * 0.8);
      if (labels) {
        ctx.fillStyle = COLOURS.label;
        ctx.font = `${Math.min(12, r * 1.1)}px system-ui, sans-serif`;
        ctx.textAlign = "center";
        ctx.textBaseline = "top";
        ctx.fillText(view.label(i), x, y + r * 1.5);
      }
    }
    ctx.globalAlpha = 1;
    if (view.selected >= 0 && view.exists(view.selected)) {
      const p = this.toScreen(view.selected);
      this.ring(p.x, p.y, Math.max(r * 1.6, 6), COLOURS.selected, [], 3);
    }
    this.drawn = drawn;
    this.canvas.dataset.drawn = String(drawn);
  }

  ring(x, y, radius, colour, dash, width = 2) {
    const ctx = this.ctx;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.setLineDash(dash);
    ctx.lineWidth = width;
    ctx.strokeStyle = colour;
    ctx.stroke();
    ctx.setLineDash([]);
  }

  star(x, y, r) {
    const ctx = this.ctx;
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? r * 0.45 : r;
      ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath();
    ctx.fillStyle = COLOURS.best;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#7a5c00";
    ctx.stroke();
  }
}
