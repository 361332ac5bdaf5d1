"""The command line's arguments: one parser builder per command, and their value types.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from imbalance_spark.errors import ConfigError

if TYPE_CHECKING:
    pass

from imbalance_spark.packages import DEMO_CONFIG_FILE, conf_file

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
    r.add_argument(
        "--incremental",
        action="store_true",
        help="only what is new in the input since the last run, appended once (the config's incremental block;"
        " docs/production.md#incremental-runs)",
    )


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




def _parse_factors(text: str) -> list[float]:
    try:
        factors = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--factors: {text!r} is not a comma-separated list of numbers, e.g. 1,5,10,20") from None
    bad = [f for f in factors if not 1 <= f < float("inf")]
    if not factors or bad:
        raise ConfigError(f"--factors: every factor must be a finite number >= 1, got {text!r}")
    return factors
