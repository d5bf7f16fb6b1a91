"""Benchmark data: HumanEval, HumanEval+ and MBPP as :class:`~treesearch.problems.CodeProblem` lists.

One module per concern, none importing this package's ``__init__``:

* :mod:`~treesearch.datasets.files`: finding the pinned data files, downloading missing ones.
* :mod:`~treesearch.datasets.docstring_tests`: a function's docstring examples as visible tests.
* :mod:`~treesearch.datasets.humaneval`: HumanEval and HumanEval+ with their visible/hidden split.
* :mod:`~treesearch.datasets.mbpp`: sanitized MBPP with its visible/hidden split.

The names other code uses are re-exported here, so ``treesearch.datasets.load_humaneval`` and
``from treesearch.datasets import DatasetError`` keep working.
"""

from treesearch.datasets.docstring_tests import docstring_examples
from treesearch.datasets.files import (
    DATA_FILES,
    ENV_VAR,
    DatasetError,
    data_file,
    fetch_data_file,
    find_data_file,
    user_data_dir,
)
from treesearch.datasets.humaneval import HUMANEVAL_BAD_EXAMPLES, load_humaneval
from treesearch.datasets.mbpp import load_mbpp

__all__ = [
    "DATA_FILES",
    "ENV_VAR",
    "HUMANEVAL_BAD_EXAMPLES",
    "DatasetError",
    "data_file",
    "docstring_examples",
    "fetch_data_file",
    "find_data_file",
    "load_humaneval",
    "load_mbpp",
    "user_data_dir",
]
