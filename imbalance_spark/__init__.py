"""imbalance-spark: downsample-and-upweight imbalanced classification tables.

Flow: config -> read -> profile -> plan -> transform -> write -> report.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imbalance-spark")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
