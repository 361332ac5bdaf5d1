"""The cold benchmark's commands, each a new process: its argv, environment and config, and its result.

``python -m benchmarks.cold`` runs these (``run_command``); what each command reports itself
(a job's run report, the user script's step times) is read back here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from benchmarks.common import REPO_ROOT, failure, measure, report_numbers

log = logging.getLogger("benchmarks.cold")

MASTER = "local[2]"
LABEL = "is_fraud"
DATE_COLUMN = "event_date"
SEED = 42
JOBS = {"job_cli", "job_submit", "job_submit_packages", "job_cli_quick"}
VARIANTS = {"naive_spark", "polars_eager", "polars_streaming"}  # benchmarks.variants, on the Delta input


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def spark_settings(jars: str) -> dict[str, str]:
    """What every Spark command gets: the cached jars, Delta, the local tuning the job's session has."""
    from imbalance_spark.session import DELTA_CONF, LOG4J2_PROPERTIES, local_defaults

    return {
        "spark.jars": jars,
        **DELTA_CONF,
        # few shuffle and Delta log-replay partitions on a local master, as a competent user sets them
        **local_defaults(MASTER),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}",
    }


def job_config(meta: dict, run_dir: Path, args: argparse.Namespace, tag: str, quick_start: bool = False) -> Path:
    """The dataset YAML of one job run: the table, factor F, output/history in the run folder."""
    import yaml

    cfg = {
        "dataset": f"cold_{meta['kind']}",
        "input": {"path": meta["path"], "format": "delta", "date_column": DATE_COLUMN},
        "label_column": LABEL,
        "minority_classes": [1],
        "downsampling": {"factor": args.factor, "seed": SEED},
        "weight": {"column": "example_weight"},
        "output": {"path": str(run_dir / "output"), "partition_by": [DATE_COLUMN]},
        "report": {"path": str(run_dir / "reports" / f"{tag}.json")},
    }
    if quick_start:
        cfg["spark"] = {"quick_start": True}
    if not args.no_history:
        cfg["history"] = {"path": str(run_dir / "history")}
    path = run_dir / "configs" / f"{tag}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def command_line(name: str, meta: dict, run_dir: Path, args: argparse.Namespace, tag: str) -> list[str]:
    """The argv of one command; job commands get a fresh config whose report lands at ``tag``."""
    run_date = meta.get("run_date")
    if name in ("startup", "floor", "floor_quick"):
        cmd = [sys.executable, "-m", "benchmarks.cold_commands", name.removesuffix("_quick"), "--table", meta["path"],
               "--master", MASTER, "--result", str(run_dir / "results" / f"{tag}.json")]
        from imbalance_spark.session import with_quick_start

        settings = with_quick_start(args.settings) if name == "floor_quick" else args.settings
        cmd += [a for k, v in settings.items() for a in ("--conf", f"{k}={v}")]
        return cmd + (["--run-date", run_date] if run_date and name.startswith("floor") else [])
    if name in VARIANTS:
        return [sys.executable, "-m", "benchmarks.variants", name, "--input", meta["path"], "--input-format", "delta",
                "--rows", str(meta["rows"]), "--factor", str(args.factor), "--output", str(run_dir / f"output-{name}"),
                "--result", str(run_dir / "results" / f"{tag}.json")]
    cfg = job_config(meta, run_dir, args, tag, quick_start=name == "job_cli_quick")
    dates = ["--run-date", run_date] if run_date else []
    if name in ("job_cli", "job_cli_quick"):
        return [*args.cli, "run", "--config", str(cfg), "--master", MASTER, *dates]
    from imbalance_spark.packages import delta_packages_arg
    from imbalance_spark.session import LOG4J2_PROPERTIES

    jars = ["--packages", delta_packages_arg()] if name == "job_submit_packages" else ["--jars", args.jars]
    return [args.spark_submit, "--master", MASTER, *jars,
            "--driver-java-options", f"-Dlog4j2.configurationFile=file:{LOG4J2_PROPERTIES}",
            str(REPO_ROOT / "jobs" / "downsample.py"), "--config", str(cfg), *dates]


def run_command(name: str, meta: dict, run_dir: Path, args: argparse.Namespace, tag: str) -> dict:
    """One command as a new process: outside wall time and peak RSS, plus what it reported itself."""
    if meta.get("run_date") is None and name in JOBS:
        # a full run writes a new table (as benchmarks/run.py does), so every repetition starts alike
        shutil.rmtree(run_dir / "output", ignore_errors=True)
        shutil.rmtree(run_dir / "history", ignore_errors=True)
    if name in VARIANTS:
        shutil.rmtree(run_dir / f"output-{name}", ignore_errors=True)
    (run_dir / "results").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "logs" / f"{tag}.log"
    cmd = command_line(name, meta, run_dir, args, tag)
    rows = meta.get("slice_rows") or meta["rows"]
    out = measure(cmd, log_path, child_env(), args.timeout or max(600.0, rows / 50_000))
    out["command"] = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))
    if out["returncode"] != 0:
        failed = failure(out, log_path)
        log.warning("%s %s failed: %s", meta["kind"], name, failed["error"])
        return failed
    if name in JOBS:
        report = report_numbers(json.loads((run_dir / "reports" / f"{tag}.json").read_text()))
        out.update(
            duration_s=report["duration_s"],
            stages_s=report["stages_s"],
            rows_in=report["rows_in"],
            rows_out=report["rows_out"],
            # what the report does not see: interpreter, imports, JVM and session start, stop
            outside_run_s=out["wall_s"] - report["duration_s"],
        )
    else:
        inner = json.loads((run_dir / "results" / f"{tag}.json").read_text())
        if name in VARIANTS:
            out.update(seconds=inner["seconds"], rows_in=inner["rows_in"], rows_out=inner["rows_out"])
        else:
            out.update(steps_s=inner["steps_s"], python_start_exit_s=out["wall_s"] - inner["measured_s"])
    return out
