"""The offline interactive viewer: one self-contained HTML file per search tree.

The page holds everything inline — the viewer's CSS and JavaScript (``viewer/``) and the data: the
checked tree document, the events of the search, the selection terms of every node and the run's
config and result — and its Content-Security-Policy forbids every network request, so it opens the
same from a laptop, an archive or a CI artifact. The JavaScript lays the tree out (a tidy tree on a
canvas, fit for thousands of nodes), shows a clicked node's thought or code (coloured by a small
built-in highlighter), per-test feedback, critique and statistics, replays the search step by step
from the events, and searches and filters nodes by kind and status.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from treesearch.export.files import write_atomic
from treesearch.export.graph import (
    NO_VALUE_COLOUR,
    VALUE_STOPS,
    check_tree_document,
    last_search,
    load_run,
    selection_terms,
)
from treesearch.tree import SelectionConfig

VIEWER_FILE = "tree.html"
# The viewer's scripts, in the order they are inlined (each uses only those before it).
SCRIPTS = ("highlight.js", "layout.js", "model.js", "replay.js", "canvas.js", "details.js", "app.js")
_SLOT = re.compile(r"\{\{(title|style|script|data)\}\}")


def render_html(
    tree: dict[str, Any],
    events: Sequence[dict[str, Any]] = (),
    selection: SelectionConfig | None = None,
    run: dict[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """The viewer page for a tree document (any tree in the ``tree.json`` schema).

    events: the search's event log (``events.jsonl``), for the replay slider; only the last search in
    it is used. selection: the rule the search selected with, for each node's selection terms (none
    shown without it). run: ``{"config": ..., "result": ...}`` of the run directory, for the header.
    """
    tree = check_tree_document(tree)
    run = run or {}
    if title is None:
        title = str((run.get("result") or {}).get("problem_id") or _root_title(tree))
    data = {
        "title": title,
        "tree": tree,
        "events": last_search(list(events)),
        "selection": None if selection is None else {**dataclasses.asdict(selection), "c": selection.constant},
        "terms": {} if selection is None else selection_terms(tree, selection),
        "run": run,
        "palette": {"stops": VALUE_STOPS, "none": NO_VALUE_COLOUR},
    }
    slots = {
        "title": html.escape(title),
        "style": _read("viewer.css"),
        "script": "\n".join(_read(name) for name in SCRIPTS),
        "data": _inline_json(data),
    }
    return _SLOT.sub(lambda m: slots[m.group(1)], _read("viewer.html"))


def write_viewer(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the viewer of a run directory (its ``tree.json``, ``events.jsonl``, ``config.json`` and
    ``result.json``) to ``out``, by default ``run_dir/tree.html``; returns the path written.
    Raises :class:`treesearch.export.graph.TreeDocumentError` for a missing or malformed tree.json."""
    files = load_run(run_dir)
    page = render_html(files.tree, files.events, files.selection(),
                       {"config": files.config, "result": files.result})
    path = Path(out) if out is not None else files.directory / VIEWER_FILE
    write_atomic(path, page.encode())
    return path


def _read(name: str) -> str:
    return resources.files("treesearch.export.viewer").joinpath(name).read_text(encoding="utf-8")


def _inline_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: every ``<`` is escaped (``\\u003c``), so no
    string in the data (a program printing ``</script>``, say) can end the element early."""
    data = orjson.dumps(value, default=repr, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return data.decode().replace("<", "\\u003c")


def _root_title(tree: dict[str, Any]) -> str:
    root = next(node for node in tree["nodes"] if node["id"] == tree["root"])
    payload = root.get("payload")
    return str(payload.get("problem_id") or "search tree") if isinstance(payload, dict) else "search tree"
