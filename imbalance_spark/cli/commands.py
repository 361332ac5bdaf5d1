"""The commands: a table of small handlers; checks before Spark, then a session.

Errors become one line and an exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imbalance_spark import __version__
from imbalance_spark.common.text import one_line
from imbalance_spark.errors import ConfigError, ImbalanceSparkError

if TYPE_CHECKING:
    from imbalance_spark.common.dates import RunDates
    from imbalance_spark.config.models import JobConfig

from imbalance_spark.cli.parser import (
    _add_demo,
    _add_evaluate,
    _add_generate,
    _add_history,
    _add_packages,
    _add_profile,
    _add_run,
    _add_validate,
    _parse_factors,
    _Subcommands,
)
from imbalance_spark.cli.printing import _print_history, _print_report, _render_profile

log = logging.getLogger("imbalance_spark")




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
    if getattr(args, "incremental", False):
        _check_incremental(args, cfg, dates)
    factors = _parse_factors(args.factors) if getattr(args, "factors", None) else None
    if args.command == "evaluate" and cfg.evaluate is None:
        raise ConfigError(f"{args.config}: evaluate: the config has no evaluate section; add one (docs/choosing-f.md)")
    if args.command == "evaluate":
        from imbalance_spark.evaluate.fit import require_model_package

        require_model_package(cfg.evaluate, args.config)  # before Spark starts
    if args.command == "history" and not cfg.history.enabled:
        raise ConfigError(f"{args.config}: history: set history.path or history.table to record runs")
    return _Job(cfg, dates, factors)


def _check_incremental(args: argparse.Namespace, cfg: JobConfig, dates: RunDates | None) -> None:
    """What ``run --incremental`` needs, checked before Spark starts."""
    from imbalance_spark.session import remote_url
    from imbalance_spark.tracking.runs import resolve_experiment

    if cfg.incremental is None:
        raise ConfigError(
            f"{args.config}: incremental: --incremental needs an incremental block, e.g."
            " incremental: {checkpoint: data/checkpoints/DATASET} (docs/production.md#incremental-runs)"
        )
    if dates is not None:
        raise ConfigError("--incremental: reads what is new in the input, not a date slice; drop the run date(s)")
    if remote_url(getattr(args, "remote", None)):
        raise ConfigError(
            "--incremental: not through Spark Connect (--remote/SPARK_REMOTE): each micro-batch runs in foreachBatch,"
            " which the Connect server runs in its own Python worker that cannot report back to this run;"
            " run it with spark-submit or local Spark (unset SPARK_REMOTE)"
        )
    if resolve_experiment(args.mlflow_experiment, cfg):
        raise ConfigError(
            "--incremental: MLflow tracking of incremental runs is not supported; drop --mlflow-experiment"
            " (and tracking.mlflow) for this command"
        )


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
    if getattr(args, "incremental", False):
        return _run_incremental(spark, args, cfg)
    report = run_job(spark, cfg, dates, mlflow_experiment=getattr(args, "mlflow_experiment", None))
    _print_report(report, args.json)
    if cfg.report.path:
        from imbalance_spark.report.build import report_path

        log.info("report written to %s", report_path(cfg.report.path, report.run_dates))
    return 0


def _run_incremental(spark, args: argparse.Namespace, cfg: JobConfig) -> int:
    from imbalance_spark.flows.incremental import run_incremental

    result = run_incremental(spark, cfg)
    if result.report is None:
        print(json.dumps({"nothing_new": True, "message": result.message}) if args.json else result.message)
        return 0
    _print_report(result.report, args.json)
    if not args.json:
        inc = result.report.incremental
        print(
            f"incremental: {inc.batches} micro-batch(es) {inc.batch_ids}, input versions {inc.input_version_from}"
            f"..{inc.input_version_to}, checkpoint {inc.checkpoint}"
        )
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
