"""The cold benchmark's summaries: medians over a command's repetitions, each command against the floor."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def summarize(runs: list[dict]) -> dict:
    """Medians over repetitions (wall, the job's stages, the user scan's steps); peak RSS over all."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"status": "failed", "error": runs[-1].get("error") if runs else "not run", "runs": runs}
    out = {
        "status": "ok",
        "repeats": len(ok),
        "wall_s_median": statistics.median(r["wall_s"] for r in ok),
        "wall_s_min": min(r["wall_s"] for r in ok),
        "wall_s_max": max(r["wall_s"] for r in ok),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in ok),
        "command": ok[0]["command"],
        "runs": runs,
    }
    for key in ("duration_s", "outside_run_s", "seconds", "python_start_exit_s"):
        if key in ok[0]:
            out[f"{key}_median"] = statistics.median(r[key] for r in ok)
    for key in ("rows_in", "rows_out"):
        if key in ok[0]:
            out[key] = ok[0][key]
    for key in ("stages_s", "steps_s"):
        if key in ok[0]:
            names = list(dict.fromkeys(k for r in ok for k in r[key]))  # generic: whatever the run reported
            out[key] = {k: statistics.median(float(r[key].get(k, 0.0)) for r in ok) for k in names}
    return out


def compare(summary: dict[str, dict]) -> None:
    """Each command against the floor: seconds over it, and (cmd - start-up) / (floor - start-up)."""
    start = summary.get("startup", {}).get("wall_s_median")
    floor = summary.get("floor", {}).get("wall_s_median")
    for s in summary.values():
        if s.get("status") != "ok" or floor is None:
            continue
        s["over_floor_s"] = s["wall_s_median"] - floor
        if start is not None and floor - start > 0:
            s["net_ratio"] = (s["wall_s_median"] - start) / (floor - start)
    quick = summary.get("floor_quick", {})
    job = summary.get("job_cli_quick", {})
    if quick.get("status") == "ok" and job.get("status") == "ok":
        # the same JVM option on both sides
        job["over_floor_quick_s"] = job["wall_s_median"] - quick["wall_s_median"]


def jar_resolution(summary: dict[str, dict], args: argparse.Namespace) -> dict:
    """How the Delta jars reach each run: cached spark.jars (no resolution), and what Ivy would cost."""
    out = {
        "cached_jars": len(args.jars.split(",")),
        "cache_dir": str(Path(args.jars.split(",")[0]).parent),
        "note": "every command but job_submit_packages gets the cached jars as spark.jars/--jars: no Ivy resolution",
    }
    submit, packages = summary.get("job_submit", {}), summary.get("job_submit_packages", {})
    if submit.get("status") == "ok" and packages.get("status") == "ok":
        out["ivy_resolution_s"] = packages["wall_s_median"] - submit["wall_s_median"]
    return out
