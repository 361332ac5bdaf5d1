"""Command line: ``imbalance-spark run|profile|evaluate|validate|demo|generate|packages|history``.

Thin: ``parser`` reads the arguments, ``commands`` dispatches them through a table into the
library, ``printing`` shows the results; errors become one line and a non-zero exit.
"""

from imbalance_spark.cli.commands import _parser, _spark_cause, main
from imbalance_spark.cli.parser import DEMO_CONFIG, row_count

__all__ = ["DEMO_CONFIG", "_parser", "_spark_cause", "main", "row_count"]
