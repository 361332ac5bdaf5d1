"""Command line: ``imbalance-spark run|profile|evaluate|validate|demo|generate|packages``.

Thin: parses arguments and calls into the library; errors become one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imbalance_spark import __version__
from imbalance_spark.common.text import one_line
from imbalance_spark.errors import ConfigError, ImbalanceSparkError
from imbalance_spark.packages import DEMO_CONFIG_FILE, conf_file

if TYPE_CHECKING:
    from imbalance_spark.common.dates import RunDates
    from imbalance_spark.config.models import JobConfig

log = logging.getLogger("imbalance_spark")

# conf/datasets/demo_fraud.yaml as the package carries it; its relative paths (data/demo/...) are the cwd's.
DEMO_CONFIG = conf_file(DEMO_CONFIG_FILE)


_ROW_SUFFIXES = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}


def row_count(text: str) -> int:
    """A positive row count: ``200000``, ``200_000``, ``200k``, ``2M``, ``1.5M`` (benchmarks/run.py too)."""
    part = str(text).strip().lower().replace("_", "")
    factor = _ROW_SUFFIXES.get(part[-1:], 1)
    try:
        rows = float(part[:-1] if factor > 1 else part) * factor
    except ValueError:
        rows = 0
    if not (rows >= 1 and rows == int(rows)):
        raise argparse.ArgumentTypeError(f"expected a positive row count like 200000, 200k or 2M; got {text!r}")
    return int(rows)


class _Subcommands:
    """Each subcommand's --help opens with the one line `imbalance-spark --help` lists."""

    def __init__(self, subparsers):
        self._subparsers = subparsers

    def add_parser(self, name: str, **kw) -> argparse.ArgumentParser:
        kw.setdefault("description", kw["help"][:1].upper() + kw["help"][1:] + ".")
        return self._subparsers.add_parser(name, **kw)


_MLFLOW_HELP = "log the run to this MLflow experiment (wins over tracking.mlflow.experiment)"


def _common(sp: argparse.ArgumentParser, config: bool = True) -> argparse.ArgumentParser:
    if config:
        sp.add_argument("--config", required=True, help="dataset YAML, e.g. conf/datasets/demo_fraud.yaml")
    sp.add_argument("--master", default=None, help="Spark master (default: local[*], or spark-submit's)")
    sp.add_argument(
        "--remote",
        default=None,
        help="Spark Connect server, e.g. sc://127.0.0.1:15002 (default: $SPARK_REMOTE); see docs/connect.md",
    )
    sp.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    sp.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sp.add_argument("-v", "--verbose", action="store_true", help="also Spark's INFO logs and the JVM's start-up output")
    return sp


def _dated(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument("--run-date", help="process only this day (YYYY-MM-DD) of input.date_column")
    sp.add_argument("--start-date", help="backfill: first day (YYYY-MM-DD), with --end-date")
    sp.add_argument("--end-date", help="backfill: last day (YYYY-MM-DD), inclusive")
    return sp


def _add_run(sub: _Subcommands) -> None:
    r = _common(_dated(sub.add_parser("run", help="downsample, upweight and write the Delta output")))
    r.add_argument("--mlflow-experiment", help=_MLFLOW_HELP)


def _add_profile(sub: _Subcommands) -> None:
    _common(_dated(sub.add_parser("profile", help="class proportions and degree of imbalance; writes nothing")))


def _add_history(sub: _Subcommands) -> None:
    h = _common(sub.add_parser("history", help="print the recent rows of the class-proportion history table"))
    h.add_argument("--limit", type=int, default=30, help="rows to show (default 30)")
    h.add_argument("--plot", metavar="PATH", help="also draw each class's share over the run dates to this PNG")


def _add_validate(sub: _Subcommands) -> None:
    v = sub.add_parser("validate", help="check a config file without starting Spark")
    v.add_argument("--config", required=True, help="dataset YAML to check, e.g. conf/datasets/demo_fraud.yaml")


def _add_demo(sub: _Subcommands) -> None:
    d = _common(sub.add_parser("demo", help="generate a synthetic fraud table and run the job on it"), config=False)
    d.add_argument("--config", default=str(DEMO_CONFIG), help="demo dataset YAML")
    d.add_argument("--rows", type=row_count, default=2_000_000, help="rows of the demo table, e.g. 200k (default 2M)")
    d.add_argument("--regenerate", action="store_true", help="rebuild the synthetic table even if it has --rows rows")
    d.add_argument("--mlflow-experiment", help=_MLFLOW_HELP)


def _add_generate(sub: _Subcommands) -> None:
    g = _common(sub.add_parser("generate", help="write a synthetic transaction table"), config=False)
    g.add_argument("--output", required=True, help="path of the table to write (replaced if it exists)")
    g.add_argument("--rows", type=row_count, default=2_000_000, help="rows to write: 200000, 200k, 2M (default 2M)")
    g.add_argument("--fraud-rate", type=float, default=0.005, help="share of rows with is_fraud = 1 (default 0.005)")
    g.add_argument("--days", type=int, default=30, help="days of event_date, from 2026-01-01 (default 30)")
    g.add_argument("--seed", type=int, default=7, help="random seed of the generator (default 7)")
    g.add_argument(
        "--format", choices=["delta", "parquet", "csv"], default="delta", help="table format (default delta)"
    )


def _add_evaluate(sub: _Subcommands) -> None:
    e = sub.add_parser(
        "evaluate",
        help="train a model on the sample at several factors F; recommend one",
        description="Hold out a test slice (never sampled), downsample the rest at each factor with the job's own"
        " code, train MLlib models with and without the weight, measure them on the test slice and recommend F"
        " (docs/choosing-f.md).",
    )
    _common(_dated(e))
    e.add_argument("--factors", help="factors to sweep, e.g. 1,5,10,20,50,100 (default: evaluate.factors)")
    e.add_argument(
        "--mlflow-experiment", help="log the sweep to this MLflow experiment (wins over tracking.mlflow.experiment)"
    )


def _add_packages(sub: _Subcommands) -> None:
    pk = sub.add_parser(
        "packages",
        help="print the Delta Maven coordinates for spark-submit --packages",
        description="Print the Delta Lake Maven coordinates matching the installed pyspark/delta-spark"
        " (for spark-submit --packages); with --fetch, resolve them once into a local cache that every"
        " later Spark start uses instead of Ivy.",
    )
    what = pk.add_mutually_exclusive_group()
    what.add_argument(
        "--fetch", action="store_true", help="resolve the jars from Maven Central once and cache them (make install)"
    )
    what.add_argument("--jars", action="store_true", help="print the cached jars for spark-submit --jars")
    what.add_argument("--dir", action="store_true", help="print the cache folder of the jars")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imbalance-spark",
        description="Downsample the majority class(es) of an imbalanced table and upweight them.",
    )
    p.add_argument("--version", action="version", version=f"imbalance-spark {__version__}")
    sub = _Subcommands(p.add_subparsers(dest="command", required=True))
    for command in COMMANDS.values():
        command.add(sub)
    return p


def _print_report(report, as_json: bool) -> None:
    """Print a run's report (a ``RunReport``) as JSON or as the console table."""
    from imbalance_spark.report.render import render_report

    print(report.to_json() if as_json else render_report(report))


def _render_profile(summary) -> str:
    """A ``ProfileSummary`` as the console table ``profile`` prints."""
    lines = [
        f"dataset {summary.dataset}: {summary.degree} imbalance, minority share "
        f"{summary.minority_share:.4%} (minority {', '.join(summary.minority_classes)})",
        f"{'class':<12}{'role':<10}{'rows':>16}{'share':>10}{'factor':>8}",
    ]
    minority = set(summary.minority_classes)
    for key, c in summary.input.classes.items():
        role = "minority" if key in minority else "majority"
        lines.append(f"{key:<12}{role:<10}{c.count:>16,}{c.share:>10.4%}{summary.factors[key]:>8g}")
    if summary.input.null_labels_dropped:
        lines.append(f"null labels dropped: {summary.input.null_labels_dropped:,}")
    lines.append(summary.hint)
    return "\n".join(lines)


def _print_history(spark, cfg, limit: int, as_json: bool, plot: str | None = None) -> int:
    from pyspark.sql import functions as F

    from imbalance_spark.tables.history import read_history

    df = read_history(spark, cfg.history)
    if df is None:
        print(f"no history yet for {cfg.dataset}")
        return 0
    from imbalance_spark.figures.history import plot_history

    if plot and plot_history(df, cfg.dataset, plot) is None:
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
            f"{r.recorded_at:%Y-%m-%d %H:%M:%S}  {str(r.run_date or '-'):<12}{r['class']:<10}{r.input_count:>12,}"
            f"{r.share:>10.4%}{r.degree:>10}{r.output_count:>12,}{r.weight_sum:>14,.1f}{r.factor:>8.4g}"
        )
    if plot:
        print(f"picture of the class drift: {plot} (its numbers: {Path(plot).with_suffix('.json')})")
    return 0


def _demo_table_rows(spark, path: str) -> int | None:
    from imbalance_spark.tables.delta_log import delta_ref, latest_version

    if latest_version(spark, delta_ref(path), path) is None:
        return None
    return spark.read.format("delta").load(path).count()


def _packages(args: argparse.Namespace) -> int:
    from imbalance_spark import packages

    if args.dir:
        print(packages.jars_dir())
    elif args.fetch:
        try:
            jars = packages.fetch_jars()
        except RuntimeError as exc:
            raise ImbalanceSparkError(f"packages --fetch: {exc}") from None
        print(f"{len(jars)} jars of {packages.delta_packages_arg()} in {packages.jars_dir()}")
    elif args.jars:
        jars = packages.cached_jars_arg()
        if not jars:
            raise ImbalanceSparkError(
                f"packages --jars: no cached jars in {packages.jars_dir()}; run `imbalance-spark packages --fetch`"
            )
        print(jars)
    else:
        print(packages.delta_packages_arg())
    return 0


def _parse_factors(text: str) -> list[float]:
    try:
        factors = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--factors: {text!r} is not a comma-separated list of numbers, e.g. 1,5,10,20") from None
    bad = [f for f in factors if not 1 <= f < float("inf")]
    if not factors or bad:
        raise ConfigError(f"--factors: every factor must be a finite number >= 1, got {text!r}")
    return factors


def _validate(args: argparse.Namespace) -> int:
    from imbalance_spark.config.validate import validate_file

    result = validate_file(args.config)
    for note in result.notes:
        print(f"{args.config}: {note}")
    print(f"{args.config}: ok (dataset {result.cfg.dataset})")
    return 0


@dataclass(frozen=True)
class _Job:
    """What a Spark command gets, all checked before Spark starts: the config, the dates, the factors."""

    cfg: JobConfig | None
    dates: RunDates | None
    factors: list[float] | None


def _prepare(args: argparse.Namespace) -> _Job:
    """Load and check everything a Spark command needs, so that mistakes are caught before Spark starts."""
    from imbalance_spark.common.dates import parse_run_dates
    from imbalance_spark.config.load import load_config

    cfg = load_config(args.config) if getattr(args, "config", None) else None
    dates = parse_run_dates(
        getattr(args, "run_date", None), getattr(args, "start_date", None), getattr(args, "end_date", None)
    )
    if args.command in ("run", "demo", "evaluate"):
        from imbalance_spark.tracking.runs import require_mlflow, resolve_experiment

        if resolve_experiment(args.mlflow_experiment, cfg):
            require_mlflow()  # before Spark starts
    factors = _parse_factors(args.factors) if getattr(args, "factors", None) else None
    if args.command == "evaluate" and cfg.evaluate is None:
        raise ConfigError(f"{args.config}: evaluate: the config has no evaluate section; add one (docs/choosing-f.md)")
    if args.command == "history" and not cfg.history.enabled:
        raise ConfigError(f"{args.config}: history: set history.path or history.table to record runs")
    return _Job(cfg, dates, factors)


def _generate(spark, args: argparse.Namespace, job: _Job) -> int:
    from imbalance_spark.synthetic import write_demo_table

    write_demo_table(
        spark, args.output, rows=args.rows, fraud_rate=args.fraud_rate, days=args.days, seed=args.seed, fmt=args.format
    )
    if args.json:
        print(json.dumps({"output": args.output, "rows": args.rows, "format": args.format}, indent=2))
    else:
        print(f"wrote {args.rows:,} rows to {args.output}")
    return 0


def _profile(spark, args: argparse.Namespace, job: _Job) -> int:
    from imbalance_spark.flows.profile import profile_job

    _, _, summary = profile_job(spark, job.cfg, job.dates)
    print(summary.to_json() if args.json else _render_profile(summary))
    return 0


def _history(spark, args: argparse.Namespace, job: _Job) -> int:
    return _print_history(spark, job.cfg, args.limit, args.json, args.plot)


def _evaluate(spark, args: argparse.Namespace, job: _Job) -> int:
    from imbalance_spark.evaluate.render import render_evaluation, report_json
    from imbalance_spark.flows.evaluate import evaluate_job

    cfg, dates, factors = job.cfg, job.dates, job.factors
    report = evaluate_job(spark, cfg, dates, factors, mlflow_experiment=args.mlflow_experiment)
    print(report_json(report) if args.json else render_evaluation(report))
    return 0


def _run(spark, args: argparse.Namespace, job: _Job) -> int:
    from imbalance_spark.flows.run import run_job

    cfg, dates = job.cfg, job.dates
    report = run_job(spark, cfg, dates, mlflow_experiment=getattr(args, "mlflow_experiment", None))
    _print_report(report, args.json)
    if cfg.report.path:
        from imbalance_spark.report.build import report_path

        log.info("report written to %s", report_path(cfg.report.path, report.run_dates))
    return 0


def _demo(spark, args: argparse.Namespace, job: _Job) -> int:
    from imbalance_spark.synthetic import write_demo_table

    path = job.cfg.input.path
    if args.regenerate or _demo_table_rows(spark, path) != args.rows:
        log.info("demo: generating %s synthetic transactions at %s", f"{args.rows:,}", path)
        write_demo_table(spark, path, rows=args.rows)
    return _run(spark, args, job)


def _with_spark(handler: Callable[..., int]) -> Callable[[argparse.Namespace], int]:
    """``handler(spark, args, job)`` as a command: checks first, then a session (stopped if it started one)."""

    def command(args: argparse.Namespace) -> int:
        job = _prepare(args)
        from pyspark.sql import SparkSession

        from imbalance_spark.session import build_spark_session

        # A session that already runs (a notebook, a test) is used and left running.
        owned = SparkSession.getActiveSession() is None
        spark = build_spark_session(
            master=args.master,
            app_name=f"imbalance-spark {args.command}",
            conf=job.cfg.spark.settings() if job.cfg else None,
            verbose=getattr(args, "verbose", False),
            remote=getattr(args, "remote", None),
            quick_start=job.cfg.spark.quick_start if job.cfg else False,
        )
        try:
            return handler(spark, args, job)
        finally:
            if owned:
                spark.stop()

    return command


@dataclass(frozen=True)
class _Command:
    """One subcommand: how its arguments are declared, and what runs it."""

    add: Callable[[_Subcommands], None]
    run: Callable[[argparse.Namespace], int]


# The dispatch table, in the order `imbalance-spark --help` lists the commands.
COMMANDS: dict[str, _Command] = {
    "run": _Command(_add_run, _with_spark(_run)),
    "profile": _Command(_add_profile, _with_spark(_profile)),
    "history": _Command(_add_history, _with_spark(_history)),
    "validate": _Command(_add_validate, _validate),
    "demo": _Command(_add_demo, _with_spark(_demo)),
    "generate": _Command(_add_generate, _with_spark(_generate)),
    "evaluate": _Command(_add_evaluate, _with_spark(_evaluate)),
    "packages": _Command(_add_packages, _packages),
}


def _command(args: argparse.Namespace) -> int:
    return COMMANDS[args.command].run(args)


def _spark_cause(exc: Exception) -> str:
    """The line of a Spark/Py4J error that names the cause, with a hint where one is known."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    # Py4J's first line only names the JVM call ("An error occurred while calling None.org...
    # JavaSparkContext."); the Java exception, e.g. a --py-files zip that does not exist, follows.
    if first.startswith("An error occurred while calling") and len(lines) > 1:
        first = lines[1].lstrip(":").strip()
    if ".zip does not exist" in first:
        first += " (the --py-files zip: build dist/imbalance_spark.zip with `make zip`)"
    return one_line(first)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of ``jobs/downsample.py``."""
    args = _parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.INFO if verbose else logging.WARNING)
    # "generated new fontManager" (the first figure of a new HOME) and, with -v, its font scoring
    logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)
    if not verbose:
        # Deprecation notices of the libraries underneath say nothing to the user of the job.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        return _command(args)
    except ImbalanceSparkError as exc:
        for line in getattr(exc, "lines", None) or [exc]:
            print(f"imbalance-spark: error: {one_line(line)}", file=sys.stderr)
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
            print(f"imbalance-spark: spark error: {_spark_cause(exc)}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
