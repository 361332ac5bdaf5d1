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
from pathlib import Path

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
    assert "(0.5% positives, 3 days)" in md and smoke["results"]["days"] == 3
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


# One benchmarks.cold process measures both views, one process per kind of command the harness starts:
# on the daily view the floor (cold_commands' scan of the one day, --run-date); on the wide view startup
# (cold_commands without the scan) and job_cli_quick (the CLI job, a full run, spark.quick_start). The
# other commands differ from these only in the argv and config the harness builds, checked in process
# by test_cold_builds_every_commands_argv_and_config (startup/floor on either table, floor_quick, job_cli,
# the daily run's --run-date, job_submit, job_submit_packages, the variants); run_command's reading of
# each kind's numbers is test_cold_run_command_reads_what_each_command_reported; the untimed prepare run
# of a daily view's jobs is test_cold_parallel_keeps_a_views_jobs_in_one_lane_after_its_prepare (a daily
# run of the job as a process: test_cluster, test_dag). The tables are written beforehand in the test
# session by the benchmark's own generator (no generating JVMs), and found with --reuse-data.
# --parallel 2: two commands at a time; --no-history: the job's config without a history table (a Delta
# table of its own, ~2 s per cold run, that no check here reads); --days 3: the wide table in 3
# partitions, not 30.
COLD_COMMANDS = {"daily": ["floor"], "wide": ["startup", "job_cli_quick"]}
COLD_TABLES = ["--views", "daily,wide", "--wide-rows", str(WIDE_ROWS), "--wide-columns", str(WIDE_COLUMNS),
               "--days", "3", "--daily-days", str(COLD_DAYS), "--daily-rows", str(COLD_DAY_ROWS),
               "--run-date", "2026-01-02"]


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
    """Both harnesses end to end, side by side: ``benchmarks.cold`` and ``benchmarks.run`` as processes,
    and meanwhile ``benchmarks.one_pass`` in the test session on the cold smoke's daily table.

    A cold command's process keeps about one core busy (its JVM's start, class loading, a first query
    on a few thousand rows): two such processes on 2 cores took 13 s together where one took 9.9 s.
    """
    pytest.importorskip("psutil")
    pytest.importorskip("matplotlib")
    from benchmarks.cold import generate_in_session as write_cold_tables
    from benchmarks.one_pass import measure as one_pass
    from benchmarks.run import generate_in_session as write_run_input

    cold_out, data, out = (tmp_path_factory.mktemp(n) for n in ("cold", "cold-data", "bench"))
    tables = [*COLD_TABLES, "--data-dir", str(data)]
    variants = [v for v, mods in NEEDS.items() if _available(mods)]
    # --cold: no warm-up input and no warm-up run in each Spark variant; --one-jvm: the in-process Spark
    # variants (floor, job_library, naive_spark) share one process; --cached-jars: spark-submit without Ivy;
    # --days 3: 3 partitions for each variant to write instead of 30. One process at a time: beside the cold
    # smoke's two, more made each slower (side by side, the shared process and spark-submit's took 69 s
    # and 65 s where one after the other they took 27 s and 22 s)
    run_argv = ["--rows", str(ROWS), "--days", "3", "--repeat", "1", "--cold", "--one-jvm", "--cached-jars",
                "--factor", str(FACTOR), "--variants", ",".join(variants), "--out", str(out),
                "--data-dir", str(out / "tmp"), "--name", "smoke"]
    logs = {"run": out / "smoke.log", "cold": cold_out / "smoke.log"}
    procs: dict[str, subprocess.Popen] = {}
    deadline = time.monotonic() + 900
    try:
        # run.py first: its processes run one after another, the longer chain; its input is the quicker to write
        write_run_input(spark, run_argv)
        procs["run"] = _start(["benchmarks.run", *run_argv, "--reuse-data"], logs["run"])
        write_cold_tables(spark, tables)
        procs["cold"] = _start(["benchmarks.cold", *tables, "--reuse-data", "--repeat", "1", "--no-history",
                                "--parallel", "2", *[a for view, cmds in COLD_COMMANDS.items()
                                                     for a in ("--view-commands", f"{view}={','.join(cmds)}")],
                                "--out", str(cold_out), "--name", "smoke"], logs["cold"])
        # the designs in the test session while the processes run (one round: each design once)
        designs = one_pass(spark, str(data / f"daily-{COLD_DAYS}x{COLD_DAY_ROWS}" / "table"), repeat=1, warmup=False)
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
        "one_pass": designs,
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
    daily, wide = cold_smoke["views"]["daily"]["commands"], cold_smoke["views"]["wide"]["commands"]
    # the user's script times its own steps; together they fit inside the process's wall time
    for name, c in (("floor", daily["floor"]), ("startup", wide["startup"])):
        steps = c["steps_s"]
        assert {"JVM + session start", "open the table (Delta log, schema)", "stop"} <= set(steps), name
        assert 0 < sum(steps.values()) < c["wall_s_median"], name
    assert "scan to noop" in daily["floor"]["steps_s"] and "scan to noop" not in wide["startup"]["steps_s"]
    # compared with a floor of the same view only (compare's arithmetic with one: test_cold_net_ratio_...)
    assert not {"over_floor_s", "net_ratio", "over_floor_quick_s"} & set(wide["job_cli_quick"])


@pytest.mark.slow
def test_cold_wide_table_and_daily_slice(cold_smoke):
    wide, daily = cold_smoke["views"]["wide"], cold_smoke["views"]["daily"]
    assert wide["table"]["columns"] == WIDE_COLUMNS and wide["table"]["rows"] == WIDE_ROWS
    assert (wide["table"]["days"], wide["table"]["first_date"], wide["table"]["last_date"]) == (
        3, "2026-01-01", "2026-01-03")  # --days 3
    assert daily["table"]["rows"] == COLD_DAYS * COLD_DAY_ROWS and daily["run_date"] == "2026-01-02"
    # the daily floor reads one day (the job's filter; its daily run's argv: test_cold_builds_every_...)
    assert daily["table"]["slice_rows"] == daily["rows_read"] == COLD_DAY_ROWS
    job = wide["commands"]["job_cli_quick"]  # the job with spark.quick_start, its JVM on C1: a full run
    assert job["rows_in"] == WIDE_ROWS
    # ... keeps all the positives and about 1 in 20 of the rest
    minority, majority = wide["table"]["classes"]["1"], wide["table"]["classes"]["0"]
    sigma = math.sqrt(majority * (1 / FACTOR) * (1 - 1 / FACTOR))
    assert abs(job["rows_out"] - (minority + majority / FACTOR)) <= 5 * sigma + 1
    # a full run writes a new table: nothing to prepare; the daily view has no job
    assert wide["prepare_wall_s"] is None and daily["prepare_wall_s"] is None


@pytest.mark.slow
def test_cold_writes_table_chart_and_cleans_up(cold_smoke):
    out = cold_smoke["out"]
    md = (out / "smoke.md").read_text()
    assert "net of start-up" in md and "Where the seconds go: daily" in md and "Where the seconds go: wide" in md
    assert "Commands ran 2 at a time" in md
    wide = cold_smoke["views"]["wide"]
    assert all(f"| stage: {k} |" in md for k in wide["commands"]["job_cli_quick"]["stages_s"])
    assert "**daily**: one day (2026-01-02" in md and f"**wide**: {WIDE_ROWS // 1000}k rows" in md
    assert (out / "smoke.png").stat().st_size > 10_000
    assert not (out / "tmp").exists()
    # the runs' outputs and logs are deleted after the run; --reuse-data keeps the tables it was given
    assert not (cold_smoke["data"] / "runs" / "smoke").exists(), "run outputs are deleted after the run"
    assert sorted(p.name for p in cold_smoke["data"].iterdir()) == [
        "daily-3x5000", "runs", f"wide-{WIDE_ROWS}x{WIDE_COLUMNS}-3d"]


def test_cold_net_ratio_subtracts_the_same_start_up():
    from benchmarks.cold import compare

    summary = {
        "startup": {"status": "ok", "wall_s_median": 20.0},
        "floor": {"status": "ok", "wall_s_median": 40.0},
        "floor_quick": {"status": "ok", "wall_s_median": 35.0},
        "job_cli": {"status": "ok", "wall_s_median": 61.0},
        "job_cli_quick": {"status": "ok", "wall_s_median": 52.0},
        "job_submit": {"status": "failed"},
    }
    compare(summary)
    assert summary["job_cli"]["net_ratio"] == pytest.approx(41.0 / 20.0)
    assert summary["job_cli"]["over_floor_s"] == pytest.approx(21.0)
    assert summary["floor"]["net_ratio"] == pytest.approx(1.0)
    assert "net_ratio" not in summary["job_submit"]
    # the quick-JIT pair: the job with spark.quick_start against the floor with the same JVM option
    assert summary["job_cli_quick"]["over_floor_quick_s"] == pytest.approx(17.0)
    assert summary["job_cli_quick"]["over_floor_s"] == pytest.approx(12.0)
    assert "over_floor_quick_s" not in summary["job_cli"]


# benchmarks.one_pass: the profile pass against a persisted sample, warm, in one JVM


@pytest.mark.slow
def test_one_pass_times_every_design_on_a_delta_table(smokes):
    """The designs run in the test session, beside the smokes' processes (the command only adds a
    session and the JSON file), on the table it documents: the cold benchmark's (here its daily one)."""
    result = smokes["one_pass"]
    json.dumps(result)  # what the command prints and writes
    assert result["rows"] == COLD_DAYS * COLD_DAY_ROWS and result["factor"] == 20
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


def _cold_args(tmp_path, *extra: str):
    """benchmarks.cold's parsed command line with its tools set by hand (no cached-jar look-up)."""
    from benchmarks import cold, cold_run

    args = cold.parse_args(["--data-dir", str(tmp_path), "--factor", str(FACTOR), *extra])
    args.jars = "/jars/delta-spark.jar,/jars/delta-storage.jar"
    args.settings = cold_run.spark_settings(args.jars)
    args.cli, args.spark_submit = ["/bin/imbalance-spark"], "/bin/spark-submit"
    return args


def _conf(argv: list[str]) -> dict[str, str]:
    """The ``--conf K=V`` pairs of an argv."""
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


def test_cold_builds_every_commands_argv_and_config(tmp_path):
    """What the smoke does not start as a process, built in process: the argv and config of each command."""
    import yaml

    from benchmarks import cold, cold_run
    from imbalance_spark.config.load import load_config
    from imbalance_spark.packages import delta_packages_arg
    from imbalance_spark.session import QUICK_START_JAVA_OPTION

    daily = {"kind": "daily", "path": "/t/daily", "rows": 30, "slice_rows": 10, "run_date": "2026-01-02"}
    wide = {"kind": "wide", "path": "/t/wide", "rows": 30}
    for history in (False, True):
        args = _cold_args(tmp_path, *([] if history else ["--no-history"]))
        argv = {(m["kind"], c): cold_run.command_line(c, m, tmp_path / m["kind"], args, c)
                for m in (daily, wide) for c in cold.COMMANDS}
        # the user script: startup only opens the table, the floors scan it (the day, with --run-date)
        for (kind, name), cmd in argv.items():
            if name in ("startup", "floor", "floor_quick"):
                assert cmd[1:5] == ["-m", "benchmarks.cold_commands", name.removesuffix("_quick"), "--table"]
                assert ("--run-date" in cmd) == (kind == "daily" and name != "startup"), (kind, name)
                assert _conf(cmd)["spark.jars"] == args.jars
        floor, quick = argv["daily", "floor"], argv["daily", "floor_quick"]
        assert QUICK_START_JAVA_OPTION in _conf(quick)["spark.driver.extraJavaOptions"]
        assert QUICK_START_JAVA_OPTION not in _conf(floor)["spark.driver.extraJavaOptions"]
        assert {**_conf(quick), "spark.driver.extraJavaOptions": ""} == {**_conf(floor), "spark.driver.extraJavaOptions": ""}
        # the jobs: the CLI, or spark-submit with the cached jars or --packages; --run-date on the daily view only
        for (kind, name), cmd in argv.items():
            if name not in cold_run.JOBS:
                continue
            config = cmd[cmd.index("--config") + 1]
            assert ("--run-date" in cmd) == (kind == "daily"), (kind, name)
            assert kind != "daily" or cmd[-2:] == ["--run-date", "2026-01-02"]
            cfg = load_config(config)  # what the library itself accepts
            assert cfg.input.path == f"/t/{kind}" and cfg.downsampling.factor == FACTOR
            assert cfg.report.path.endswith(f"reports/{name}.json")
            assert (cfg.history.path is not None) == history
            assert yaml.safe_load(open(config)).get("spark", {}) == ({"quick_start": True} if name == "job_cli_quick" else {})
            if name.startswith("job_cli"):
                assert cmd[:3] == [*args.cli, "run", "--config"][:3]
            else:
                jars = ["--packages", delta_packages_arg()] if name == "job_submit_packages" else ["--jars", args.jars]
                assert cmd[:5] == [args.spark_submit, "--master", cold_run.MASTER, *jars]
                assert cmd[cmd.index("--config") - 1].endswith("jobs/downsample.py")
        # benchmarks.variants on the Delta table, all its rows
        for name in cold_run.VARIANTS:
            cmd = argv["wide", name]
            assert cmd[1:4] == ["-m", "benchmarks.variants", name] and cmd[cmd.index("--input-format") + 1] == "delta"
            assert cmd[cmd.index("--rows") + 1] == "30"


def test_cold_run_command_reads_what_each_command_reported(monkeypatch, tmp_path):
    """run_command on each kind of command: a full run starts from no output, a daily one keeps it; the
    numbers are what the command wrote (its run report, its steps, its own timing) and the outside view."""
    from benchmarks import cold_run

    args = _cold_args(tmp_path)
    started: list[list[str]] = []

    def fake_measure(cmd, log_path, env, timeout):  # the process: writes what the real command writes
        started.append(cmd)
        out_dir = Path(cmd[cmd.index("--config") + 1]).parents[1] if "--config" in cmd else None
        if out_dir is not None:
            assert (out_dir / "output").exists() == ("--run-date" in cmd), "a full run starts from no output"
            report = out_dir / "reports" / (Path(cmd[cmd.index("--config") + 1]).stem + ".json")
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps({"input": {"rows": 30}, "output": {"rows": 3}, "stages_s": {"read": 1.0},
                                          "duration_s": 4.0}))
        else:
            result = {"steps_s": {"stop": 0.5}, "measured_s": 2.5, "seconds": 1.5, "rows_in": 30, "rows_out": 3}
            Path(cmd[cmd.index("--result") + 1]).write_text(json.dumps(result))
        return {"returncode": 0, "wall_s": 6.0, "peak_rss_bytes": 2**20}

    monkeypatch.setattr(cold_run, "measure", fake_measure)
    for kind, run_date in (("wide", None), ("daily", "2026-01-02")):
        run_dir = tmp_path / kind
        (run_dir / "output").mkdir(parents=True)  # what an earlier run left
        meta = {"kind": kind, "path": f"/t/{kind}", "rows": 30, "slice_rows": 10 if run_date else None,
                "run_date": run_date}
        job = cold_run.run_command("job_cli", meta, run_dir, args, "job_cli-r0")
        assert job["rows_in"] == 30 and job["rows_out"] == 3 and job["stages_s"] == {"read": 1.0}
        assert job["duration_s"] == 4.0 and job["outside_run_s"] == pytest.approx(2.0)
        assert job["command"].startswith("imbalance-spark run --config ")
    floor = cold_run.run_command("floor", meta, run_dir, args, "floor-r0")
    assert floor["steps_s"] == {"stop": 0.5} and floor["python_start_exit_s"] == pytest.approx(3.5)
    variant = cold_run.run_command("polars_eager", meta, run_dir, args, "polars-r0")
    assert variant["seconds"] == 1.5 and (variant["rows_in"], variant["rows_out"]) == (30, 3)
    assert len(started) == 4
