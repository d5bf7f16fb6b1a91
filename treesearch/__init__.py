"""treesearch: Monte Carlo tree search over thoughts and code for LLM coding agents.

``import treesearch`` stays light: the search, the LLM client (litellm) and the Numba core load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "search": ("treesearch.api", "search"),
    "asearch": ("treesearch.api", "asearch"),
    "SearchResult": ("treesearch.api", "SearchResult"),
    "SearchConfig": ("treesearch.engine.state", "SearchConfig"),
    "SelectionConfig": ("treesearch.tree", "SelectionConfig"),
    "SearchTree": ("treesearch.tree", "SearchTree"),
    "Budget": ("treesearch.budget", "Budget"),
    "CodeProblem": ("treesearch.problems", "CodeProblem"),
    "TestCase": ("treesearch.problems", "TestCase"),
    "judge": ("treesearch.judgement", "judge"),
    "evolve_solution": ("treesearch.evolve.solutions", "evolve_solution"),
    "aevolve_solution": ("treesearch.evolve.solutions", "aevolve_solution"),
}

__all__ = [
    "Budget", "CodeProblem", "SearchConfig", "SearchResult", "SearchTree", "SelectionConfig", "TestCase",
    "aevolve_solution", "asearch", "evolve_solution", "judge", "search",
]

if TYPE_CHECKING:
    from treesearch.api import SearchResult, asearch, search
    from treesearch.budget import Budget
    from treesearch.engine.state import SearchConfig
    from treesearch.evolve.solutions import aevolve_solution, evolve_solution
    from treesearch.judgement import judge
    from treesearch.problems import CodeProblem, TestCase
    from treesearch.tree import SearchTree, SelectionConfig


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'treesearch' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
