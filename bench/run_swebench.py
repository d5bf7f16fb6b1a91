"""The SWE-bench runner as a script: the same code as ``treesearch swebench`` (see
:mod:`treesearch.swebench.cli` for the options and :mod:`treesearch.swebench.runner` for the output).

    python bench/run_swebench.py --instances data/SWE-bench_Lite-test.json --limit 5 \
        --repos-dir repos/ --model sim --out runs/swebench-sim
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from treesearch.swebench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
