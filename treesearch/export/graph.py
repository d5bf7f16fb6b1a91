"""The tree document (the ``tree.json`` schema) as a graph: loading and checking it, networkx, and
the few facts every drawing of a node shows.

Every exporter (DOT, ASCII, the HTML viewer) draws the same document, so a run directory, a live tree
(through :func:`treesearch.export.tree_json.tree_to_dict`), an archive or an SWE-bench trajectory are
all drawn alike. The check accepts any tree in the schema: only ``nodes``, each with an integer
``id`` and a ``parent`` (or its parent's ``children`` list), are required; missing statistics,
unknown kinds and unknown payload fields are drawn generically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from treesearch.export.events import read_events
from treesearch.tree import SelectionConfig

TREE_FILE = "tree.json"
EVENTS_FILE = "events.jsonl"

# The value colour scale of every drawing (red at 0, yellow at 0.5, green at 1), shared with the viewer.
VALUE_STOPS = ("#d73027", "#fee08b", "#1a9850")
NO_VALUE_COLOUR = "#c8c8c8"


class TreeDocumentError(ValueError):
    """A missing, unreadable or malformed tree document."""


# ---------------------------------------------------------------------- reading and checking
def check_tree_document(doc: Any, source: str = "the tree document") -> dict[str, Any]:
    """A checked copy of ``doc`` whose every node has a ``parent`` and an ordered ``children`` list
    that agree, and whose ``root`` names the single parentless node.

    A node's children keep the order of its ``children`` list; children missing from that list
    follow in id order. Raises :class:`TreeDocumentError` naming the first problem.
    """
    if not isinstance(doc, dict):
        raise TreeDocumentError(f"{source} is not a JSON object")
    raw = doc.get("nodes")
    if not isinstance(raw, list) or not raw:
        raise TreeDocumentError(f"{source} has no 'nodes' list (or it is empty)")
    nodes: dict[int, dict[str, Any]] = {}
    for position, node in enumerate(raw):
        if not isinstance(node, dict) or not _is_int(node.get("id")):
            raise TreeDocumentError(f"{source}: node #{position} is not an object with an integer 'id'")
        if node["id"] in nodes:
            raise TreeDocumentError(f"{source}: node id {node['id']} appears twice")
        nodes[node["id"]] = dict(node)

    parents: dict[int, int | None] = {}
    for node_id, node in nodes.items():
        for child in node.get("children") or ():
            if not _is_int(child) or child not in nodes:
                raise TreeDocumentError(f"{source}: node {node_id} lists an unknown child {child!r}")
            if child in parents and parents[child] != node_id:
                raise TreeDocumentError(f"{source}: node {child} is listed as a child of two nodes")
            parents[child] = node_id
    for node_id, node in nodes.items():
        if "parent" not in node:
            parents.setdefault(node_id, None)
            continue
        parent = node["parent"]
        if parent is not None and (not _is_int(parent) or parent not in nodes):
            raise TreeDocumentError(f"{source}: node {node_id} has an unknown parent {parent!r}")
        if node_id in parents and parents[node_id] != parent:
            raise TreeDocumentError(
                f"{source}: node {node_id} names parent {parent} but node {parents[node_id]} lists it as a child")
        parents[node_id] = parent

    roots = [n for n, p in parents.items() if p is None]
    if len(roots) != 1:
        raise TreeDocumentError(f"{source} must have exactly one root (a node without parent), found {len(roots)}"
                                + (f": {roots[:5]}" if roots else ""))
    root = roots[0]
    if _is_int(doc.get("root")) and doc["root"] != root:
        raise TreeDocumentError(f"{source} names root {doc['root']} but node {root} is the one without parent")

    children: dict[int, list[int]] = {n: [] for n in nodes}
    for node_id, node in nodes.items():
        children[node_id] = [c for c in node.get("children") or () if parents[c] == node_id]
    for node_id in sorted(nodes):
        parent = parents[node_id]
        if parent is not None and node_id not in children[parent]:
            children[parent].append(node_id)
    reached = [node_id for node_id, _ in _preorder(root, children)]
    if len(reached) != len(nodes):
        stray = next(n for n in nodes if n not in set(reached))
        raise TreeDocumentError(f"{source}: node {stray} is not connected to the root (a parent cycle)")

    for node_id, node in nodes.items():
        node["parent"], node["children"] = parents[node_id], children[node_id]
    best_path = [n for n in doc.get("best_path") or () if _is_int(n) and n in nodes]
    return {**doc, "root": root, "best_path": best_path, "nodes": [nodes[n] for n in reached]}


def load_tree_document(path: str | Path) -> dict[str, Any]:
    """Read and check a ``tree.json`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TreeDocumentError(f"no {path.name} at {path}") from None
    except OSError as e:
        raise TreeDocumentError(f"cannot read {path}: {e.strerror}") from None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise TreeDocumentError(f"{path} is not valid JSON: {e}") from None
    return check_tree_document(doc, str(path))


@dataclass
class RunFiles:
    """What a run directory holds for drawing its tree: the checked tree document, the events of its
    (last) search, and the run's ``config.json`` and ``result.json`` when present."""

    directory: Path
    tree: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    def selection(self) -> SelectionConfig | None:
        """The selection rule the search used: from the tree document, else from ``config.json``."""
        fields = self.tree.get("selection")
        if not isinstance(fields, dict):
            fields = ((self.config or {}).get("search") or {}).get("selection")
        if not isinstance(fields, dict):
            return None
        try:
            return SelectionConfig(**fields)
        except (TypeError, ValueError):
            return None


def load_run(path: str | Path) -> RunFiles:
    """The tree files of a run directory (or of the directory holding a given ``tree.json``)."""
    path = Path(path)
    if path.is_dir():
        directory, tree_path = path, path / TREE_FILE
    elif path.exists() or path.suffix == ".json":
        directory, tree_path = path.parent, path
    else:
        raise TreeDocumentError(f"no run directory or tree file at {path}")
    tree = load_tree_document(tree_path)
    events_path = directory / EVENTS_FILE
    events = last_search(read_events(events_path)) if events_path.is_file() else []
    return RunFiles(directory, tree, events, _optional_json(directory / "config.json"),
                    _optional_json(directory / "result.json"))


def last_search(events: list[Any]) -> list[dict[str, Any]]:
    """The events of the last search in a log (``events.jsonl`` is append-only, so a run directory
    reused by a second search holds both; its ``tree.json`` is the second one's)."""
    events = [e for e in events if isinstance(e, dict) and isinstance(e.get("type"), str)]
    starts = [i for i, e in enumerate(events) if e["type"] == "start"]
    return events[starts[-1]:] if starts else events


def _optional_json(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _preorder(root: int, children: dict[int, list[int]]) -> list[tuple[int, int]]:
    """(id, depth) of every node reachable from ``root``, parents first, siblings in order (a loop,
    not recursion: a chain of debug children can be thousands deep)."""
    order, stack = [], [(root, 0)]
    while stack:
        node, depth = stack.pop()
        order.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(children[node]))
    return order


def preorder(doc: dict[str, Any]) -> list[tuple[dict[str, Any], int]]:
    """Every node of a checked document with its depth below the root, parents before children."""
    by_id = {node["id"]: node for node in doc["nodes"]}
    return [(by_id[n], depth) for n, depth in _preorder(doc["root"], {n: by_id[n]["children"] for n in by_id})]


# ---------------------------------------------------------------------- networkx
def document_to_networkx(doc: dict[str, Any]):
    """A read-only networkx DiGraph of a tree document, shaped like
    :meth:`treesearch.tree.SearchTree.as_networkx` (every field but id/parent/children is a node
    attribute; the payload stays the document's dict); the root and best path are graph attributes."""
    import networkx as nx

    doc = check_tree_document(doc)
    graph = nx.DiGraph(root=doc["root"], best_path=doc["best_path"], schema_version=doc.get("schema_version"))
    for node in doc["nodes"]:
        graph.add_node(node["id"], **{k: v for k, v in node.items() if k not in ("id", "parent", "children")})
        if node["parent"] is not None:
            graph.add_edge(node["parent"], node["id"])
    return nx.freeze(graph)


# ---------------------------------------------------------------------- what a drawing shows of a node
def node_kind(node: dict[str, Any]) -> str:
    payload = node.get("payload")
    kind = node.get("kind") or (payload.get("kind") if isinstance(payload, dict) else None)
    return str(kind) if kind else "node"


def node_value(node: dict[str, Any]) -> float | None:
    """What the colour shows: a program's own evaluation, else the node's Q (max, then mean)."""
    payload = node.get("payload")
    candidates = [payload.get("value") if isinstance(payload, dict) else None, node.get("q_max"), node.get("q_mean")]
    return next((float(v) for v in candidates if _is_number(v)), None)


def tests_passed(node: dict[str, Any]) -> tuple[int, int] | None:
    """(passed, total) visible tests of a program, from its execution feedback."""
    payload = node.get("payload")
    feedback = payload.get("feedback") if isinstance(payload, dict) else None
    if not isinstance(feedback, dict):
        return None
    if _is_int(feedback.get("passed")) and _is_int(feedback.get("total")):
        return feedback["passed"], feedback["total"]
    tests = feedback.get("outcomes", feedback.get("tests"))  # the sandbox's per-test list, or another tool's
    if isinstance(tests, list) and all(isinstance(t, dict) for t in tests):
        return sum(bool(t.get("passed")) for t in tests), len(tests)
    return None


def node_facts(node: dict[str, Any]) -> list[str]:
    """Short facts about a node: value, tests passed, visits, Q, prior, status."""
    facts = []
    payload = node.get("payload") if isinstance(node.get("payload"), dict) else {}
    if _is_number(payload.get("value")):
        facts.append(f"v={payload['value']:.2f}")
    if (counts := tests_passed(node)) is not None:
        facts.append(f"{counts[0]}/{counts[1]} tests")
    if _is_number(node.get("visits")):
        facts.append(f"N={node['visits']:g}")
    q = node.get("q_max") if _is_number(node.get("q_max")) else node.get("q_mean")
    if _is_number(q):
        facts.append(f"Q={q:.2f}")
    if _is_number(node.get("prior")) and node.get("parent") is not None:
        facts.append(f"P={node['prior']:.2f}")
    facts += [flag for flag in ("superseded", "terminal") if node.get(flag) is True]
    return facts


def node_text(node: dict[str, Any]) -> str:
    """The node's main text: a thought's current version, a program's code, a root's problem id,
    else the first string field of an unknown payload."""
    payload = node.get("payload")
    if isinstance(payload, str):
        return payload
    if not isinstance(payload, dict):
        return ""
    for key in ("text", "code", "problem_id", "patch", "content", "summary"):
        if isinstance(payload.get(key), str):
            return payload[key]
    return next((v for k, v in payload.items() if isinstance(v, str) and k != "kind"), "")


def one_line(text: str, width: int) -> str:
    """The first non-blank line of ``text``, cut to ``width`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def value_colour(value: float | None) -> str:
    """The colour of ``value`` on :data:`VALUE_STOPS`, as ``#rrggbb``."""
    if value is None or not math.isfinite(value):
        return NO_VALUE_COLOUR
    position = min(max(value, 0.0), 1.0) * (len(VALUE_STOPS) - 1)
    low = min(int(position), len(VALUE_STOPS) - 2)
    a, b = (_rgb(VALUE_STOPS[i]) for i in (low, low + 1))
    frac = position - low
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------- selection terms
def selection_terms(doc: dict[str, Any], selection: SelectionConfig) -> dict[int, dict[str, Any]]:
    """Q, exploration term U, score and rank among its siblings of every non-root node, as the
    engine's own selection kernel computes them from the document's statistics (the state at the end
    of the search). A superseded child gets None terms (it is never selected); UCT's U of an unvisited
    child is ``"inf"``. Empty when the document has no visit statistics (a generic tree)."""
    import numpy as np

    from treesearch.core import EXPANDED, SUPERSEDED, TERMINAL, allocate, child_scores

    if not all(_is_number(node.get("visits")) for node in doc["nodes"]):
        return {}
    order = _breadth_first(doc)
    row = {node["id"]: i for i, node in enumerate(order)}
    arrays = allocate(len(order))
    for i, node in enumerate(order):
        visits = float(node["visits"])
        arrays.visits[i] = visits
        arrays.value_sum[i] = float(node["q_mean"]) * visits if _is_number(node.get("q_mean")) else 0.0
        arrays.max_value[i] = float(node["q_max"]) if _is_number(node.get("q_max")) else -1.0
        arrays.prior[i] = float(node["prior"]) if _is_number(node.get("prior")) else 0.0
        arrays.in_flight[i] = float(node["in_flight"]) if _is_number(node.get("in_flight")) else 0.0
        arrays.flags[i] = ((EXPANDED if node["children"] else 0) | (TERMINAL if node.get("terminal") else 0)
                           | (SUPERSEDED if node.get("superseded") else 0))
        if node["parent"] is not None:
            arrays.parent[i] = row[node["parent"]]
        if node["children"]:
            arrays.first_child[i] = row[node["children"][0]]
            arrays.num_children[i] = len(node["children"])
    terms: dict[int, dict[str, Any]] = {}
    for node in order:
        count = len(node["children"])
        if not count:
            continue
        q, u = np.empty(count), np.empty(count)
        child_scores(arrays, row[node["id"]], *selection.kernel_args(), q, u)
        scores = q + u
        ranked = sorted((i for i in range(count) if not math.isnan(scores[i])), key=lambda i: (-scores[i], i))
        rank = {i: r + 1 for r, i in enumerate(ranked)}
        for i, child in enumerate(node["children"]):
            terms[child] = {"q": _term(q[i]), "u": _term(u[i]), "score": _term(scores[i]),
                            "rank": rank.get(i), "of": len(ranked)}
    return terms


def _breadth_first(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes in breadth-first order, so that every node's children take contiguous rows."""
    by_id = {node["id"]: node for node in doc["nodes"]}
    out = [by_id[doc["root"]]]
    for node in out:  # the list grows as it is read: a queue
        out.extend(by_id[c] for c in node["children"])
    return out


def _term(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    return float(x) if math.isfinite(x) else "inf"
