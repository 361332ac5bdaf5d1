"""spark-submit entry point: ``spark-submit --packages $(imbalance-spark packages) jobs/downsample.py --config X.yaml``.

Thin: the same code path as ``imbalance-spark run`` (its flags too: ``--run-date``, ``--incremental``).
"""

import sys
from pathlib import Path

# Run from a clone without installing: put the repo root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imbalance_spark.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
