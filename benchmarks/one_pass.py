"""Can a persisted sample replace the profile pass? Warm, in one JVM, side by side.

    .venv/bin/python -m benchmarks.one_pass --input /path/to/delta_table [--repeat 3] [--out results/one-pass.json]

The job checks its guards (every minority row kept, each majority class's kept count within
sigmas of N/F) before it commits, so it needs the kept counts per class before the write. It gets
them from the profile, a label-only pass that also predicts the sampler's kept rows. The
alternative is one pass: sample, persist the sample, count it, then write it from the cache.
Variants, each timed after an untimed warm-up of all of them, repetitions interleaved:

- ``profile_then_write``: what the job does (the library's profile, then sample and write);
- ``persist_memory`` / ``persist_disk``: sample -> persist (MEMORY_AND_DISK / DISK_ONLY) ->
  count per class -> write from the cache;
- ``write_only``: sample and write with no counts at all (what neither design can go below).

The input must be a Delta table with an integer label ``is_fraud`` (minority 1) partitioned by
``event_date``, as ``python -m benchmarks.cold`` generates; factor 20.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LABEL, DATE, FACTOR, SEED = "is_fraud", "event_date", 20, 7


def designs(df, cfg, out: Path) -> dict[str, Callable[[], None]]:
    """The four designs, each a function that samples ``df`` and writes the sample to ``out``."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from imbalance_spark.plan import plan_sampling
    from imbalance_spark.profile import profile_classes
    from imbalance_spark.transform import sample_input

    fractions = {0: 1.0 / FACTOR, 1: 1.0}

    def write(sample) -> None:
        sample.withColumn("example_weight", F.lit(1.0)).write.format("delta").mode("overwrite").partitionBy(
            DATE).save(str(out))

    def profile_then_write() -> None:
        plan = plan_sampling(profile_classes(df, cfg), cfg)
        write(sample_input(df, cfg, plan))

    def persisted(level) -> None:
        sample = df.sampleBy(LABEL, fractions, SEED).persist(level)
        {r[0]: r[1] for r in sample.groupBy(LABEL).count().collect()}  # the guards' kept counts
        write(sample)
        sample.unpersist(blocking=True)

    return {
        "profile_then_write": profile_then_write,
        "persist_memory": lambda: persisted(StorageLevel.MEMORY_AND_DISK),
        "persist_disk": lambda: persisted(StorageLevel.DISK_ONLY),
        "write_only": lambda: write(df.sampleBy(LABEL, fractions, SEED)),
    }


def time_designs(
    variants: dict[str, Callable[[], None]], repeat: int, out: Path, warmup: bool = True
) -> dict[str, list[float]]:
    """An untimed warm-up of every design (JIT, code generation; unless not ``warmup``), then
    ``repeat`` interleaved rounds."""
    for run in variants.values() if warmup else ():
        run()
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for rep in range(repeat):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(round(time.perf_counter() - t0, 2))
    return times


def measure(spark: SparkSession, input_path: str, repeat: int, warmup: bool = True) -> dict:
    """Time the four designs on the Delta table at ``input_path`` in ``spark``; the result's JSON.

    ``warmup=False`` (``--no-warmup``) skips the untimed warm-up round: the first timed round then
    includes the JIT and code generation (half the work, for a smoke test)."""
    from imbalance_spark.config.load import parse_config

    work = Path(tempfile.mkdtemp(prefix="one-pass-"))
    cfg = parse_config({
        "dataset": "one_pass", "input": {"path": input_path, "format": "delta"}, "label_column": LABEL,
        "minority_classes": [1], "downsampling": {"factor": FACTOR, "seed": SEED},
        "output": {"path": str(work / "out"), "partition_by": [DATE]},
    })
    df = spark.read.format("delta").load(input_path)
    try:
        times = time_designs(designs(df, cfg, work / "out"), repeat, work / "out", warmup)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"input": input_path, "rows": df.count(), "factor": FACTOR, "repeat": repeat, "warmup": warmup,
            "seconds": times,
            "median_s": {k: statistics.median(v) for k, v in times.items()}}


def main(argv: list[str] | None = None) -> int:
    """Time the four designs on ``--input``; print (and with ``--out`` write) the JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.one_pass", description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="Delta table (is_fraud label, partitioned by event_date)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON file for the timings")
    p.add_argument("--no-warmup", action="store_true", help="no untimed warm-up round (a smoke run)")
    args = p.parse_args(argv)

    from imbalance_spark.session import build_spark_session

    spark = build_spark_session(master="local[2]", app_name="one-pass", conf={"spark.ui.enabled": "false"})
    result = measure(spark, args.input, args.repeat, warmup=not args.no_warmup)
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
