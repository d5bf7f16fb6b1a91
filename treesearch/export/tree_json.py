"""``tree.json``: the whole search tree as one JSON document.

Schema (``schema_version`` 1)::

    {"schema_version": 1, "root": 0, "best_path": [ids], "selection": {rule, c, c_base, q_mode, q_unvisited, virtual_loss},
     "nodes": [
        {"id", "parent" (null for the root), "children": [ids], "depth", "visits", "q_mean", "q_max",
         "prior", "in_flight", "expanded", "terminal", "superseded", "exhausted",
         "kind" (root | thought | code | debug | rethink), "payload": {...}}]}

A thought's payload holds every version (``versions``, the superseded ones with the feedback that
disproved them); a program's holds its code, per-test feedback and evaluation (see
:mod:`treesearch.engine.nodes`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from treesearch.export.events import event_line
from treesearch.export.files import write_atomic, write_json
from treesearch.tree import SearchTree

SCHEMA_VERSION = 1


def tree_to_dict(tree: SearchTree) -> dict[str, Any]:
    nodes = []
    for node in tree.nodes():
        payload = tree.payload.get(node)
        nodes.append({
            "id": node,
            "parent": tree.parent(node),
            "children": tree.children(node),
            **tree.stats(node),
            "kind": getattr(payload, "kind", None),
            "payload": payload.to_dict() if hasattr(payload, "to_dict") else payload,
        })
    return {"schema_version": SCHEMA_VERSION, "root": 0, "best_path": tree.best_path(),
            "selection": dataclasses.asdict(tree.selection), "nodes": nodes}


def save_tree_json(tree: SearchTree, path: str | Path) -> None:
    write_json(path, tree_to_dict(tree))


def save_tree(tree: SearchTree, directory: str | Path) -> Path:
    """``tree.json``, ``tree.html``, ``tree.dot`` and, when the tree has an event log,
    ``events.jsonl`` in ``directory``."""
    from treesearch.export.dot import tree_to_dot
    from treesearch.export.html import render_html

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = tree_to_dict(tree)
    write_json(directory / "tree.json", doc)
    write_atomic(directory / "tree.html", render_html(doc, tree.events, tree.selection).encode())
    write_atomic(directory / "tree.dot", tree_to_dot(doc).encode())
    if tree.events:
        write_atomic(directory / "events.jsonl",
                     b"".join(event_line(e) for e in tree.events))
    return directory
