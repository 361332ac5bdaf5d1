"""``python -m imbalance_spark.cli``: the console script."""

import sys

from imbalance_spark.cli.commands import main

sys.exit(main())
