"""``treesearch view RUN_DIR``: draw the search tree of a run directory.

``--format html`` (the default) writes the interactive viewer, ``svg``/``png`` a Graphviz drawing
(these three to ``RUN_DIR/tree.<format>`` unless ``-o`` says otherwise); ``dot``, ``json`` (the
checked tree document) and ``ascii`` print to stdout unless ``-o`` names a file. RUN_DIR may also be
a ``tree.json`` file. A missing or malformed tree.json, or a missing Graphviz for svg/png, ends with
one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

FORMATS = ("html", "svg", "png", "dot", "json", "ascii")
FILE_FORMATS = ("html", "svg", "png")  # written to RUN_DIR/tree.<format> by default


def add_view_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``view`` subcommand on ``subparsers`` (from ``add_subparsers``)."""
    view = subparsers.add_parser(
        "view", help="draw a run's search tree (interactive HTML, SVG, PNG, DOT, JSON, ASCII)",
        description="Draw the search tree of a run directory. html (the default), svg and png are written to "
                    "RUN_DIR/tree.<format> unless -o names a file; dot, json (the checked tree document) and ascii "
                    "print to stdout unless -o names a file.")
    view.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory holding tree.json (or the file)")
    view.add_argument("--format", default="html", choices=FORMATS)
    view.add_argument("-o", "--output", type=Path, help="the file to write")
    view.add_argument("--width", type=int, default=120, help="line width of --format ascii")
    view.set_defaults(run=run_view)
    return view


def run_view(args: argparse.Namespace) -> int:
    from treesearch.export.dot import GraphvizMissing
    from treesearch.export.graph import TreeDocumentError

    try:
        written = _export(args.run_dir, args.format, args.output, args.width)
    except (TreeDocumentError, GraphvizMissing) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if written is not None:
        print(written)
    return 0


def _export(run_dir: Path, fmt: str, output: Path | None, width: int) -> Path | None:
    """Write the drawing; returns the file written, or None when it went to stdout."""
    from treesearch.export.files import write_atomic
    from treesearch.export.graph import load_run

    if fmt == "html":
        from treesearch.export.html import write_viewer

        return write_viewer(run_dir, output)
    files = load_run(run_dir)
    data = _render(files.tree, fmt, width)
    if output is None and fmt in FILE_FORMATS:
        output = files.directory / f"tree.{fmt}"
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return None
    write_atomic(output, data)
    return output


def _render(tree: dict[str, Any], fmt: str, width: int) -> bytes:
    if fmt in ("svg", "png"):
        from treesearch.export.dot import render_image

        return render_image(tree, fmt)
    if fmt == "dot":
        from treesearch.export.dot import tree_to_dot

        return tree_to_dot(tree).encode()
    if fmt == "ascii":
        from treesearch.export.ascii import tree_to_ascii

        return tree_to_ascii(tree, width=width).encode()
    return orjson.dumps(tree, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=repr) + b"\n"
