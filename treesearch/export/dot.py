"""The search tree as Graphviz DOT text, and as SVG or PNG through the ``dot`` program.

Node shape says the kind (root: house, thought: ellipse, code: box, debug: rounded box, rethink:
hexagon, anything else: note), fill colour the value (red 0, yellow 0.5, green 1, grey before any
value), a dashed grey outline a superseded node; the most visited path is drawn in thick gold. The
tooltip of a node (shown by SVG viewers) holds its text.
"""

from __future__ import annotations

import shutil
from typing import Any

from treesearch.export.graph import (
    check_tree_document,
    node_facts,
    node_kind,
    node_text,
    node_value,
    one_line,
    value_colour,
)

IMAGE_FORMATS = ("svg", "png")
SHAPES = {"root": ("house", ""), "thought": ("ellipse", ""), "code": ("box", ""), "debug": ("box", "rounded"),
          "rethink": ("hexagon", "")}
OTHER_SHAPE = ("note", "")
BEST_PATH_COLOUR = "#d4a017"
LABEL_WIDTH = 32
TOOLTIP_CHARS = 600


class GraphvizMissing(RuntimeError):
    """The Graphviz ``dot`` program is not installed."""


def tree_to_dot(doc: dict[str, Any], name: str = "search_tree") -> str:
    """DOT text for a tree document (any tree in the ``tree.json`` schema)."""
    doc = check_tree_document(doc)
    best = doc["best_path"]
    best_edges = set(zip(best, best[1:]))
    lines = [
        f"digraph {_quote(name)} {{",
        '  graph [rankdir=TB, nodesep=0.25, ranksep=0.5, fontname="Helvetica"];',
        '  node [style=filled, fontname="Helvetica", fontsize=10, penwidth=1];',
        '  edge [arrowsize=0.6, color="#888888"];',
    ]
    for node in doc["nodes"]:
        kind = node_kind(node)
        shape, extra_style = SHAPES.get(kind, OTHER_SHAPE)
        style = ",".join(s for s in ("filled", extra_style, "dashed" if node.get("superseded") else "") if s)
        text = one_line(node_text(node), LABEL_WIDTH)
        label = "\n".join(part for part in (f"#{node['id']} {kind}", text, " ".join(node_facts(node))) if part)
        attrs = {
            "label": label, "shape": shape, "style": style, "fillcolor": value_colour(node_value(node)),
            "tooltip": node_text(node)[:TOOLTIP_CHARS] or label,
        }
        if node.get("superseded"):
            attrs |= {"color": "#888888", "fontcolor": "#555555"}
        if node["id"] in best:
            attrs |= {"color": BEST_PATH_COLOUR, "penwidth": "3"}
        lines.append(f"  {node['id']} [{_attributes(attrs)}];")
    for node in doc["nodes"]:
        for child in node["children"]:
            attrs = {"color": BEST_PATH_COLOUR, "penwidth": "3"} if (node["id"], child) in best_edges else {}
            lines.append(f"  {node['id']} -> {child}" + (f" [{_attributes(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_image(doc: dict[str, Any], fmt: str) -> bytes:
    """The tree drawn by Graphviz as ``svg`` or ``png`` bytes; :class:`GraphvizMissing` when the
    ``dot`` program is not installed."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; choose one of {', '.join(IMAGE_FORMATS)}")
    import graphviz

    if shutil.which("dot") is None:
        raise GraphvizMissing(
            f"drawing {fmt.upper()} needs the Graphviz 'dot' program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz); "
            "--format dot writes the DOT text without it")
    try:
        return graphviz.Source(tree_to_dot(doc)).pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise GraphvizMissing(f"the Graphviz 'dot' program could not be run: {e}") from None


def _attributes(attrs: dict[str, str]) -> str:
    return ", ".join(f"{key}={_quote(value)}" for key, value in attrs.items())


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as centred line breaks."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'
