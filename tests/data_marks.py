"""Skip marks for tests that need the benchmark data files (see tests/conftest.py)."""

from __future__ import annotations

import pytest

from treesearch.datasets import DatasetError, find_data_file


def data_available(name: str = "HumanEval.jsonl.gz") -> bool:
    try:
        find_data_file(name)
        return True
    except DatasetError:
        return False


needs_data = pytest.mark.skipif(not data_available(), reason="HumanEval data not found (set TREESEARCH_DATA)")
