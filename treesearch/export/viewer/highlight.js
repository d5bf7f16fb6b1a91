"use strict";
/* Syntax colouring for the code panes: Python (programs) and unified diffs (patches).
 * Both return [cssClass, text] pairs; the caller builds the DOM with textContent, so code is never
 * parsed as HTML. */

const PY_KEYWORDS = new Set((
  "False None True and as assert async await break case class continue def del elif else except " +
  "finally for from global if import in is lambda match nonlocal not or pass raise return try while with yield"
).split(" "));

const PY_BUILTINS = new Set((
  "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict dir divmod enumerate " +
  "eval exec filter float format frozenset getattr globals hasattr hash hex id input int isinstance " +
  "issubclass iter len list locals map max min next object oct open ord pow print property range repr " +
  "reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip self cls " +
  "Exception ValueError TypeError KeyError IndexError RuntimeError StopIteration ZeroDivisionError " +
  "AssertionError AttributeError NotImplementedError"
).split(" "));

// One alternative per token class, tried in this order at each position.
const PY_TOKEN = new RegExp([
  String.raw`(#[^\n]*)`,                                                        // 1 comment
  String.raw`((?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|$)|"""[\s\S]*?(?:"""|$)|'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?))`, // 2 string
  String.raw`(@[A-Za-z_][\w.]*)`,                                               // 3 decorator
  String.raw`(\b(?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?[jJ]?)|\.\d[\d_]*(?:[eE][+-]?\d+)?[jJ]?)`, // 4 number
  String.raw`([A-Za-z_]\w*)`,                                                   // 5 name
].join("|"), "g");

function highlightPython(code) {
  const out = [];
  let pos = 0;
  let afterDef = false;  // the name after `def` or `class` is the one being defined
  PY_TOKEN.lastIndex = 0;
  for (let m = PY_TOKEN.exec(code); m !== null; m = PY_TOKEN.exec(code)) {
    if (m[0].length === 0) { PY_TOKEN.lastIndex++; continue; }
    if (m.index > pos) out.push(["", code.slice(pos, m.index)]);
    let cls = "";
    if (m[1] !== undefined) cls = "tok-comment";
    else if (m[2] !== undefined) cls = "tok-string";
    else if (m[3] !== undefined) cls = "tok-decorator";
    else if (m[4] !== undefined) cls = "tok-number";
    else if (afterDef) cls = "tok-defname";
    else if (PY_KEYWORDS.has(m[5])) cls = "tok-keyword";
    else if (PY_BUILTINS.has(m[5])) cls = "tok-builtin";
    afterDef = m[5] === "def" || m[5] === "class";
    out.push([cls, m[0]]);
    pos = m.index + m[0].length;
  }
  if (pos < code.length) out.push(["", code.slice(pos)]);
  return out;
}

function highlightDiff(text) {
  return text.split(/(?<=\n)/).map((line) => {
    if (/^(diff |index |--- |\+\+\+ )/.test(line)) return ["tok-diff-meta", line];
    if (line.startsWith("@@")) return ["tok-diff-hunk", line];
    if (line.startsWith("+")) return ["tok-diff-add", line];
    if (line.startsWith("-")) return ["tok-diff-del", line];
    return ["", line];
  });
}
