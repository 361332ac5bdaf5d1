"""Reproducible draws: a uniform in [0, 1) from a 64-bit hash of columns, the same row anywhere."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

_2_53 = float(2**53)


def hash_to_uniform(*columns: Column) -> Column:
    """A uniform in [0, 1) from ``xxhash64(columns)``: its top 53 bits over 2^53 (exact in a double)."""
    return F.shiftrightunsigned(F.xxhash64(*columns), 11).cast("double") / F.lit(_2_53)
