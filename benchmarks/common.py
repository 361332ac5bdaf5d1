"""What the benchmarks share: process-tree measurement, interleaving, the machine, sizes, the report's numbers.

``run.py``, ``cold.py`` and the renderers import from here, never from each other.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def parse_rows(text: str) -> list[int]:
    """'2M,10M,100000' -> [2000000, 10000000, 100000]; each size as `imbalance-spark generate --rows`."""
    from imbalance_spark.cli import row_count

    try:
        sizes = [row_count(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        sizes = []
    if not sizes:
        raise argparse.ArgumentTypeError(f"--rows: expected positive sizes like 2M,10M; got {text!r}")
    return sizes


def size_label(rows: int) -> str:
    """2000000 -> '2M', 200000 -> '200k', 12345 -> '12,345'."""
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1_000 and rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return f"{rows:,}"


def report_numbers(report: Any) -> dict[str, Any]:
    """What a benchmark records of a run report: rows in and out, stage seconds, duration.

    ``report`` is what ``run_job`` returns (a typed report: its ``as_dict()``) or the report JSON
    read back (a dict); this is the one place in benchmarks/ that reads the report's fields.
    """
    doc = report if isinstance(report, Mapping) else report.as_dict()
    return {
        "rows_in": doc["input"]["rows"],
        "rows_out": doc["output"]["rows"],
        "stages_s": dict(doc["stages_s"]),
        "duration_s": doc["duration_s"],
        # a report of a library before it had them has none
        **({"output_files": doc["output_files"]} if doc.get("output_files") is not None else {}),
    }


# ---------------------------------------------------------------------------------------------
# measuring one process tree


def tree_rss(proc) -> int:
    """Resident bytes of ``proc`` (a psutil.Process) and all its descendants."""
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def _kill_tree(proc) -> None:
    for child in proc.children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


def measure(
    cmd: list[str], log_path: Path, env: dict[str, str], timeout: float, interval: float = 0.1,
    cwd: Path = REPO_ROOT,
) -> dict:
    """Run ``cmd`` in ``cwd``; return its exit code, wall seconds and the peak RSS of its process tree."""
    import psutil

    peak = 0
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        proc = psutil.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        timed_out = False
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc))
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                _kill_tree(proc)
                break
            time.sleep(interval)
    return {
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "wall_s": time.perf_counter() - t0,
        "peak_rss_bytes": peak,
    }


def failure(out: dict, log_path: Path) -> dict:
    """``out`` of a failed :func:`measure` with its error: the cause and the log's last lines."""
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    why = "timed out" if out["timed_out"] else f"exit {out['returncode']}"
    return {**out, "error": f"{why}: {' | '.join(tail)}"[:1000], "log": str(log_path)}


def interleaved(names: list[str], repeat: int, run_one: Callable[[str, int], dict]) -> dict[str, list[dict]]:
    """``repeat`` rounds of ``run_one(name, rep)`` for every name; each name's results in round order.

    The order is rotated each round so that no name always runs first (cold) or last, and a noisy
    machine slows them alike. ``run_one`` does any logging and cleaning up of its own.
    """
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for rep in range(repeat):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            runs[name].append(run_one(name, rep))
    return runs


def side_by_side(tasks: list[Callable[[], None]], workers: int) -> None:
    """Run ``tasks`` up to ``workers`` at a time, started in the order given; re-raise the first failure."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task) for task in tasks]
    for future in futures:
        future.result()


# ---------------------------------------------------------------------------------------------
# the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for pkg in ["pyspark", "delta-spark", "pandas", "imbalanced-learn", "polars", "pyarrow", "numpy"]:
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    java = subprocess.run(["java", "-version"], capture_output=True, text=True)
    versions["java"] = (java.stderr.splitlines() or ["?"])[0]
    versions["python"] = platform.python_version()
    return versions


def machine_info() -> dict:
    """Cores, memory, CPU model, OS and the versions the numbers were measured with."""
    import psutil

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "imbalance_spark"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    return {
        "cores": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": _versions(),
        "git_commit": git.stdout.strip() or None,
        "library_modified": bool(dirty.stdout.strip()),
        "load_avg_at_start": os.getloadavg(),
    }


# ---------------------------------------------------------------------------------------------
# cost per row


def _least_squares(pts: list[tuple[int, float]]) -> dict[str, float]:
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return {"fixed_s": my - slope * mx, "marginal_ns_per_row": slope * 1e9}


def scaling(sizes: list[dict]) -> dict:
    """Per-row cost (ns/row) of each variant at each size, its change from 10M rows up, and a
    least-squares line seconds = fixed + per_row * rows (the marginal cost without start-up)."""
    out: dict[str, dict] = {}
    for s in sizes:
        for v, r in s["variants"].items():
            if r.get("status") == "ok":
                d = out.setdefault(v, {"ns_per_row": {}, "seconds": {}})
                d["ns_per_row"][str(s["rows"])] = r["ns_per_row"]
                d["seconds"][str(s["rows"])] = r["seconds_median"]
    for d in out.values():
        big = {int(k): x for k, x in d["ns_per_row"].items() if int(k) >= 10_000_000}
        if len(big) >= 2:
            lo, hi = min(big), max(big)
            d[f"change_from_{lo}_to_{hi}"] = big[hi] / big[lo] - 1.0
        pts = sorted((int(k), x) for k, x in d["seconds"].items())
        # the cost of each further row: seconds added per row added, size to size (start-up cancels out)
        d["step_ns_per_row"] = {
            f"{a[0]}-{b[0]}": (b[1] - a[1]) / (b[0] - a[0]) * 1e9 for a, b in zip(pts, pts[1:], strict=False)
        }
        if len(pts) >= 2:
            d["fit"] = _least_squares(pts)
    return out
