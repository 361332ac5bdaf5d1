"""``python -m imbalance_spark.cli``: the console script."""

import sys

from imbalance_spark.cli.commands import main

if __name__ == "__main__":  # importing the module (a package walk) runs nothing
    sys.exit(main())
