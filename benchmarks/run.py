"""Benchmark: the job against the noop-scan floor, naive Spark, pandas + imbalanced-learn and Polars.

    .venv/bin/python -m benchmarks.run                                  # quick: 2M rows, 3 repetitions
    .venv/bin/python -m benchmarks.run --rows 10M,30M,100M --repeat 2   # scaling

Generates the input once per size (Parquet partitioned by event_date, 0.5% positives, 30 days by default),
then runs every variant in its own process, interleaved repetition by repetition so that a noisy
machine slows them alike. Each process tree's peak RSS (Python, JVM and any children) is polled
from here. Writes ``<out>/<name>.json``, ``<name>.md`` (README table) and ``<name>.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks.common import (
    REPO_ROOT,
    RESULTS_DIR,
    failure,
    interleaved,
    machine_info,
    measure,
    parse_rows,
    scaling,
    tree_rss,
)
from benchmarks.render import LABELS, render

log = logging.getLogger("benchmarks")

GROUPS = {
    # the variants: (a) floor, (b) the job two ways, (c) naive Spark, (d) pandas, (e) Polars
    "core": ["floor_noop_scan", "job_library", "job_spark_submit", "naive_spark",
             "pandas_imblearn", "polars_eager", "polars_streaming"],
    # possible library changes, measured as pure DataFrame code around the unchanged library
    "candidates": ["job_repartition", "job_optimize_write", "job_hash", "job_sampleby_udf", "job_v1_create",
                   "job_row_order_input", "job_max_records"],
    # where the job's time goes: the label-only pass and the full pass without its write
    "diagnostics": ["label_count", "sample_noop", "sample_delta", "sample_delta_flat", "sample_parquet"],
}
DEFAULT_GROUPS = "core,candidates"
FLOOR = "floor_noop_scan"
# Variants that hold the whole input in memory; skipped when the estimate exceeds free memory.
IN_MEMORY = {"pandas_imblearn", "polars_eager"}
# Variants that run Spark in their own Python process: warmed up first unless --cold (see README).
NOT_WARMED = {"generate", "job_spark_submit", "pandas_imblearn", "polars_eager", "polars_streaming"}
WARMUP_ROWS = 200_000
# Peak bytes per input row before any run calibrates it (measured on this table: pandas builds
# an object array of every feature in RandomUnderSampler's input check).
DEFAULT_BYTES_PER_ROW = {"pandas_imblearn": 400, "polars_eager": 250}


def parse_variants(text: str) -> list[str]:
    """Group names and/or variant names, comma separated, in the order given."""
    from benchmarks.variants import VARIANTS

    chosen: list[str] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        names = GROUPS.get(part) or ([part] if part in VARIANTS and part != "generate" else None)
        if names is None:
            raise argparse.ArgumentTypeError(
                f"--variants: unknown {part!r}; groups {sorted(GROUPS)}, variants {sorted(LABELS)}"
            )
        chosen += [n for n in names if n not in chosen]
    if FLOOR not in chosen:
        chosen.insert(0, FLOOR)  # every ratio is to the floor
    return chosen


# ---------------------------------------------------------------------------------------------
# one variant, one repetition


def variant_env(args: argparse.Namespace, size_dir: Path) -> dict[str, str]:
    """The environment of a variant's process: the library under test first, then benchmarks/."""
    env = dict(os.environ)
    path = [str(args.library_root), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env["BENCH_LIBRARY_ROOT"] = str(args.library_root)
    if args.event_log:
        env["BENCH_EVENT_LOG"] = str(size_dir / "eventlog")
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def run_variant(variant: str, size_dir: Path, rows: int, args: argparse.Namespace, tag: str) -> dict:
    """One variant, one repetition, in its own process; its own timing plus the outside view."""
    return run_variants([variant], size_dir, rows, args, tag)[variant]


def run_variants(variants: list[str], size_dir: Path, rows: int, args: argparse.Namespace, tag: str) -> dict[str, dict]:
    """Variants one after another in ONE process (one variant: as measured; several: ``--one-jvm``),
    each with its own timing; the outside view (wall time, peak RSS) is the process's."""
    each = "{variant}" if len(variants) > 1 else variants[0]
    result_of = {v: size_dir / f"{v}-{tag}.json" for v in variants}
    log_path = size_dir / f"{'shared' if len(variants) > 1 else variants[0]}-{tag}.log"
    for path in result_of.values():
        path.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "benchmarks.variants", ",".join(variants),
        "--input", str(size_dir / "input"), "--rows", str(rows), "--factor", str(args.factor),
        "--result", str(size_dir / f"{each}-{tag}.json"),
    ]
    if "generate" not in variants:
        cmd += ["--output", str(size_dir / "output" / each)]
    else:
        cmd += ["--days", str(args.days)]
    if args.cached_jars and "job_spark_submit" in variants:
        cmd += ["--cached-jars"]
    if args.warmup_input and not NOT_WARMED & set(variants):
        cmd += ["--warmup-input", str(args.warmup_input), "--warmup-rows", str(WARMUP_ROWS)]
    timeout = (args.timeout or max(600.0, rows / 100_000)) * len(variants)
    # Run from the library's folder: its imbalance_spark comes first (--library REF: the exported
    # commit's, not the work tree's); benchmarks/ is found through PYTHONPATH.
    outside = measure(cmd, log_path, variant_env(args, size_dir), timeout, cwd=args.library_root)
    out: dict[str, dict] = {}
    for v, result_path in result_of.items():
        if outside["returncode"] != 0 or not result_path.exists():
            out[v] = failure(outside, log_path)
            log.warning("%s (%s rows) failed: %s", v, f"{rows:,}", out[v]["error"])
            continue
        out[v] = {**outside, **json.loads(result_path.read_text())}
        out[v]["rows_per_s"] = out[v]["rows_in"] / out[v]["seconds"] if out[v].get("seconds") else None
        if len(variants) > 1:
            out[v]["shared_process"] = variants
    return out


# ---------------------------------------------------------------------------------------------
# summaries


def summarize(variant: str, runs: list[dict], floor_runs: list[dict]) -> dict:
    """Median time and paired ratio to the floor over repetitions; peak memory over all of them."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"status": "failed", "error": runs[-1].get("error") if runs else "not run", "runs": runs}
    secs = [r["seconds"] for r in ok]
    # pair each repetition with the floor measured in the same round
    ratios = [
        r["seconds"] / f["seconds"]
        for r, f in zip(runs, floor_runs, strict=False)
        if "error" not in r and "error" not in f and f.get("seconds")
    ]
    rows_in = ok[0]["rows_in"]
    median = statistics.median(secs)
    out = {
        "status": "ok",
        "repeats": len(ok),
        "seconds_median": median,
        "seconds_min": min(secs),
        "seconds_max": max(secs),
        "process_wall_s_median": statistics.median(r["wall_s"] for r in ok),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in ok),
        "rows_in": rows_in,
        "rows_out": ok[0]["rows_out"],
        "rows_per_s": rows_in / median,
        "ns_per_row": median / rows_in * 1e9,
        "ratio_to_floor": statistics.median(ratios) if ratios else None,
        "runs": runs,
    }
    if "files" in ok[0]:
        out["files"] = ok[0]["files"]
    stage_names = [k for k in ok[0].get("stages_s", {})]
    if stage_names:
        out["stages_s"] = {
            k: statistics.median(float(r["stages_s"].get(k, 0.0)) for r in ok) for k in stage_names
        }
    return out


def estimate_peak(variant: str, rows: int, sizes: list[dict]) -> float:
    """Peak bytes an in-memory variant will need at ``rows``, from its runs at smaller sizes.

    Two sizes measured: extrapolate the line through the two largest; one: scale its bytes per row;
    none: a default measured on this table.
    """
    by_rows = {  # a later measurement of the same size wins
        s["rows"]: s["variants"][variant]["peak_rss_bytes"]
        for s in sizes
        if s["variants"].get(variant, {}).get("status") == "ok" and s["rows"] >= 1_000_000
    }
    measured = sorted(by_rows.items())
    if len(measured) >= 2:
        (r1, p1), (r2, p2) = measured[-2:]
        slope = (p2 - p1) / (r2 - r1)
        if slope > 0:
            return p2 + slope * (rows - r2)
    if measured:
        r, peak = measured[-1]
        return peak / r * rows
    return DEFAULT_BYTES_PER_ROW[variant] * rows


def export_library(ref: str, data_dir: Path) -> tuple[Path, str]:
    """Export the library, jobs and conf of git ``ref`` to a folder; return it and the commit."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], capture_output=True,
                         text=True, cwd=REPO_ROOT, check=True).stdout.strip()
    root = data_dir / f"library-{sha[:12]}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", sha, "imbalance_spark", "jobs", "conf"],
                             capture_output=True, cwd=REPO_ROOT, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root, sha


# ---------------------------------------------------------------------------------------------


def prepare_input(rows: int, size_dir: Path, args: argparse.Namespace) -> dict:
    """The input of one size: generated (a process of its own), or kept by an earlier --keep-data run."""
    generated = size_dir / "generate-gen.json"
    if args.reuse_data and generated.exists() and (size_dir / "input").is_dir():
        gen = json.loads(generated.read_text())
        if gen.get("days", 30) == args.days:
            log.info("%s rows: reusing the input in %s", f"{rows:,}", size_dir / "input")
            return gen
        log.info("%s rows: the kept input has %s days, not %d: generating it again", f"{rows:,}", gen.get("days", 30),
                 args.days)
    shutil.rmtree(size_dir, ignore_errors=True)
    size_dir.mkdir(parents=True)
    need = rows * 40  # ~24 B/row of Parquet input plus outputs, with margin
    free = shutil.disk_usage(size_dir).free
    if free < need:
        raise SystemExit(f"not enough disk under {size_dir}: {free / 1e9:.1f} GB free, ~{need / 1e9:.1f} GB needed")
    log.info("%s rows: generating the input ...", f"{rows:,}")
    gen = run_variant("generate", size_dir, rows, args, "gen")
    if "error" in gen:
        raise SystemExit(f"generating {rows:,} rows failed: {gen['error']} (log {gen.get('log')})")
    generated.write_text(json.dumps(gen))
    return gen


def generate_in_session(spark, argv: list[str]) -> None:
    """Write the input of each of ``argv``'s sizes with ``spark`` (a session the caller already has,
    e.g. a test's) where ``benchmarks.run ARGV --reuse-data`` finds it: no generating process."""
    from benchmarks.variants import write_input

    args = parser().parse_args(argv)
    resolve_paths(args)
    for rows in args.rows:
        size_dir = Path(args.data_dir) / f"rows-{rows}"
        shutil.rmtree(size_dir, ignore_errors=True)
        size_dir.mkdir(parents=True)
        t0 = time.perf_counter()
        gen = write_input(spark, argparse.Namespace(input=str(size_dir / "input"), rows=rows, days=args.days))
        # the outside view of a generating process, here the caller's: its wall time and process tree
        gen.update(returncode=0, timed_out=False, wall_s=time.perf_counter() - t0,
                   peak_rss_bytes=tree_rss(psutil.Process()), in_session=True)
        (size_dir / "generate-gen.json").write_text(json.dumps(gen))


def too_big(variants: list[str], rows: int, args: argparse.Namespace, done: list[dict]) -> dict[str, str]:
    """The in-memory variants whose estimated peak does not fit in free memory, each with why."""
    skipped: dict[str, str] = {}
    available = psutil.virtual_memory().available
    for v in [v for v in variants if v in IN_MEMORY]:
        estimate = estimate_peak(v, rows, args.calibration + done)
        if estimate > args.memory_fraction * available:
            skipped[v] = (
                f"skipped: needs ~{estimate / 2**30:.1f} GiB (estimated from rows), "
                f"{available / 2**30:.1f} GiB available"
            )
            log.info("%s rows: %s %s", f"{rows:,}", v, skipped[v])
    return skipped


def process_groups(to_run: list[str], args: argparse.Namespace) -> list[str]:
    """What each process runs: every variant alone, or (--one-jvm) the in-process Spark ones together."""
    shared = [v for v in to_run if v not in NOT_WARMED] if args.one_jvm else []
    if len(shared) < 2:
        return list(to_run)
    return [",".join(shared), *[v for v in to_run if v not in shared]]


def run_repetitions(to_run: list[str], rows: int, size_dir: Path, args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every variant ``--repeat`` times, interleaved; each output removed after its run."""

    def run_one(group: str, rep: int) -> dict[str, dict]:
        results = run_variants(group.split(","), size_dir, rows, args, f"r{rep}")
        for v, r in results.items():
            if "error" not in r:
                log.info(
                    "%s rows, rep %d/%d: %-20s %7.2f s  (process %6.1f s, peak %5.2f GiB)",
                    f"{rows:,}", rep + 1, args.repeat, v, r["seconds"], r["wall_s"], r["peak_rss_bytes"] / 2**30,
                )
            shutil.rmtree(size_dir / "output" / v, ignore_errors=True)
        return results

    runs: dict[str, list[dict]] = {v: [] for v in to_run}
    for reps in interleaved(process_groups(to_run, args), args.repeat, run_one).values():
        for results in reps:
            for v, r in results.items():
                runs[v].append(r)
    return runs


def run_size(rows: int, variants: list[str], args: argparse.Namespace, done: list[dict]) -> dict:
    """Generate one input size, run every variant ``--repeat`` times, and summarize."""
    size_dir = Path(args.data_dir) / f"rows-{rows}"
    gen = prepare_input(rows, size_dir, args)
    log.info(
        "%s rows: input %.2f GB in %d files, generated in %.0f s",
        f"{rows:,}", gen["bytes"] / 1e9, gen["files"], gen["wall_s"],
    )
    skipped = too_big(variants, rows, args, done)
    to_run = [v for v in variants if v not in skipped]
    runs = run_repetitions(to_run, rows, size_dir, args)
    summary = {v: summarize(v, runs[v], runs[FLOOR]) for v in to_run}
    summary.update({v: {"status": "skipped", "note": why} for v, why in skipped.items()})
    if not args.keep_data:
        shutil.rmtree(size_dir, ignore_errors=True)
    return {
        "rows": rows,
        "input": {k: gen[k] for k in ("bytes", "files", "classes", "seconds", "wall_s", "peak_rss_bytes")},
        "variants": {v: summary[v] for v in variants},
    }


# ---------------------------------------------------------------------------------------------
# the command


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.run``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--rows", type=parse_rows, default=[2_000_000],
                   help="input size(s), comma separated, e.g. 2M or 10M,30M,100M (default 2M)")
    p.add_argument("--factor", type=int, default=20, help="downsampling factor F (default 20)")
    p.add_argument("--days", type=int, default=30,
                   help="days of event_date in the generated input, one partition each (default 30; fewer: fewer "
                        "partitions for every variant to write, a smoke run)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of each variant (default 3)")
    p.add_argument("--variants", type=parse_variants, default=parse_variants(DEFAULT_GROUPS),
                   help=f"groups ({', '.join(GROUPS)}) and/or variant names (default {DEFAULT_GROUPS})")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results directory (default benchmarks/results)")
    p.add_argument("--name", default="quick",
                   help="results file stem (default quick; the README shows latest.*)")
    p.add_argument("--data-dir", default=None, help="generated inputs/outputs (default <out>/tmp)")
    p.add_argument("--keep-data", action="store_true", help="keep the generated input after the run")
    p.add_argument("--cold", action="store_true",
                   help="time each in-process Spark variant's first run in its JVM (default: after a warm-up run "
                        "of the same variant on a small input of the same schema)")
    p.add_argument("--one-jvm", action="store_true",
                   help="run the in-process Spark variants of a repetition one after another in ONE process "
                        "(a smoke run: fewer JVM starts; their process time and peak memory are then shared)")
    p.add_argument("--reuse-data", action="store_true",
                   help="use an input kept by an earlier --keep-data run (or written by generate_in_session) "
                        "instead of generating it")
    p.add_argument("--cached-jars", action="store_true",
                   help="spark-submit gets the cached Delta jars (--jars, as benchmarks.cold's job_submit) instead "
                        "of --packages: no Ivy resolution (a smoke run)")
    p.add_argument("--calibrate-from", default="",
                   help="earlier result JSON files (comma separated) whose in-memory peaks estimate "
                        "whether pandas/Polars fit at a larger size")
    p.add_argument("--memory-fraction", type=float, default=0.8,
                   help="skip an in-memory variant whose estimated peak exceeds this share of free RAM")
    p.add_argument("--library", default="worktree",
                   help="'worktree' (default: the library as it is on disk) or a git ref (e.g. HEAD) "
                        "whose committed library, jobs and conf are exported and benchmarked")
    p.add_argument("--event-log", action="store_true",
                   help="Spark event logs for the in-process Spark variants; the JSON then lists each "
                        "SQL execution (what, seconds, tasks): where the time goes")
    p.add_argument("--timeout", type=float, default=None, help="seconds per variant run (default max(600, rows/1e5))")
    return p


def resolve_paths(args: argparse.Namespace) -> None:
    """Absolute results and data folders (the variants run in the library's folder), the library, the calibration."""
    args.out = str(Path(args.out).resolve())
    args.own_data_dir = args.data_dir is None
    args.data_dir = str(Path(args.data_dir or Path(args.out) / "tmp").resolve())
    args.calibration = [
        s for f in args.calibrate_from.split(",") if f.strip() for s in json.loads(Path(f).read_text())["sizes"]
    ]
    if args.library == "worktree":
        args.library_root, args.library_name = REPO_ROOT, "worktree"
    else:
        args.library_root, sha = export_library(args.library, Path(args.data_dir))
        args.library_name = f"{args.library} = {sha[:12]}"


def prepare_warmup(args: argparse.Namespace) -> None:
    """Unless --cold: the small input every in-process Spark variant first runs on, untimed."""
    args.warmup_input = None
    if args.cold:
        return
    warm_dir = Path(args.data_dir) / "warmup"
    if not (warm_dir / "input").is_dir():
        warm_dir.mkdir(parents=True, exist_ok=True)
        log.info("generating the %s-row warm-up input ...", f"{WARMUP_ROWS:,}")
        gen = run_variant("generate", warm_dir, WARMUP_ROWS, args, "gen")
        if "error" in gen:
            raise SystemExit(f"generating the warm-up input failed: {gen['error']}")
    args.warmup_input = warm_dir / "input"


def new_results(args: argparse.Namespace, argv: list[str] | None, started: dt.datetime) -> dict:
    """The result document before any size is measured."""
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.run", *(argv or sys.argv[1:])]),
        "factor": args.factor,
        "days": args.days,
        "repeat": args.repeat,
        "variants": args.variants,
        "library": args.library_name,
        "machine": machine_info(),
        "sizes": [],
        "warmup": None if args.cold else f"each in-process Spark variant first runs on {WARMUP_ROWS:,} rows",
    }


def clean_up(args: argparse.Namespace) -> None:
    """Leave nothing behind but the results: the warm-up input, the exported library, and the data
    folder itself when it was ours (runs' logs are summarized in the JSON)."""
    if args.keep_data or args.reuse_data:
        return
    if args.own_data_dir:
        shutil.rmtree(args.data_dir, ignore_errors=True)
    elif args.warmup_input is not None:
        shutil.rmtree(Path(args.data_dir) / "warmup", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Measure every size, writing the results (JSON, markdown, chart) after each."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    resolve_paths(args)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    results = new_results(args, argv, started)
    prepare_warmup(args)
    try:
        for rows in args.rows:
            results["sizes"].append(run_size(rows, args.variants, args, results["sizes"]))
            results["scaling"] = scaling(results["sizes"])
            results["duration_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
            # write after every size so a long run that is stopped keeps what it measured
            (out_dir / f"{args.name}.json").write_text(json.dumps(results, indent=1, default=str))
            render(results, out_dir, args.name)
    finally:
        clean_up(args)
    print((out_dir / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
