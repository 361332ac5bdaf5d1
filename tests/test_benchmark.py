"""Smoke run of ``benchmarks/run.py`` at 100 thousand rows: every variant runs and is measured.

Timing targets belong to the benchmark itself; this only checks that it works end to end.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, cli_env

ROWS = 100_000
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


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    pytest.importorskip("psutil")
    pytest.importorskip("matplotlib")
    variants = [v for v, mods in NEEDS.items() if _available(mods)]
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--rows", "100k", "--repeat", "1",
         "--factor", str(FACTOR), "--variants", ",".join(variants), "--out", str(out), "--name", "smoke"],
        capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT, timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((out / "smoke.json").read_text())
    return {"results": results, "out": out, "variants": variants}


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
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from run import scaling

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
