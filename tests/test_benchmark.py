"""Smoke runs of ``python -m benchmarks.run`` (5k rows) and ``benchmarks.cold``: every variant and command runs and is measured.

Timing targets belong to the benchmark itself; this only checks that it works end to end.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT, cli_env

# each variant is its own process: start-up dominates, not rows; the 5 sigma bound on the samplers'
# kept rows holds at any size (5k rows at 0.5% positives: ~25 positives, ~249 majority rows kept)
ROWS = 5_000
FACTOR = 20
# variant -> the modules it needs beyond the project's own dependencies (the `bench` extra)
NEEDS = {
    "floor_noop_scan": [],
    "job_library": [],
    "job_spark_submit": [],
    "naive_spark": [],
    "pandas_imblearn": ["pandas", "imblearn", "pyarrow"],
    "polars_eager": ["polars"],
    "polars_streaming": ["polars"],
}
SAMPLERS = [v for v in NEEDS if v != "floor_noop_scan"]


def _available(modules: list[str]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.mark.slow
def test_every_variant_is_measured(smoke):
    missing = [v for v in NEEDS if v not in smoke["variants"]]
    if missing:
        pytest.skip(f"bench extra not installed, variants not run: {missing}")
    (size,) = smoke["results"]["sizes"]
    assert size["rows"] == ROWS
    assert set(size["variants"]) == set(NEEDS)
    for name, v in size["variants"].items():
        assert v["status"] == "ok", (name, v.get("error"))
        assert v["seconds_median"] > 0 and v["process_wall_s_median"] >= v["seconds_median"] * 0.5, name
        assert v["peak_rss_bytes"] > 10 * 2**20, name
        assert v["rows_in"] == ROWS and v["rows_out"] > 0, name
        assert v["ratio_to_floor"] > 0 and v["rows_per_s"] > 0, name
    assert size["variants"]["floor_noop_scan"]["ratio_to_floor"] == pytest.approx(1.0)
    shared = ["floor_noop_scan", "job_library", "naive_spark"]  # --one-jvm: one process, each timed itself
    assert all(size["variants"][v]["runs"][0]["shared_process"] == shared for v in shared)
    assert "shared_process" not in size["variants"]["job_spark_submit"]["runs"][0]
    assert set(size["variants"]["job_library"]["stages_s"]) >= {"read", "profile", "write"}


@pytest.mark.slow
def test_every_sampler_keeps_about_one_in_f_of_the_majority(smoke):
    (size,) = smoke["results"]["sizes"]
    classes = size["input"]["classes"]
    minority, majority = classes["1"], classes["0"]
    expected = minority + majority / FACTOR
    sigma = math.sqrt(majority * (1 / FACTOR) * (1 - 1 / FACTOR))
    for name in SAMPLERS:
        v = size["variants"].get(name)
        if v is None:
            continue
        assert abs(v["rows_out"] - expected) <= 5 * sigma + 1, (name, v["rows_out"], expected)
    # the library call and spark-submit run the same job on the same files with the same seed
    variants = size["variants"]
    assert variants["job_library"]["rows_out"] == variants["job_spark_submit"]["rows_out"]


@pytest.mark.slow
def test_writes_the_readme_table_and_chart(smoke):
    out = smoke["out"]
    md = (out / "smoke.md").read_text()
    assert "(a) floor" in md and "the job**, library call" in md and "Machine: " in md
    assert (out / "smoke.png").stat().st_size > 10_000
    assert not (out / "tmp" / f"rows-{ROWS}").exists(), "generated data is deleted after the run"


def test_scaling_separates_start_up_from_per_row_cost():
    from benchmarks.common import scaling

    # seconds = 5 s start-up + 200 ns per row, measured at three sizes
    sizes = [
        {"rows": n, "variants": {"job_library": {"status": "ok", "seconds_median": 5 + 200e-9 * n,
                                                 "ns_per_row": (5 + 200e-9 * n) / n * 1e9}}}
        for n in (10_000_000, 30_000_000, 100_000_000)
    ]
    job = scaling(sizes)["job_library"]
    assert job["fit"]["fixed_s"] == pytest.approx(5.0)
    assert job["fit"]["marginal_ns_per_row"] == pytest.approx(200.0)
    assert job["step_ns_per_row"] == {"10000000-30000000": pytest.approx(200.0),
                                      "30000000-100000000": pytest.approx(200.0)}
    assert job["change_from_10000000_to_100000000"] == pytest.approx(250 / 700 - 1)


def test_the_report_is_read_in_one_place_from_its_json_or_its_model():
    from benchmarks.common import report_numbers

    doc = {"input": {"rows": 100}, "output": {"rows": 9}, "stages_s": {"read": 1.5}, "duration_s": 3.0, "x": 1}

    class Typed:  # what run_job returns: a model that serialises to the JSON's dict
        def as_dict(self):
            return doc

    expected = {"rows_in": 100, "rows_out": 9, "stages_s": {"read": 1.5}, "duration_s": 3.0}
    assert report_numbers(doc) == report_numbers(Typed()) == expected


def test_benchmarks_is_a_package_that_edits_no_import_path():
    sources = sorted((REPO_ROOT / "benchmarks").glob("*.py"))
    assert REPO_ROOT / "benchmarks" / "__init__.py" in sources
    assert [f.name for f in sources if "sys.path" in f.read_text()] == []
    # run and the renderers share benchmarks.common instead of importing each other
    assert "benchmarks.run" not in (REPO_ROOT / "benchmarks" / "render.py").read_text()


# ---------------------------------------------------------------------------------------------
# benchmarks.cold: whole processes, cold, on Delta tables


COLD_DAY_ROWS = 5_000
COLD_DAYS = 3
# the checks are on the shape and the job's counts, not the size: 5k rows of 20 columns (12 numeric
# features; 60 columns made the cold job's profile of the 30-day table cost 12 s of its 36)
WIDE_ROWS, WIDE_COLUMNS = 5_000, 20


# One benchmarks.cold process measures both views. Every command it starts in the smoke run is its
# own process once: the daily view the untimed prepare run (job_cli), startup, floor (the day),
# floor_quick and job_cli_quick (the quick-JIT pair); the wide view only job_cli (its assertions are
# on the table's shape and the job's counts). The tables are written beforehand in the test session
# by the benchmark's own generator (no generating JVMs), and found with --reuse-data. --parallel 2:
# two commands at a time (a view's jobs still one after another); --no-history: the jobs' configs
# without a history table (a Delta table of its own, ~2 s per cold run, that no check here reads).
COLD_COMMANDS = {"daily": ["startup", "floor", "floor_quick", "job_cli_quick"], "wide": ["job_cli"]}
COLD_TABLES = ["--views", "daily,wide", "--wide-rows", str(WIDE_ROWS), "--wide-columns", str(WIDE_COLUMNS),
               "--daily-days", str(COLD_DAYS), "--daily-rows", str(COLD_DAY_ROWS), "--run-date", "2026-01-02"]


def _start(argv: list[str], log_path) -> subprocess.Popen:
    """A benchmark command in a process group of its own, its output to ``log_path``."""
    with open(log_path, "w") as log_file:
        return subprocess.Popen([sys.executable, "-m", *argv], stdout=log_file, stderr=subprocess.STDOUT, text=True,
                                env=cli_env(), cwd=REPO_ROOT, start_new_session=True)


def _finish(proc: subprocess.Popen, log_path, deadline: float) -> None:
    """Wait for ``proc`` until ``deadline`` (time.monotonic()); it must have exited 0."""
    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    assert proc.returncode == 0, log_path.read_text()[-3000:]


@pytest.fixture(scope="module")
def smokes(spark, tmp_path_factory) -> dict:
    """Both harnesses end to end, side by side: ``benchmarks.cold`` and ``benchmarks.run`` as processes.

    A cold command's process keeps about one core busy (its JVM's start, class loading, a first query
    on a few thousand rows): two such processes on 2 cores took 13 s together where one took 9.9 s.
    """
    pytest.importorskip("psutil")
    pytest.importorskip("matplotlib")
    from benchmarks.cold import generate_in_session as write_cold_tables
    from benchmarks.run import generate_in_session as write_run_input

    cold_out, data, out = (tmp_path_factory.mktemp(n) for n in ("cold", "cold-data", "bench"))
    tables = [*COLD_TABLES, "--data-dir", str(data)]
    variants = [v for v, mods in NEEDS.items() if _available(mods)]
    # --cold: no warm-up input and no warm-up run in each Spark variant; --one-jvm: the in-process Spark
    # variants (floor, job_library, naive_spark) share one process; --cached-jars: spark-submit without Ivy
    run_argv = ["--rows", str(ROWS), "--repeat", "1", "--cold", "--one-jvm", "--cached-jars", "--factor", str(FACTOR),
                "--variants", ",".join(variants), "--out", str(out), "--data-dir", str(out / "tmp"), "--name", "smoke"]
    logs = {"cold": cold_out / "smoke.log", "run": out / "smoke.log"}
    procs: dict[str, subprocess.Popen] = {}
    deadline = time.monotonic() + 900
    try:
        write_cold_tables(spark, tables)
        procs["cold"] = _start(["benchmarks.cold", *tables, "--reuse-data", "--repeat", "1", "--no-history",
                                "--parallel", "2", "--commands", ",".join(COLD_COMMANDS["daily"]),
                                "--view-commands", "wide=" + ",".join(COLD_COMMANDS["wide"]),
                                "--out", str(cold_out), "--name", "smoke"], logs["cold"])
        write_run_input(spark, run_argv)
        procs["run"] = _start(["benchmarks.run", *run_argv, "--reuse-data"], logs["run"])
        for name, proc in procs.items():
            _finish(proc, logs[name], deadline)
    finally:
        # a timeout or a failure stops the Spark processes the benchmarks started, not only them
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    cold = json.loads((cold_out / "smoke.json").read_text())
    return {
        "run": {"results": json.loads((out / "smoke.json").read_text()), "out": out, "variants": variants},
        "cold": {"views": {v["view"]: v for v in cold["views"]}, "order": [v["view"] for v in cold["views"]],
                 "kinds": {cold["kind"]}, "parallel": cold["parallel"], "out": cold_out, "data": data},
    }


@pytest.fixture(scope="module")
def smoke(smokes) -> dict:
    """``python -m benchmarks.run`` at 5k rows: its results, output folder and the variants it ran."""
    return smokes["run"]


@pytest.fixture(scope="module")
def cold_smoke(smokes) -> dict:
    """``python -m benchmarks.cold`` on both small tables: its views, their order, its folders."""
    return smokes["cold"]


@pytest.mark.slow
def test_cold_measures_every_command_as_its_own_process(cold_smoke):
    assert cold_smoke["kinds"] == {"cold"} and cold_smoke["order"] == ["daily", "wide"] and cold_smoke["parallel"] == 2
    for view_name, view in cold_smoke["views"].items():
        assert view["view"] == view_name
        cmds = view["commands"]
        assert list(cmds) == COLD_COMMANDS[view_name]
        for name, c in cmds.items():
            assert c["status"] == "ok", (view["view"], name, c.get("error"))
            assert c["wall_s_median"] > 0 and c["peak_rss_bytes"] > 10 * 2**20, (view["view"], name)
        for name in [c for c in cmds if c.startswith("job_")]:
            job = cmds[name]
            # the report's stage names are the library's; whatever they are, they fit in its duration
            assert job["stages_s"] and 0 < sum(job["stages_s"].values()) <= job["duration_s_median"] + 0.01
            assert 0 < job["duration_s_median"] < job["wall_s_median"]
            assert job["outside_run_s_median"] == pytest.approx(job["wall_s_median"] - job["duration_s_median"])
        assert view["jars"]["cached_jars"] > 0
    cmds = cold_smoke["views"]["daily"]["commands"]
    # the user's script times its own steps; together they fit inside the process's wall time
    for name in ("startup", "floor", "floor_quick"):
        steps = cmds[name]["steps_s"]
        assert {"JVM + session start", "open the table (Delta log, schema)", "stop"} <= set(steps)
        assert 0 < sum(steps.values()) < cmds[name]["wall_s_median"]
    assert "scan to noop" in cmds["floor"]["steps_s"] and "scan to noop" not in cmds["startup"]["steps_s"]
    # each job against the floor and net of start-up (the wide view runs neither: no comparison there)
    job, start, floor = cmds["job_cli_quick"], cmds["startup"]["wall_s_median"], cmds["floor"]["wall_s_median"]
    assert job["over_floor_s"] == pytest.approx(job["wall_s_median"] - floor)
    if floor > start:
        assert job["net_ratio"] == pytest.approx((job["wall_s_median"] - start) / (floor - start))
    assert "over_floor_s" not in cold_smoke["views"]["wide"]["commands"]["job_cli"]
    # the quick-JIT pair: the job with spark.quick_start against the floor with the same JVM option
    assert "scan to noop" in cmds["floor_quick"]["steps_s"]
    assert job["over_floor_quick_s"] == pytest.approx(job["wall_s_median"] - cmds["floor_quick"]["wall_s_median"])


@pytest.mark.slow
def test_cold_wide_table_and_daily_slice(cold_smoke):
    wide, daily = cold_smoke["views"]["wide"], cold_smoke["views"]["daily"]
    assert wide["table"]["columns"] == WIDE_COLUMNS and wide["table"]["rows"] == WIDE_ROWS
    assert wide["commands"]["job_cli"]["rows_in"] == WIDE_ROWS
    assert daily["table"]["rows"] == COLD_DAYS * COLD_DAY_ROWS and daily["run_date"] == "2026-01-02"
    # the daily run and its floor read one day: the job's report counts exactly that day's rows
    assert daily["table"]["slice_rows"] == COLD_DAY_ROWS
    job = daily["commands"]["job_cli_quick"]  # the job with spark.quick_start: the same run, its JVM on C1
    assert job["rows_in"] == COLD_DAY_ROWS
    # ... and keeps all its positives and about 1 in 20 of the rest
    minority, majority = daily["table"]["slice_classes"]["1"], daily["table"]["slice_classes"]["0"]
    sigma = math.sqrt(majority * (1 / FACTOR) * (1 - 1 / FACTOR))
    assert abs(job["rows_out"] - (minority + majority / FACTOR)) <= 5 * sigma + 1
    assert daily["prepare_wall_s"] > 0  # the untimed run that created the output the timed runs replace a day of
    assert wide["prepare_wall_s"] is None  # a full run writes a new table: nothing to prepare


@pytest.mark.slow
def test_cold_writes_table_chart_and_cleans_up(cold_smoke):
    out = cold_smoke["out"]
    md = (out / "smoke.md").read_text()
    assert "net of start-up" in md and "Where the seconds go: daily" in md and "Where the seconds go: wide" in md
    assert "Commands ran 2 at a time" in md
    daily = cold_smoke["views"]["daily"]
    assert all(f"| stage: {k} |" in md for k in daily["commands"]["job_cli_quick"]["stages_s"])
    assert "**daily**: one day (2026-01-02" in md and f"**wide**: {WIDE_ROWS // 1000}k rows" in md
    assert (out / "smoke.png").stat().st_size > 10_000
    assert not (out / "tmp").exists()
    # the runs' outputs and logs are deleted after the run; --reuse-data keeps the tables it was given
    assert not (cold_smoke["data"] / "runs" / "smoke").exists(), "run outputs are deleted after the run"
    assert sorted(p.name for p in cold_smoke["data"].iterdir()) == ["daily-3x5000", "runs", f"wide-{WIDE_ROWS}x{WIDE_COLUMNS}"]


def test_cold_net_ratio_subtracts_the_same_start_up():
    from benchmarks.cold import compare

    summary = {
        "startup": {"status": "ok", "wall_s_median": 20.0},
        "floor": {"status": "ok", "wall_s_median": 40.0},
        "job_cli": {"status": "ok", "wall_s_median": 61.0},
        "job_submit": {"status": "failed"},
    }
    compare(summary)
    assert summary["job_cli"]["net_ratio"] == pytest.approx(41.0 / 20.0)
    assert summary["job_cli"]["over_floor_s"] == pytest.approx(21.0)
    assert summary["floor"]["net_ratio"] == pytest.approx(1.0)
    assert "net_ratio" not in summary["job_submit"]


# benchmarks.one_pass: the profile pass against a persisted sample, warm, in one JVM


def test_one_pass_times_every_design_on_a_delta_table(spark, small_fraud_table):
    """The designs run in the test session (the command only adds a session and the JSON file)."""
    from benchmarks.one_pass import measure

    result = measure(spark, small_fraud_table, repeat=1, warmup=False)  # one round: each design once
    json.dumps(result)  # what the command prints and writes
    assert result["rows"] == 30_000 and result["factor"] == 20
    assert set(result["median_s"]) == {"profile_then_write", "persist_memory", "persist_disk", "write_only"}
    assert all(len(v) == 1 and v[0] > 0 for v in result["seconds"].values())


def test_cold_parallel_keeps_a_views_jobs_in_one_lane_after_its_prepare(monkeypatch, tmp_path):
    """--parallel: other commands side by side, a view's jobs one at a time after its untimed prepare run."""
    import threading

    from benchmarks import cold

    events, running, lock = [], [], threading.Lock()

    def fake_run(name, meta, run_dir, args, tag):  # a command's process: recorded, not started
        with lock:
            running.append(tag)
            events.append(("start", meta["kind"], tag, len(running)))
        time.sleep(0.02)
        with lock:
            running.remove(tag)
            events.append(("end", meta["kind"], tag, len(running)))
        return {"wall_s": 1.0, "peak_rss_bytes": 2**20, "command": name}

    monkeypatch.setattr(cold, "run_command", fake_run)
    args = cold.parse_args(["--views", "daily,wide", "--data-dir", str(tmp_path), "--repeat", "2", "--parallel", "3",
                            "--commands", "startup,floor,job_cli,job_cli_quick"])
    args.jars = "delta.jar"
    tables = {"daily": {"kind": "daily", "rows": 30, "slice_rows": 10, "run_date": "2026-01-02"},
              "wide": {"kind": "wide", "rows": 30}}
    views = cold.run_views_side_by_side(tables, args)
    assert [v["view"] for v in views] == ["daily", "wide"]
    assert views[0]["prepare_wall_s"] == 1.0 and views[1]["prepare_wall_s"] is None
    for v in views:
        assert {c: s["repeats"] for c, s in v["commands"].items()} == dict.fromkeys(
            ["startup", "floor", "job_cli", "job_cli_quick"], 2)
    daily_jobs = [(e[0], e[2]) for e in events if e[1] == "daily" and e[2].startswith(("job_", "prepare"))]
    # one lane: each job starts after the one before it ended, the prepare run first
    assert daily_jobs[:2] == [("start", "prepare"), ("end", "prepare")]
    assert all(a[0] == "start" and b == ("end", a[1]) for a, b in zip(daily_jobs[::2], daily_jobs[1::2], strict=True))
    assert 1 < max(e[3] for e in events if e[0] == "start") <= 3  # side by side, at most --parallel at once
