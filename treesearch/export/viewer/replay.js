"use strict";
/* The search replayed from its events: which nodes existed after the first k events, and their
 * statistics then. It applies the same rules as the engine (treesearch.core.backup): a backprop
 * releases its selected leaves, then adds each value to every node from the evaluated one up to the
 * root (N += 1, W += v, M = max(M, v)). Seeking backwards restarts from the first event.
 *
 * Superseding and thought versions are read off the programs as they are added, not off `rethink`
 * events: the engine supersedes the failed program as soon as its replacement is added (the
 * replacement's payload names it through `superseded_by`, and its `thought_versions` say which
 * version of each thought it was written from), but logs the rethink only after evaluating the
 * replacement, which a stopping search may never finish. */

class Replay {
  constructor(model) {
    this.model = model;
    this.reset();
  }

  reset() {
    const n = this.model.n;
    this.applied = 0;
    this.exists = new Uint8Array(n);
    this.visits = new Float64Array(n);
    this.valueSum = new Float64Array(n);
    this.maxValue = new Float64Array(n).fill(-1);
    this.value = new Float64Array(n).fill(NaN);
    this.superseded = new Uint8Array(n);
    this.inFlight = new Float64Array(n);
    this.versions = new Int32Array(n).fill(1);  // thought versions written so far
    this.exists[this.model.root] = 1;
  }

  seek(k) {
    if (k < this.applied) this.reset();
    while (this.applied < k) this.apply(this.model.events[this.applied++]);
  }

  apply(e) {
    const at = (id) => (isNumber(id) && this.model.index.has(id) ? this.model.index.get(id) : -1);
    const each = (ids, f) => { if (Array.isArray(ids)) for (const id of ids) { const i = at(id); if (i >= 0) f(i, id); } };
    switch (e.type) {
      case "add":
        each(e.nodes, (i) => this.added(i));
        break;
      case "evaluate":
        if (at(e.node) >= 0 && isNumber(e.value)) this.value[at(e.node)] = e.value;
        break;
      case "select":
        each(e.leaves, (i) => this.walkUp(i, (a) => { this.inFlight[a] += 1; }));
        break;
      case "error":
        if (at(e.node) >= 0) this.walkUp(at(e.node), (a) => { this.inFlight[a] = Math.max(0, this.inFlight[a] - 1); });
        break;
      case "backprop":
        each(e.selected, (i) => this.walkUp(i, (a) => { this.inFlight[a] = Math.max(0, this.inFlight[a] - 1); }));
        (e.nodes || []).forEach((id, k) => {
          const v = (e.values || [])[k];
          if (at(id) < 0 || !isNumber(v)) return;
          this.walkUp(at(id), (a) => {
            this.visits[a] += 1;
            this.valueSum[a] += v;
            if (v > this.maxValue[a]) this.maxValue[a] = v;
          });
        });
        break;
      case "stop":
        this.inFlight.fill(0);  // the engine releases whatever is still pending when it stops
        break;
      default:
        break;
    }
  }

  added(i) {
    const { model } = this;
    this.exists[i] = 1;
    for (const old of model.replaces[i]) this.superseded[old] = 1;
    const used = model.nodes[i].payload && model.nodes[i].payload.thought_versions;
    if (!Array.isArray(used)) return;
    const thoughts = [];  // the thoughts above the program, outermost first
    for (let a = model.parent[i]; a >= 0; a = model.parent[a]) if (model.kind[a] === "thought") thoughts.unshift(a);
    thoughts.forEach((t, k) => {
      if (isNumber(used[k])) this.versions[t] = Math.max(this.versions[t], used[k] + 1);
    });
  }

  walkUp(i, f) {
    for (let a = i; a >= 0; a = this.model.parent[a]) f(a);
  }

  /* The statistics of node i after the applied events, in the tree document's field names. */
  stats(i) {
    const visits = this.visits[i];
    return {
      visits,
      q_mean: visits ? this.valueSum[i] / visits : null,
      q_max: visits ? this.maxValue[i] : null,
      in_flight: this.inFlight[i],
      superseded: this.superseded[i] === 1,
      value: Number.isNaN(this.value[i]) ? null : this.value[i],
    };
  }
}
