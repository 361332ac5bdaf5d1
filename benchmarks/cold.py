"""Cold benchmark: whole processes, as users run the job, against a tuned noop scan of the same table.

    .venv/bin/python -m benchmarks.cold                                    # narrow 60M, wide 3M x 200, daily
    .venv/bin/python -m benchmarks.cold --data-dir /work/benchdata --generate-only   # the inputs only
    .venv/bin/python -m benchmarks.cold --data-dir /work/benchdata --reuse-data --name cold

Every command is a NEW process (Python, its JVM, its children), timed and memory-polled from
outside, repetition by repetition with the order rotated. Three Delta tables partitioned by
event_date: narrow (the synthetic transactions), wide (200 columns) and daily (many days, one
run processes one day with --run-date). Per table: (a) start-up: session with Delta, open the
table, exit; (b) the floor: a noop scan of what the job reads (the whole table, or the day);
(c) ``imbalance-spark run``; (d) ``spark-submit jobs/downsample.py``; the wide table adds naive
Spark and eager Polars. All Spark commands use the same cached Delta jars and the same local
tuning. Writes ``<out>/<name>.json``, ``.md`` and ``.png`` (rendered by render_cold.py). This module is
the command line and the views; the tables are ``cold_tables``, each command as a process
``cold_run``, the medians and comparisons ``cold_summary``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.cold_run import JOBS, MASTER, VARIANTS, run_command, spark_settings
from benchmarks.cold_summary import compare, jar_resolution, summarize
from benchmarks.cold_tables import checked_meta, ensure_table, generate_spec, table_dir
from benchmarks.common import RESULTS_DIR, interleaved, machine_info, parse_rows, side_by_side
from benchmarks.render_cold import render_cold

log = logging.getLogger("benchmarks.cold")

VIEWS = ["narrow", "wide", "daily"]
# *_quick: the driver JVM on its quick JIT only (the job's `spark.quick_start`; the floor gets the
# same JVM option through session.with_quick_start, so the job is also compared with a floor that has it)
COMMANDS = ["startup", "floor", "floor_quick", "job_cli", "job_cli_quick", "job_submit", "job_submit_packages",
            *sorted(VARIANTS)]
DEFAULT_COMMANDS = {
    "narrow": ["startup", "floor", "job_cli", "job_submit"],
    "wide": ["startup", "floor", "job_cli", "job_submit", "naive_spark", "polars_eager"],
    # --packages beside --jars: what the Ivy resolution of the Delta jars would cost every run
    "daily": ["startup", "floor", "floor_quick", "job_cli", "job_cli_quick", "job_submit", "job_submit_packages"],
}


def _parse_view_commands(text: str) -> tuple[str, list[str]]:
    """'wide=job_cli,floor' -> ('wide', ['job_cli', 'floor'])."""
    view, sep, commands = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--view-commands: expected VIEW=CMD,CMD, got {text!r}")
    (view,) = _parse_list(view, VIEWS, "--view-commands")
    return view, _parse_list(commands, COMMANDS, "--view-commands")


def _parse_list(text: str, known: list[str], flag: str) -> list[str]:
    """'a,b' -> ['a', 'b'], each one of ``known``; the argparse error names ``flag``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{flag}: unknown {bad or text!r}; known: {','.join(known)}")
    return names


def parse_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run-date: expected YYYY-MM-DD, got {text!r}") from None


# ---------------------------------------------------------------------------------------------
# the tables


def generate_in_session(spark, argv: list[str]) -> None:
    """Write the tables of ``argv``'s views with ``spark`` (a session the caller already has, e.g. a
    test's) where ``benchmarks.cold ARGV --reuse-data`` finds them: no generating process."""
    from benchmarks.cold_commands import write_table

    args = parse_args(argv)
    resolve_paths(args)
    for view in args.views:
        folder = table_dir(args, view)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        spec = generate_spec(args, view)
        meta = checked_meta(write_table(spark, spec), spec.run_date)
        (folder / "table.json").write_text(json.dumps(meta, indent=1))


# ---------------------------------------------------------------------------------------------
# the views


def view_commands(view: str, args: argparse.Namespace) -> list[str]:
    """The view's commands: --view-commands exactly, else --commands or the default after startup and floor."""
    if view in args.view_commands:
        return args.view_commands[view]
    commands = args.commands or DEFAULT_COMMANDS[view]
    return [*[c for c in ("startup", "floor") if c not in commands], *commands]


def view_dir(view: str, args: argparse.Namespace) -> Path:
    """The view's runs folder (outputs, configs, reports, logs), empty."""
    run_dir = Path(args.data_dir) / "runs" / args.name / view
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    return run_dir


def prepare_view(meta: dict, run_dir: Path, args: argparse.Namespace, commands: list[str]) -> float | None:
    """The untimed run a daily view's jobs need first; its wall seconds (None: nothing to prepare)."""
    if not (meta.get("run_date") and any(c in JOBS for c in commands)):
        return None
    # Airflow's daily run replaces one day of an output that exists (and appends to its history):
    # one untimed run creates both, so every timed repetition finds the same state.
    prep = run_command("job_cli", meta, run_dir, args, "prepare")
    if "error" in prep:
        raise SystemExit(f"benchmarks.cold: the untimed run that prepares the daily output failed: {prep['error']}")
    return prep["wall_s"]


def command_runner(view: str, meta: dict, run_dir: Path, args: argparse.Namespace) -> Callable[[str, int], dict]:
    """``run_one(name, rep)``: one repetition of one of the view's commands, logged."""

    def run_one(name: str, rep: int) -> dict:
        r = run_command(name, meta, run_dir, args, f"{name}-r{rep}")
        if "error" not in r:
            log.info("%s rep %d/%d: %-20s %7.2f s  (peak %5.2f GiB)", view, rep + 1, args.repeat, name,
                     r["wall_s"], r["peak_rss_bytes"] / 2**30)
        return r

    return run_one


def view_result(view: str, meta: dict, run_dir: Path, runs: dict[str, list[dict]], prepared: float | None,
                args: argparse.Namespace) -> dict:
    """The view's summary of its commands' runs; its runs folder removed (unless --keep-data)."""
    summary = {c: summarize(r) for c, r in runs.items()}
    compare(summary)
    out = {
        "view": view,
        "table": meta,
        "run_date": meta.get("run_date"),
        "rows_read": meta.get("slice_rows") or meta["rows"],
        "prepare_wall_s": prepared,
        "commands": summary,
        "jars": jar_resolution(summary, args),
    }
    if not args.keep_data:
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def run_view(view: str, meta: dict, args: argparse.Namespace) -> dict:
    """The view's commands, one process at a time, repetitions interleaved."""
    commands = view_commands(view, args)
    run_dir = view_dir(view, args)
    prepared = prepare_view(meta, run_dir, args, commands)
    runs = interleaved(commands, args.repeat, command_runner(view, meta, run_dir, args))
    return view_result(view, meta, run_dir, runs, prepared, args)


def run_views_side_by_side(tables: dict[str, dict], args: argparse.Namespace) -> list[dict]:
    """``--parallel N``: every view's commands, up to N processes at a time (a smoke run).

    A view's jobs share its output, so they run in one lane, after the untimed prepare run; each
    other command (start-up, the floors, a variant with its own output) is a lane of its own. A
    lane runs its repetitions one after another; the lanes share N workers, the jobs' first.
    """
    views, job_lanes, other_lanes = {}, [], []
    for view in args.views:
        commands = view_commands(view, args)
        v = views[view] = {"run_dir": view_dir(view, args), "runs": {c: [] for c in commands}, "prepared": None}
        run_one = command_runner(view, tables[view], v["run_dir"], args)
        jobs = [c for c in commands if c in JOBS]

        def job_lane(view=view, v=v, run_one=run_one, jobs=jobs, commands=commands) -> None:
            v["prepared"] = prepare_view(tables[view], v["run_dir"], args, commands)
            for rep in range(args.repeat):
                for name in jobs:
                    v["runs"][name].append(run_one(name, rep))

        def lane(name: str, v=v, run_one=run_one) -> None:
            v["runs"][name].extend(run_one(name, rep) for rep in range(args.repeat))

        job_lanes += [job_lane] if jobs else []
        other_lanes += [functools.partial(lane, c) for c in commands if c not in JOBS]
    side_by_side([*job_lanes, *other_lanes], args.parallel)
    return [view_result(view, tables[view], v["run_dir"], v["runs"], v["prepared"], args) for view, v in views.items()]


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.cold``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--views", type=lambda text: _parse_list(text, VIEWS, "--views"), default=list(VIEWS),
                   help="narrow,wide,daily (default all three)")
    p.add_argument("--rows", type=parse_rows, default=[60_000_000], help="narrow table rows (default 60M)")
    p.add_argument("--wide-rows", type=parse_rows, default=[3_000_000], help="wide table rows (default 3M)")
    p.add_argument("--wide-columns", type=int, default=200, help="wide table columns in all (default 200)")
    p.add_argument("--days", type=int, default=30,
                   help="days of event_date in the narrow and wide tables, one partition each (default 30; fewer: "
                        "fewer partitions to read and write, a smoke run)")
    p.add_argument("--daily-days", type=int, default=30, help="days in the daily table (default 30)")
    p.add_argument("--daily-rows", type=parse_rows, default=[200_000], help="rows per day (default 200k)")
    p.add_argument("--run-date", type=parse_date, default=None,
                   help="the day the daily runs process (default the table's last day)")
    p.add_argument("--factor", type=int, default=20, help="downsampling factor F (default 20)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    p.add_argument("--commands", type=lambda text: _parse_list(text, COMMANDS, "--commands"), default=None,
                   help=f"commands for every view, from {','.join(COMMANDS)} (default per view; "
                        "startup and floor always run)")
    p.add_argument("--view-commands", type=_parse_view_commands, action="append", default=[],
                   metavar="VIEW=CMD,CMD", help="exactly these commands for this view, no startup or floor "
                   "unless listed (repeatable; e.g. wide=job_cli for a smoke run)")
    p.add_argument("--no-history", action="store_true", help="job configs without a history table")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results directory (default benchmarks/results)")
    p.add_argument("--name", default="cold", help="results file stem (default cold)")
    p.add_argument("--data-dir", default=None, help="the tables and the runs' outputs (default <out>/tmp)")
    p.add_argument("--reuse-data", action="store_true", help="use the tables an earlier run left in --data-dir")
    p.add_argument("--keep-data", action="store_true", help="keep the tables (and the runs' outputs and logs)")
    p.add_argument("--generate-only", action="store_true", help="write the tables into --data-dir and stop")
    p.add_argument("--timeout", type=float, default=None, help="seconds per command (default max(600, rows/5e4))")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="up to N commands at a time (a smoke run: they share the cores, so their times are not "
                        "comparable; a view's jobs still run one at a time; default 1)")
    return p


def find_tools(args: argparse.Namespace) -> None:
    """The cached Delta jars (required: every command gets the same), the settings, the CLI, spark-submit."""
    import importlib.util

    from imbalance_spark.packages import cached_jars_arg, jars_dir

    args.jars = cached_jars_arg()
    if not args.jars:
        raise SystemExit(f"benchmarks.cold: no cached Delta jars in {jars_dir()}; run `imbalance-spark packages "
                         "--fetch` (make install does) so that every command gets the same jars")
    args.settings = spark_settings(args.jars)
    script = Path(sys.executable).parent / "imbalance-spark"
    args.cli = [str(script)] if script.exists() else [sys.executable, "-m", "imbalance_spark.cli"]
    args.spark_submit = str(Path(importlib.util.find_spec("pyspark").origin).parent / "bin" / "spark-submit")


def resolve_paths(args: argparse.Namespace) -> None:
    """Absolute results and data folders, and the daily run's date (default the table's last day)."""
    args.out = str(Path(args.out).resolve())
    args.own_data_dir = args.data_dir is None
    args.data_dir = str(Path(args.data_dir or Path(args.out) / "tmp").resolve())
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    if args.run_date is None:
        last = dt.date(2026, 1, 1) + dt.timedelta(days=args.daily_days - 1)  # the generators start 2026-01-01
        args.run_date = last.isoformat()


def new_results(args: argparse.Namespace, argv: list[str] | None, started: dt.datetime) -> dict:
    """The result document before any view is measured."""
    return {
        "kind": "cold",
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.cold", *(argv or sys.argv[1:])]),
        "factor": args.factor,
        "repeat": args.repeat,
        "master": MASTER,
        "settings": {k: v for k, v in args.settings.items() if k != "spark.jars"},
        "history": not args.no_history,
        "parallel": args.parallel,
        "machine": machine_info(),
        "views": [],
    }


def clean_up(args: argparse.Namespace) -> None:
    """The generated tables (unless kept or reused) and the runs' outputs and logs (unless kept)."""
    if not (args.keep_data or args.reuse_data):
        if args.own_data_dir:
            shutil.rmtree(args.data_dir, ignore_errors=True)
        else:
            for v in args.views:
                shutil.rmtree(table_dir(args, v), ignore_errors=True)
    if not args.keep_data:
        shutil.rmtree(Path(args.data_dir) / "runs" / args.name, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The parsed and checked command line (one size per table)."""
    p = parser()
    args = p.parse_args(argv)
    args.rows, args.wide_rows, args.daily_rows = args.rows[0], args.wide_rows[0], args.daily_rows[0]
    args.view_commands = dict(args.view_commands)
    if min(args.repeat, args.days, args.daily_days, args.factor, args.parallel) < 1 or args.wide_columns < 10:
        p.error("--repeat, --days, --daily-days, --factor and --parallel must be >= 1 and --wide-columns >= 10")
    return args


def write_results(results: dict, out_dir: Path, name: str, started: dt.datetime) -> None:
    """The result document as it stands (JSON) and its table and chart."""
    results["duration_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
    render_cold(results, out_dir, name)


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the tables, then measure every view, writing the results after each."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    find_tools(args)
    resolve_paths(args)
    tables = {v: ensure_table(args, v) for v in args.views}
    if args.generate_only:
        for v, meta in tables.items():
            size = f"{meta['rows']:,} rows, {meta['columns']} columns, {meta['bytes'] / 1e9:.2f} GB"
            print(f"{v}: {meta['path']} ({size})")
        return 0
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    results = new_results(args, argv, started)
    try:
        if args.parallel > 1:
            results["views"] = run_views_side_by_side(tables, args)
            write_results(results, out_dir, args.name, started)
        else:
            for view in args.views:
                results["views"].append(run_view(view, tables[view], args))
                # written after every view, so a long run that is stopped keeps what it measured
                write_results(results, out_dir, args.name, started)
    finally:
        clean_up(args)
    print((out_dir / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
