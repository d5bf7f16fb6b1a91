"""The search tree as plain text for a terminal: one line per node.

::

    #0 root examples/two_sum  N=6 Q=1.00 *
    |-- #1 thought: iterate once, keeping the running state  N=4 Q=1.00 P=0.41 *
    |   |-- #4 code: def two_sum(nums, target):  v=0.40 2/5 tests N=0 superseded
    |   `-- #6 rethink: def two_sum(nums, target):  v=1.00 5/5 tests N=1 Q=1.00 terminal *
    `-- #2 thought: sort the input first, then scan it  N=1 Q=0.00 P=0.30

``*`` marks the most visited path. Only ASCII characters, so it survives any terminal or log file.
"""

from __future__ import annotations

from typing import Any

from treesearch.export.graph import check_tree_document, node_facts, node_kind, node_text, one_line, preorder

BEST_PATH_MARK = "*"


def tree_to_ascii(doc: dict[str, Any], width: int = 100, max_depth: int | None = None) -> str:
    """Every node of a tree document (down to ``max_depth`` when given), one line each, with the
    first line of its text cut so the line stays near ``width`` characters."""
    doc = check_tree_document(doc)
    best = set(doc["best_path"])
    is_last: dict[int, bool] = {}
    for node in doc["nodes"]:
        for i, child in enumerate(node["children"]):
            is_last[child] = i == len(node["children"]) - 1
    # The columns drawn left of a node's children: its own columns, then a bar while it has siblings below.
    columns: dict[int, str] = {}
    lines = []
    for node, depth in preorder(doc):
        parent = node["parent"]
        if parent is None:
            columns[node["id"]], branch = "", ""
        else:
            columns[node["id"]] = columns[parent] + ("    " if is_last[node["id"]] else "|   ")
            branch = columns[parent] + ("`-- " if is_last[node["id"]] else "|-- ")
        if max_depth is not None and depth > max_depth:
            continue
        head = f"{branch}#{node['id']} {node_kind(node)}"
        facts = " ".join(node_facts(node) + ([BEST_PATH_MARK] if node["id"] in best else []))
        room = width - len(head) - len(facts) - 4
        text = one_line(node_text(node), room) if room >= 8 else ""
        lines.append(f"{head}: {text}  {facts}" if text else f"{head}  {facts}")
    return "\n".join(line.rstrip() for line in lines) + "\n"

