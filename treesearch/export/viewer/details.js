"use strict";
/* The side panel for one node: where it sits, its statistics and selection terms, what it holds
 * (a thought and its superseded versions, a program with its per-test feedback and critique, or any
 * other payload shown generically) and the events that touched it. Everything from the data goes
 * in through textContent, never as HTML. */

function el(tag, props, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) node.append(kid);
  return node;
}

function fmtNumber(v, digits = 3) {
  if (v === "inf") return "∞";
  if (!isNumber(v)) return v === null || v === undefined ? "–" : String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

/* A value from the data as text: strings as they are, everything else as JSON. */
function asText(v) {
  if (typeof v === "string") return v;
  if (v === undefined) return "";
  try { return JSON.stringify(v, null, 1); } catch (e) { return String(v); }
}

function codeBlock(text, highlighter) {
  const pre = el("pre", { class: "code" });
  for (const [cls, part] of highlighter(text)) pre.append(cls ? el("span", { class: cls, text: part }) : part);
  return pre;
}

function section(title, ...kids) {
  return el("section", {}, el("h3", { text: title }), ...kids);
}

function table(rows, cls = "kv") {
  return el("table", { class: cls }, rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", {}, v))));
}

/* Any JSON value, generically: scalars inline, long or structured ones in a collapsible block. */
function genericValue(v) {
  if (v === null || typeof v !== "object") {
    const text = asText(v);
    return text.includes("\n") || text.length > 120 ? el("pre", { class: "text", text }) : el("span", { text });
  }
  const text = asText(v);
  return text.length <= 80 ? el("code", { text: JSON.stringify(v) })
    : el("details", {}, el("summary", { text: Array.isArray(v) ? `list of ${v.length}` : `${Object.keys(v).length} fields` }),
      el("pre", { class: "text", text }));
}

function genericFields(obj, skip) {
  const keys = Object.keys(obj || {}).filter((k) => !skip.has(k));
  return keys.length ? table(keys.map((k) => [k, genericValue(obj[k])])) : null;
}

class DetailsPanel {
  /* app: the ViewerApp (model, stateAt(i), step, lastStep, selection, select(i), goToStep(k)). */
  constructor(container, app) {
    this.container = container;
    this.app = app;
  }

  clear() {
    this.container.replaceChildren(el("p", { class: "hint", text: "Click a node to see what it holds. " +
      "Drag to pan, scroll to zoom, arrow keys walk the tree, F fits it in view." }));
  }

  show(i) {
    const { model } = this.app;
    const node = model.nodes[i];
    const payload = node.payload && typeof node.payload === "object" ? node.payload
      : node.payload === null || node.payload === undefined ? {} : { content: node.payload };
    const parts = [this.header(i, payload), this.path(i), this.statistics(i), this.selectionTerms(i)];
    const kind = model.kind[i];
    if (kind === "thought" || Array.isArray(payload.versions)) parts.push(...this.thought(i, payload));
    if (typeof payload.code === "string") parts.push(...this.program(payload));
    for (const key of ["patch", "diff", "model_patch"]) {
      if (typeof payload[key] === "string") parts.push(section(key, codeBlock(payload[key], highlightDiff)));
    }
    const other = genericFields(payload, PAYLOAD_SHOWN);
    if (other) parts.push(section(kind === "root" ? "problem" : "other fields", other));
    const extra = genericFields(node, NODE_SHOWN);
    if (extra) parts.push(section("other node fields", extra));
    parts.push(this.childrenList(i), this.history(i));
    this.container.replaceChildren(...parts.filter(Boolean));
    this.container.scrollTop = 0;
  }

  link(j) {
    const { model } = this.app;
    return el("a", { href: "#", class: "node-link", onclick: (e) => { e.preventDefault(); this.app.select(j, true); } },
      `#${model.nodes[j].id} ${model.kind[j]}`);
  }

  header(i, payload) {
    const { model } = this.app;
    const st = this.app.stateAt(i);
    const badges = [];
    const badge = (text, cls) => badges.push(el("span", { class: `badge ${cls}`, text }));
    if (!st.exists) badge(`not yet added at step ${this.app.step}`, "muted");
    if (model.bestPath.has(i)) badge("most visited path", "best");
    if (i === model.finalPick) badge("final pick", "best");
    if (st.superseded) badge("superseded", "muted");
    if (model.nodes[i].terminal) badge("terminal", "muted");
    if (payload.passed_all === true) badge("passes all visible tests", "pass");
    else if (payload.passed_all === false) badge("fails visible tests", "fail");
    return el("div", { class: "node-header" },
      el("h2", { text: `#${model.nodes[i].id} ${model.kind[i]}` }), el("div", { class: "badges" }, badges));
  }

  path(i) {
    const { model } = this.app;
    const chain = [];
    for (let a = model.parent[i]; a >= 0; a = model.parent[a]) chain.unshift(a);
    if (!chain.length) return null;
    return el("nav", { class: "path" }, chain.flatMap((a) => [this.link(a), " › "]), `#${model.nodes[i].id}`);
  }

  statistics(i) {
    const { model, step, lastStep } = this.app;
    const node = model.nodes[i];
    const st = this.app.stateAt(i);
    const rows = [
      ["visits N", fmtNumber(st.visits)], ["Q mean", fmtNumber(st.q_mean)], ["Q max", fmtNumber(st.q_max)],
      ["prior P", fmtNumber(node.prior)], ["in flight", fmtNumber(st.in_flight)], ["depth", fmtNumber(model.depth[i])],
    ];
    if (st.value !== null && st.value !== undefined) rows.unshift(["value", fmtNumber(st.value)]);
    const when = step < lastStep ? `statistics after step ${step} of ${lastStep}` : "statistics";
    return section(when, table(rows));
  }

  selectionTerms(i) {
    const { model } = this.app;
    const sel = this.app.selection;
    if (model.parent[i] < 0) return null;
    const t = model.terms[model.nodes[i].id];
    if (!sel || !t) return section("selection", el("p", { class: "hint", text: "The selection rule of this search was not recorded." }));
    const rule = `${sel.rule.toUpperCase()}, c = ${fmtNumber(sel.c)}` +
      (sel.rule === "pucb" ? `, c_base = ${fmtNumber(sel.c_base)}` : "") + `, Q = ${sel.q_mode}`;
    if (t.score === null) {
      return section("selection", el("p", { class: "hint", text: `Superseded: never selected again (${rule}).` }));
    }
    return section("selection at the end of the search",
      table([["Q", fmtNumber(t.q)], ["exploration U", fmtNumber(t.u)], ["score Q + U", fmtNumber(t.score)],
        ["rank among siblings", `${t.rank} of ${t.of}`], ["rule", rule]]));
  }

  thought(i, payload) {
    const versions = Array.isArray(payload.versions) ? payload.versions : [];
    const parts = [section("thought", el("pre", { class: "text", text: asText(payload.text ?? "") }))];
    if (versions.length > 1) {
      const written = this.app.stateAt(i).versions;
      parts.push(section(`versions (${payload.rethinks ?? versions.length - 1} rethinks)`,
        el("ol", { class: "versions" }, versions.map((v, k) => el("li", { class: v.superseded_because ? "superseded" : "current" },
          el("div", { class: "version-head", text: (v.superseded_because ? `superseded because: ${v.superseded_because}` : "current version")
            + (k >= written ? ` (written after step ${this.app.step})` : "") }),
          el("pre", { class: "text", text: asText(v.text) }),
          v.metadata && Object.keys(v.metadata).length ? genericValue(v.metadata) : null)))));
    }
    return parts;
  }

  program(payload) {
    const parts = [section("program", codeBlock(payload.code, highlightPython))];
    const ev = payload.evaluation;
    if (ev && typeof ev === "object") {
      const components = ev.components && typeof ev.components === "object" ? Object.entries(ev.components) : [];
      parts.push(section("evaluation",
        table([["value", fmtNumber(ev.value)], ...components.map(([k, v]) => [k, fmtNumber(v)])]),
        ev.explanation ? el("div", { class: "critique" }, el("h4", { text: "critique" }), el("pre", { class: "text", text: ev.explanation })) : null));
    }
    if (payload.feedback && typeof payload.feedback === "object") parts.push(this.feedback(payload.feedback));
    if (isNumber(payload.superseded_by) && this.app.model.index.has(payload.superseded_by)) {
      parts.push(section("replaced by", el("p", {}, "After a rethink this program was replaced by ",
        this.link(this.app.model.index.get(payload.superseded_by)), ".")));
    }
    return parts;
  }

  feedback(fb) {
    const tests = TEST_LISTS.map((key) => fb[key]).find((t) => Array.isArray(t)) || [];
    const blank = Object.keys(fb).filter((k) => fb[k] === null || fb[k] === "");  // no error, no output
    const summary = genericFields(fb, new Set([...TEST_LISTS, ...blank]));
    const head = ["#", "", "input", "expected", "actual", "error", "time"];
    const rows = [];
    tests.forEach((t, k) => {
      if (!t || typeof t !== "object") return;
      const error = t.exception_type ? `${t.exception_type}: ${t.exception_message ?? ""}`
        : t.error || (t.status && !["passed", "failed"].includes(t.status) ? t.status : "");
      rows.push(el("tr", { class: `test ${t.passed ? "pass" : "fail"}` },
        el("td", { text: String(k + 1) }), el("td", { class: "mark", text: t.passed ? "✓" : "✗" }),
        el("td", {}, el("code", { text: asText(t.input) })), el("td", {}, el("code", { text: asText(t.expected) })),
        el("td", {}, el("code", { text: asText(t.actual) })), el("td", { class: "error", text: error }),
        el("td", { text: isNumber(t.time_s) ? `${(t.time_s * 1000).toFixed(1)} ms` : "" })));
      const more = ["traceback", "trace", "stdout", "stderr"].filter((key) => t[key] && (!Array.isArray(t[key]) || t[key].length));
      const rest = genericFields(t, TEST_SHOWN);
      if (more.length || rest) {
        rows.push(el("tr", { class: "test-more" }, el("td", { colspan: String(head.length) },
          more.map((key) => el("details", {}, el("summary", { text: key }),
            el("pre", { class: "text", text: Array.isArray(t[key]) ? t[key].join("\n") : asText(t[key]) }))), rest)));
      }
    });
    return section(`execution feedback (${tests.filter((t) => t && t.passed).length}/${tests.length} tests passed)`, summary,
      tests.length ? el("table", { class: "tests" }, el("tr", {}, head.map((h) => el("th", { text: h }))), rows) : null);
  }

  childrenList(i) {
    const { model } = this.app;
    if (!model.children[i].length) return null;
    return section(`children (${model.children[i].length})`, el("ul", { class: "children" },
      model.children[i].map((j) => {
        const st = this.app.stateAt(j);
        return el("li", {}, this.link(j), ` N=${fmtNumber(st.visits)} Q=${fmtNumber(st.q_max)}` + (st.superseded ? " (superseded)" : ""));
      })));
  }

  history(i) {
    const { model } = this.app;
    const seqs = model.eventsOf[i];
    if (!seqs.length) return null;
    return section(`events (${seqs.length})`, el("ol", { class: "history" }, seqs.map((k) =>
      el("li", { class: k < this.app.step ? "" : "future" }, el("a", { href: "#", onclick: (e) => { e.preventDefault(); this.app.goToStep(k + 1); } },
        `step ${k + 1}`), ": " + describeEvent(model.events[k])))));
  }
}

const PAYLOAD_SHOWN = new Set(["kind", "text", "versions", "rethinks", "code", "evaluation", "feedback", "value",
  "passed_all", "superseded_by", "patch", "diff", "model_patch"]);
const NODE_SHOWN = new Set(["id", "parent", "children", "payload", "kind", "visits", "q_mean", "q_max", "prior",
  "in_flight", "depth", "expanded", "terminal", "superseded"]);
// Where a feedback dict keeps its per-test results: the sandbox's "outcomes", or another tool's name.
const TEST_LISTS = ["outcomes", "tests", "results", "cases"];
const TEST_SHOWN = new Set(["input", "expected", "actual", "passed", "status", "exception_type", "exception_message",
  "error", "traceback", "trace", "stdout", "stderr", "time_s"]);
