"""Command line: ``imbalance-spark run|profile|evaluate|validate|demo|generate|packages``.

Thin: parses arguments and calls into the library; errors become one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from imbalance_spark import __version__
from imbalance_spark.errors import ConfigError, ImbalanceSparkError

log = logging.getLogger("imbalance_spark")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO_ROOT / "conf" / "datasets" / "demo_fraud.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imbalance-spark",
        description="Downsample the majority class(es) of an imbalanced table and upweight them.",
    )
    p.add_argument("--version", action="version", version=f"imbalance-spark {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, config: bool = True) -> None:
        if config:
            sp.add_argument("--config", required=True, help="dataset YAML, e.g. conf/datasets/demo_fraud.yaml")
        sp.add_argument("--master", default=None, help="Spark master (default: local[*], or spark-submit's)")
        sp.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
        sp.add_argument("-q", "--quiet", action="store_true", help="log warnings only")

    def dated(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--run-date", help="process only this day (YYYY-MM-DD) of input.date_column")
        sp.add_argument("--start-date", help="backfill: first day (YYYY-MM-DD), with --end-date")
        sp.add_argument("--end-date", help="backfill: last day (YYYY-MM-DD), inclusive")
        return sp

    common(dated(sub.add_parser("run", help="downsample, upweight and write the Delta output")))
    common(dated(sub.add_parser("profile", help="class proportions and degree of imbalance; writes nothing")))
    h = sub.add_parser("history", help="print the recent rows of the class-proportion history table")
    common(h)
    h.add_argument("--limit", type=int, default=30, help="rows to show (default 30)")
    v = sub.add_parser("validate", help="check a config file without starting Spark")
    v.add_argument("--config", required=True)
    d = sub.add_parser("demo", help="generate a synthetic fraud table and run the job on it")
    common(d, config=False)
    d.add_argument("--config", default=str(DEMO_CONFIG), help="demo dataset YAML")
    d.add_argument("--rows", type=int, default=2_000_000, help="rows of the synthetic table")
    d.add_argument("--regenerate", action="store_true", help="rebuild the synthetic table")
    g = sub.add_parser("generate", help="write a synthetic transaction table")
    common(g, config=False)
    g.add_argument("--output", required=True, help="path of the table to write")
    g.add_argument("--rows", type=int, default=2_000_000)
    g.add_argument("--fraud-rate", type=float, default=0.005)
    g.add_argument("--days", type=int, default=30)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--format", choices=["delta", "parquet", "csv"], default="delta")
    e = sub.add_parser("evaluate", help="train a model on the sample at several factors F; recommend one")
    common(dated(e))
    e.add_argument("--factors", help="factors to sweep, e.g. 1,5,10,20,50,100 (default: evaluate.factors)")
    sub.add_parser("packages", help="print the Delta Maven coordinates for spark-submit --packages")
    return p


def _print_report(report: dict, as_json: bool) -> None:
    from imbalance_spark.report import render_report

    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_report(report))


def _render_profile(summary: dict) -> str:
    lines = [
        f"dataset {summary['dataset']}: {summary['degree']} imbalance, minority share "
        f"{summary['minority_share']:.4%} (minority {', '.join(summary['minority_classes'])})",
        f"{'class':<12}{'role':<10}{'rows':>16}{'share':>10}{'factor':>8}",
    ]
    minority = set(summary["minority_classes"])
    for key, c in summary["input"]["classes"].items():
        role = "minority" if key in minority else "majority"
        lines.append(f"{key:<12}{role:<10}{c['count']:>16,}{c['share']:>10.4%}{summary['factors'][key]:>8g}")
    if summary["input"]["null_labels_dropped"]:
        lines.append(f"null labels dropped: {summary['input']['null_labels_dropped']:,}")
    lines.append(summary["hint"])
    return "\n".join(lines)


def _print_history(spark, cfg, limit: int, as_json: bool) -> int:
    from pyspark.sql import functions as F

    from imbalance_spark.write import read_history

    df = read_history(spark, cfg.history)
    if df is None:
        print(f"no history yet for {cfg.dataset}")
        return 0
    rows = (
        df.filter(F.col("dataset") == cfg.dataset)
        .orderBy(F.col("recorded_at").desc(), F.col("class"))
        .limit(limit)
        .collect()
    )
    if as_json:
        print(json.dumps([r.asDict() for r in rows], indent=2, default=str))
        return 0
    print(
        f"{'recorded_at':<21}{'run_date':<12}{'class':<10}{'input':>12}{'share':>10}{'degree':>10}"
        f"{'output':>12}{'weight_sum':>14}{'factor':>8}"
    )
    for r in rows:
        print(
            f"{r.recorded_at:%Y-%m-%d %H:%M:%S}  {r.run_date!s:<12}{r['class']:<10}{r.input_count:>12,}"
            f"{r.share:>10.4%}{r.degree:>10}{r.output_count:>12,}{r.weight_sum:>14,.1f}{r.factor:>8.4g}"
        )
    return 0


def _demo_table_rows(spark, path: str) -> int | None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path).count()


def _parse_factors(text: str) -> list[float]:
    try:
        factors = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--factors: {text!r} is not a comma-separated list of numbers, e.g. 1,5,10,20") from None
    bad = [f for f in factors if not 1 <= f < float("inf")]
    if not factors or bad:
        raise ConfigError(f"--factors: every factor must be a finite number >= 1, got {text!r}")
    return factors


def _command(args: argparse.Namespace) -> int:
    from imbalance_spark.config import load_config

    if args.command == "packages":
        from imbalance_spark.packages import delta_packages_arg

        print(delta_packages_arg())
        return 0
    if args.command == "validate":
        cfg = load_config(args.config)
        print(f"{args.config}: ok (dataset {cfg.dataset})")
        return 0

    cfg = load_config(args.config) if getattr(args, "config", None) else None
    from imbalance_spark.config import parse_run_dates

    dates = parse_run_dates(
        getattr(args, "run_date", None), getattr(args, "start_date", None), getattr(args, "end_date", None)
    )
    factors = _parse_factors(args.factors) if getattr(args, "factors", None) else None
    if args.command == "evaluate" and cfg.evaluate is None:
        raise ConfigError(f"{args.config}: evaluate: the config has no evaluate section; add one (docs/choosing-f.md)")
    if args.command == "history" and not cfg.history.enabled:
        raise ConfigError(f"{args.config}: history: set history.path or history.table to record runs")
    from pyspark.sql import SparkSession

    from imbalance_spark.session import build_spark_session

    # A session that already runs (a notebook, a test) is used and left running.
    owned = SparkSession.getActiveSession() is None
    spark = build_spark_session(master=args.master, app_name=f"imbalance-spark {args.command}")
    try:
        if args.command == "generate":
            from imbalance_spark.synthetic import write_demo_table

            write_demo_table(
                spark,
                args.output,
                rows=args.rows,
                fraud_rate=args.fraud_rate,
                days=args.days,
                seed=args.seed,
                fmt=args.format,
            )
            print(f"wrote {args.rows:,} rows to {args.output}")
            return 0
        if args.command == "profile":
            from imbalance_spark.pipeline import profile_job

            _, _, summary = profile_job(spark, cfg, dates)
            print(json.dumps(summary, indent=2) if args.json else _render_profile(summary))
            return 0
        if args.command == "demo":
            from imbalance_spark.synthetic import write_demo_table

            path = cfg.input.path
            if args.regenerate or _demo_table_rows(spark, path) != args.rows:
                log.info("demo: generating %s synthetic transactions at %s", f"{args.rows:,}", path)
                write_demo_table(spark, path, rows=args.rows)
        if args.command == "history":
            return _print_history(spark, cfg, args.limit, args.json)
        if args.command == "evaluate":
            from imbalance_spark.evaluate import evaluate_job, render_evaluation, report_json

            report = evaluate_job(spark, cfg, dates, factors)
            print(report_json(report) if args.json else render_evaluation(report))
            return 0
        from imbalance_spark.pipeline import run_job

        report = run_job(spark, cfg, dates)
        _print_report(report, args.json)
        if cfg.report.path:
            log.info("report written to %s", cfg.report.path)
        return 0
    finally:
        if owned:
            spark.stop()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of ``jobs/downsample.py``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return _command(args)
    except ImbalanceSparkError as exc:
        print(f"imbalance-spark: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("imbalance-spark: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # Spark/Py4J failures: one line, not a JVM stack trace
        from pyspark.errors import PySparkException

        try:
            from py4j.protocol import Py4JError
        except ImportError:  # pragma: no cover
            Py4JError = ()  # type: ignore[assignment]
        if isinstance(exc, (PySparkException, Py4JError)):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"imbalance-spark: spark error: {_one_line(first)}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
