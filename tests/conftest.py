"""Test-wide setup: where the benchmark data is.

The data files are not part of the project. CI sets ``TREESEARCH_DATA``; in a checkout beside the
workplace's ``shared/`` folder the tests find it there too. Tests that need data and find none skip,
saying where they looked.
"""

from __future__ import annotations

import os
from pathlib import Path

_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

if not os.environ.get("TREESEARCH_DATA") and _SHARED_DATA.is_dir():
    os.environ["TREESEARCH_DATA"] = str(_SHARED_DATA)
