"""The cold benchmark's own commands, each run as a new process by ``python -m benchmarks.cold``.

    python -m benchmarks.cold_commands startup --table PATH --conf K=V ... --result X.json
    python -m benchmarks.cold_commands floor   --table PATH [--run-date D] --conf K=V ... --result X.json
    python -m benchmarks.cold_commands generate --kind narrow|wide|daily --rows N ... --table PATH --meta X.json

``startup`` and ``floor`` are what a competent user writes with pyspark alone (no import of this
project): a session with Delta and the given settings (the same cached jars and local tuning as the
job), then open the table (``startup``) or also scan it to the noop sink (``floor``; with
``--run-date`` only that day, through the same partition filter the job uses). Each records when
its steps ended, from the script's first line, so the outside wall time splits into Python start,
imports, JVM + session, the Delta look-up, the scan and the stop.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

DATE_COLUMN = "event_date"
LABEL = "is_fraud"


def _mark(steps: dict[str, float], name: str, since: list[float]) -> None:
    now = time.perf_counter()
    steps[name] = now - since[0]
    since[0] = now


def user_scan(args: argparse.Namespace) -> dict:
    """Start a session, open the Delta table, and (floor) scan it, or its one day, to noop."""
    steps: dict[str, float] = {}
    since = [T0]
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    _mark(steps, "import pyspark", since)
    builder = SparkSession.builder.master(args.master).appName(f"cold-{args.command}")
    for item in args.conf:
        key, _, value = item.partition("=")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _mark(steps, "JVM + session start", since)
    df = spark.read.format("delta").load(args.table)
    df.schema  # noqa: B018  (the Delta log is read here)
    _mark(steps, "open the table (Delta log, schema)", since)
    if args.command == "floor":
        if args.run_date:
            import datetime as dt

            day = dt.date.fromisoformat(args.run_date)
            # the job's filter_dates for a date column: start <= date <= end (prunes the partitions)
            df = df.filter((F.col(DATE_COLUMN) >= F.lit(day)) & (F.col(DATE_COLUMN) <= F.lit(day)))
        df.write.format("noop").mode("overwrite").save()
        _mark(steps, "scan to noop", since)
    spark.stop()
    _mark(steps, "stop", since)
    return {"steps_s": steps, "measured_s": time.perf_counter() - T0}


def generate(args: argparse.Namespace) -> dict:
    """Write one benchmark table as Delta partitioned by event_date in a session of its own; describe it."""
    from imbalance_spark.session import build_spark_session

    spark = build_spark_session(master=args.master, app_name=f"cold-generate-{args.kind}",
                                conf={"spark.ui.enabled": "false"})
    meta = write_table(spark, args)
    spark.stop()
    return meta


def write_table(spark, args: argparse.Namespace) -> dict:
    """Write the ``--kind`` table with ``spark`` (the caller's session, left running); its description."""
    from pyspark.sql import functions as F

    from imbalance_spark.synthetic import generate_transactions, generate_wide

    t0 = time.perf_counter()
    if args.kind == "wide":
        df = generate_wide(spark, rows=args.rows, columns=args.columns, positive_rate=0.005, days=args.days)
    else:
        df = generate_transactions(spark, rows=args.rows, fraud_rate=0.005, days=args.days)
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").partitionBy(DATE_COLUMN).save(
        args.table
    )
    seconds = time.perf_counter() - t0
    table = spark.read.format("delta").load(args.table)
    counts = {str(r[LABEL]): int(r["count"]) for r in table.groupBy(LABEL).count().collect()}
    span = table.agg(F.min(DATE_COLUMN).alias("first"), F.max(DATE_COLUMN).alias("last")).first()
    meta = {
        "kind": args.kind,
        "path": args.table,
        "rows": sum(counts.values()),
        "columns": len(table.columns),
        "days": args.days,
        "first_date": span["first"].isoformat(),
        "last_date": span["last"].isoformat(),
        "classes": counts,
        "files": sum(1 for p in Path(args.table).rglob("*.parquet")),
        "bytes": sum(p.stat().st_size for p in Path(args.table).rglob("*.parquet")),
        "generated_s": seconds,
    }
    if args.run_date:
        import datetime as dt

        day = dt.date.fromisoformat(args.run_date)
        one = table.filter(F.col(DATE_COLUMN) == F.lit(day))
        meta["run_date"] = args.run_date
        meta["slice_classes"] = {str(r[LABEL]): int(r["count"]) for r in one.groupBy(LABEL).count().collect()}
        meta["slice_rows"] = sum(meta["slice_classes"].values())
        day_dir = Path(args.table) / f"{DATE_COLUMN}={args.run_date}"
        meta["slice_files"] = sum(1 for _ in day_dir.glob("*.parquet"))
        meta["slice_bytes"] = sum(p.stat().st_size for p in day_dir.glob("*.parquet"))
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_commands", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["startup", "floor", "generate"])
    p.add_argument("--table", required=True, help="the Delta table (partitioned by event_date)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--conf", action="append", default=[], help="a Spark setting KEY=VALUE (repeatable)")
    p.add_argument("--run-date", default=None, help="floor: scan only this day (YYYY-MM-DD); generate: describe it")
    p.add_argument("--result", help="startup/floor: JSON file for the step times")
    p.add_argument("--kind", choices=["narrow", "wide", "daily"], help="generate: which table")
    p.add_argument("--rows", type=int, help="generate: rows of the whole table")
    p.add_argument("--columns", type=int, default=200, help="generate --kind wide: columns in all")
    p.add_argument("--days", type=int, default=30, help="generate: days of event_date")
    p.add_argument("--meta", help="generate: JSON file describing the table written")
    args = p.parse_args(argv)
    if args.command == "generate":
        if not (args.kind and args.rows and args.meta):
            p.error("generate needs --kind, --rows and --meta")
        Path(args.meta).write_text(json.dumps(generate(args), indent=1))
        return 0
    if not args.result:
        p.error(f"{args.command} needs --result")
    result = user_scan(args)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
