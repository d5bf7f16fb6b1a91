"""The import rules of pyproject.toml's [tool.importlinter] (the engine never imports a plugin, only
the application layer composes them, no sibling cycles), and no import cycle among any of the
project's modules, across its three packages, imports inside functions included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("treesearch", "policies", "value_models")


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_no_module_of_the_project_is_part_of_an_import_cycle():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    modules = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            # A package's __init__ importing its own submodules is how packages re-export, not a cycle.
            if not imported.startswith(module + "."):
                modules.add_edge(module, imported)
    tangled = [sorted(c) for c in nx.strongly_connected_components(modules) if len(c) > 1]
    assert tangled == [], tangled
