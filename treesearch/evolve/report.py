"""What an evolution run leaves behind: the lineage as ``tree.json`` + ``tree.html`` (the viewer of
:mod:`treesearch.export.html`, one node per variant with its scores and the change that made it),
``config.json`` and ``result.json``, and the archive as a printed table and an ASCII lineage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from treesearch.archive import Archive, Stage, Variant
from treesearch.export.files import write_json


def write_views(archive: Archive, out: Path, title: str, stages: Sequence[Stage], config: dict[str, Any],
                result: dict[str, Any]) -> dict[str, Any]:
    """Write ``tree.json``, ``config.json``, ``result.json`` and ``tree.html`` into ``out``; returns
    the tree document. ``result["best"]["node_id"]`` (a variant id) is marked as the final pick."""
    from treesearch.export.html import write_viewer

    doc = archive.tree_document(title, [s.name for s in stages])
    write_json(out / "tree.json", doc)
    write_json(out / "config.json", config)
    write_json(out / "result.json", result)
    write_viewer(out)
    return doc


def archive_table(archive: Archive, stages: Sequence[Stage], best: Variant | None,
                  describe: Callable[[Variant], str], title: str) -> Any:
    """A rich table: one row per variant with its parent, generation, scores per stage (every
    evaluation, and the mean when re-evaluated), children, status and change."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    for column in ("id", "parent", "gen", *[s.name for s in stages], "kids", "status", "variant / change"):
        table.add_column(column, justify="right" if column in ("id", "parent", "gen", "kids") else "left",
                         overflow="fold")
    for v in archive.variants():
        cells = [format_scores(v.scores[k]) if k < v.level else "-" for k in range(len(stages))]
        mark = " (best)" if best is not None and v.id == best.id else ""
        status = v.status if v.status != "failed" else f"failed: {v.reason}"
        table.add_row(f"#{v.id}{mark}", "-" if v.parent is None else f"#{v.parent}", str(v.generation), *cells,
                      str(v.children), Text(status), Text(f"{describe(v)}\n{v.change}"))
    return table


def format_scores(scores: Sequence[float]) -> str:
    """``0.8`` for one evaluation, ``0.8, 0.7 = 0.75`` for several."""
    shown = ", ".join(f"{s:.4g}" for s in scores)
    return shown if len(scores) == 1 else f"{shown} = {sum(scores) / len(scores):.4g}"


def lineage(doc: dict[str, Any], width: int = 120) -> str:
    """The lineage as ASCII (one line per variant: its change and its score as ``v=``)."""
    from treesearch.export.ascii import tree_to_ascii

    return tree_to_ascii(doc, width=width)
