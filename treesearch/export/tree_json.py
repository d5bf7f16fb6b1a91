"""``tree.json``: the whole search tree as one JSON document.

Schema (``schema_version`` 1)::

    {"schema_version": 1, "root": 0, "best_path": [ids], "nodes": [
        {"id", "parent" (null for the root), "children": [ids], "depth", "visits", "q_mean", "q_max",
         "prior", "in_flight", "expanded", "terminal", "superseded",
         "kind" (root | thought | code | debug | rethink), "payload": {...}}]}

A thought's payload holds every version (``versions``, the superseded ones with the feedback that
disproved them); a program's holds its code, per-test feedback and evaluation (see
:mod:`treesearch.engine.nodes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

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
    return {"schema_version": SCHEMA_VERSION, "root": 0, "best_path": tree.best_path(), "nodes": nodes}


def save_tree_json(tree: SearchTree, path: str | Path) -> None:
    write_json(path, tree_to_dict(tree))


def save_tree(tree: SearchTree, directory: str | Path) -> Path:
    """``tree.json`` and, when the tree has an event log, ``events.jsonl`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_tree_json(tree, directory / "tree.json")
    if tree.events:
        write_atomic(directory / "events.jsonl",
                     b"".join(orjson.dumps(e, default=repr, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for e in tree.events))
    return directory
