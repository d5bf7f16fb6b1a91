"use strict";
/* The tree document as flat arrays indexed 0..n-1. The Python side hands the nodes over in
 * pre-order (parents before children), so depths fill in one pass. */

const KNOWN_KINDS = ["root", "thought", "code", "debug", "rethink"];

function nodeKind(node) {
  const payload = node.payload;
  const kind = node.kind || (payload && typeof payload === "object" ? payload.kind : null);
  return kind ? String(kind) : "node";
}

/* A node's main text, as treesearch.export.graph.node_text picks it: a thought's current version, a
 * program's code, a root's problem id, else the first string field of an unknown payload. */
function nodeText(node) {
  const payload = node.payload;
  if (typeof payload === "string") return payload;
  if (!payload || typeof payload !== "object") return "";
  for (const key of ["text", "code", "problem_id", "patch", "content", "summary"]) {
    if (typeof payload[key] === "string") return payload[key];
  }
  const other = Object.entries(payload).find(([k, v]) => typeof v === "string" && k !== "kind");
  return other ? other[1] : "";
}

function isNumber(v) {
  return typeof v === "number" && Number.isFinite(v);
}

function buildModel(data) {
  const nodes = data.tree.nodes;
  const n = nodes.length;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const parent = new Int32Array(n).fill(-1);
  const depth = new Int32Array(n);
  const children = new Array(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i];
    children[i] = node.children.map((c) => index.get(c));
    if (node.parent !== null) {
      parent[i] = index.get(node.parent);
      depth[i] = depth[parent[i]] + 1;
    }
  }
  const events = data.events || [];
  const stop = events.filter((e) => e.type === "stop").pop();
  const result = (data.run && data.run.result) || {};
  const finalId = result.best && isNumber(result.best.node_id) ? result.best.node_id : stop && stop.best;
  const model = {
    data, nodes, n, index, parent, depth, children, events,
    root: index.get(data.tree.root),
    kind: nodes.map(nodeKind),
    bestPath: new Set((data.tree.best_path || []).map((id) => index.get(id))),
    finalPick: index.has(finalId) ? index.get(finalId) : -1,
    terms: data.terms || {},
    eventsOf: new Array(n),
    replaces: nodes.map(() => []),  // the failed programs each rethought program superseded
  };
  nodes.forEach((node, i) => {
    const by = node.payload && typeof node.payload === "object" ? node.payload.superseded_by : null;
    if (index.has(by)) model.replaces[index.get(by)].push(i);
  });
  for (let i = 0; i < n; i++) model.eventsOf[i] = [];
  events.forEach((event, k) => {
    for (const id of eventNodes(event)) {
      const i = index.get(id);
      if (i !== undefined && model.eventsOf[i][model.eventsOf[i].length - 1] !== k) model.eventsOf[i].push(k);
    }
  });
  return model;
}

/* The node ids an event is about (the engine's event types; unknown types name `node`/`nodes`). */
function eventNodes(e) {
  const ids = [];
  const add = (v) => { if (isNumber(v)) ids.push(v); };
  const addAll = (vs) => { if (Array.isArray(vs)) vs.forEach(add); };
  switch (e.type) {
    case "add": add(e.parent); addAll(e.nodes); break;
    case "select": addAll(e.leaves); break;
    case "backprop": addAll(e.selected); addAll(e.nodes); break;
    case "rethink": add(e.node); add(e.thought); add(e.new_node); break;
    case "stop": add(e.best); break;
    case "discriminate": addAll(e.candidates); break;
    default: add(e.node); addAll(e.nodes);
  }
  return ids;
}

/* One line about an event, for the replay label and a node's history. */
function describeEvent(e) {
  const list = (vs) => (Array.isArray(vs) ? vs.map((v) => "#" + v).join(", ") : "");
  const num = (v) => (isNumber(v) ? v.toFixed(2) : "–");
  switch (e.type) {
    case "start": return `start: ${e.problem_id || ""} (model ${e.model || "?"}, ${e.strategy || "?"})`;
    case "select": return `select ${list(e.leaves)}` + (e.collisions ? ` (${e.collisions} collisions)` : "");
    case "propose": return `propose ${e.got}/${e.asked} ${e.kind} at #${e.node}`;
    case "add": return `add ${e.kind} ${list(e.nodes)} under #${e.parent}`;
    case "evaluate": return `evaluate #${e.node}: value ${num(e.value)}, ${e.passed}/${e.total} tests (${e.status})`;
    case "rethink":
      return e.verdict === "thought"
        ? `rethink #${e.node}: rewrote thought #${e.thought} (v${e.version}), new program #${e.new_node} ` +
          `${num(e.old_value)} → ${num(e.new_value)}${e.helped ? " (helped)" : ""}`
        : `rethink #${e.node}: the code, not the plan, is wrong`;
    case "backprop": return `backprop ${list(e.nodes)} values ${(e.values || []).map(num).join(", ")}`;
    case "empty_expansion": return `empty expansion at #${e.node} (dead end)`;
    case "error": return `error at #${e.node}: ${String(e.error || "").slice(0, 120)}`;
    case "discriminate": return `discriminator chose #${e.chosen} among ${list(e.candidates)}`;
    case "stop": return `stop: ${e.reason}` + (isNumber(e.best) ? `, final pick #${e.best}` : "");
    default: return e.type + (isNumber(e.node) ? ` #${e.node}` : "");
  }
}
