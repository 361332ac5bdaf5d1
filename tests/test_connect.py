"""The job through Spark Connect: a real server (scripts/connect-server.sh) on a free loopback port.

Each Connect run is a CLI subprocess (a Connect client sets process-wide state that a classic
session in the same process would trip over); each is compared with the same command run
classic, in process: same rows, same report numbers, same exit codes and messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from imbalance_spark.cli import main
from tests.conftest import REPO_ROOT, cli_env, free_port, write_config

RUN_DATE = "2026-01-02"

CONFIG = """\
dataset: connect_test
input: {{path: {input}, format: {fmt}, date_column: event_date}}
label_column: is_fraud
minority_classes: [1]
downsampling: {{factor: 4, seed: 3, method: hash, key_columns: [transaction_id]}}
output: {{path: {output}, partition_by: [event_date]}}
history: {{path: {history}}}
report: {{path: {report}}}
{extra}"""

# Everything in a report but what differs by construction (ids, clocks, file names).
VOLATILE = {"run_id", "started_at", "stages_s", "duration_s", "config_file", "config_sha256", "config"}


def config(folder: Path, input: str, *, fmt: str = "delta", extra: str = "", name: str = "c.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(
        input=input, fmt=fmt, output=folder / "out", history=folder / "hist", report=folder / "report.json",
        extra=extra,
    )
    return write_config(folder / name, text)


def run_connect(url: str | None, *argv: str, env_remote: bool = False) -> tuple[int, str, str]:
    """The CLI as a subprocess through Connect: ``--remote URL``, or SPARK_REMOTE when ``env_remote``."""
    env = {k: v for k, v in cli_env().items() if k != "SPARK_REMOTE"}
    args = list(argv)
    if env_remote:
        env["SPARK_REMOTE"] = url
    elif url is not None:
        args += ["--remote", url]
    proc = subprocess.run(
        [sys.executable, "-m", "imbalance_spark.cli", *args], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def run_classic(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_numbers(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    report = {k: v for k, v in report.items() if k not in VOLATILE}
    report["output"] = {k: v for k, v in report["output"].items() if k != "target"}
    # Pictures are drawn beside each report, from its numbers: same names, own folder.
    report["figures"] = {k: Path(v).relative_to(folder).as_posix() for k, v in (report.get("figures") or {}).items()}
    assert all((folder / v).is_file() for v in report["figures"].values())
    return report


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("imbalance-spark:")]


pytestmark = pytest.mark.slow


def test_run_rerun_profile_history_match_classic(spark, connect_url, small_fraud_table, tmp_path, capsys):
    classic, remote = tmp_path / "classic", tmp_path / "connect"
    classic_cfg, connect_cfg = config(classic, small_fraud_table), config(remote, small_fraud_table)

    for attempt in ("run", "rerun"):
        code, _, err = run_classic(capsys, "run", "--config", str(classic_cfg), "--run-date", RUN_DATE, "-q")
        assert code == 0, err
        code, out, err = run_connect(connect_url, "run", "--config", str(connect_cfg), "--run-date", RUN_DATE, "-q")
        assert code == 0, err
        assert "weight sum" in out
        ours, theirs = report_numbers(remote), report_numbers(classic)
        assert ours == theirs, attempt
        assert ours["output"]["version"] == (0 if attempt == "run" else 1)
        assertDataFrameEqual(
            spark.read.format("delta").load(str(remote / "out")),
            spark.read.format("delta").load(str(classic / "out")),
        )
    # The run is in the commit, as classic writes it: one commit per run.
    meta = spark.sql(f"DESCRIBE HISTORY delta.`{remote / 'out'}`").orderBy("version").collect()
    assert [json.loads(m.userMetadata)["run_dates"]["start"] for m in meta] == [RUN_DATE, RUN_DATE]

    code, out, err = run_connect(connect_url, "profile", "--config", str(connect_cfg), "--run-date", RUN_DATE,
                                 "--json", "-q", env_remote=True)
    assert code == 0, err
    _, classic_out, _ = run_classic(capsys, "profile", "--config", str(classic_cfg), "--run-date", RUN_DATE,
                                    "--json", "-q")
    ours, theirs = json.loads(out), json.loads(classic_out)
    for summary in (ours, theirs):
        summary.pop("stages_s"), summary.pop("duration_s")
    assert ours == theirs

    code, out, err = run_connect(connect_url, "history", "--config", str(connect_cfg), "--json", "-q")
    assert code == 0, err
    _, classic_out, _ = run_classic(capsys, "history", "--config", str(classic_cfg), "--json", "-q")
    keep = ("run_date", "class", "input_count", "output_count", "weight_sum", "factor", "input_version")
    rows = [{k: r[k] for k in keep} for r in json.loads(out)]
    assert len(rows) == 4  # two runs, two classes
    assert rows == [{k: r[k] for k in keep} for r in json.loads(classic_out)]


def test_bad_input_and_guard_fail_alike(spark, connect_url, small_fraud_table, tmp_path, capsys):
    parquet = str(tmp_path / "plain_parquet")
    spark.range(10).selectExpr("id as transaction_id", "cast(id % 2 as int) as is_fraud",
                               "date'2026-01-02' as event_date").write.parquet(parquet)
    cases = [
        ("missing input", dict(input=str(tmp_path / "nowhere")), 3),
        ("parquet declared delta", dict(input=parquet), 3),
        ("delta declared parquet", dict(input=small_fraud_table, fmt="parquet"), 3),
        ("guard", dict(input=small_fraud_table, extra="guards: {sigmas: 0.000001}\n"), 5),
    ]
    for name, kw, expected in cases:
        results = []
        for side in ("classic", "connect"):
            folder = tmp_path / name.replace(" ", "_") / side
            cfg = config(folder, **kw)
            argv = ("run", "--config", str(cfg), "--run-date", RUN_DATE, "-q")
            code, _, err = run_classic(capsys, *argv) if side == "classic" else run_connect(connect_url, *argv)
            lines = errors(err)
            assert code == expected and len(lines) == 1, (name, side, err[-3000:])
            assert not (folder / "out").exists(), (name, side)
            results.append(lines[0].replace(str(folder), "<folder>"))
        assert results[0] == results[1], name


def test_unreachable_server_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    cfg = config(tmp_path, str(tmp_path / "in"))
    env_timeout = {"IMBALANCE_SPARK_CONNECT_TIMEOUT_S": "2"}
    os.environ.update(env_timeout)
    try:
        code, _, err = run_connect(f"sc://127.0.0.1:{port}", "run", "--config", str(cfg))
    finally:
        os.environ.pop("IMBALANCE_SPARK_CONNECT_TIMEOUT_S")
    assert code == 6
    assert errors(err) == [f"imbalance-spark: error: --remote: no Spark Connect server answers at sc://127.0.0.1:{port} within 2 s"]


def test_master_and_remote_are_exclusive(tmp_path, capsys):
    cfg = config(tmp_path, str(tmp_path / "in"))
    code, _, err = run_classic(capsys, "run", "--config", str(cfg), "--master", "local[1]", "--remote", "sc://127.0.0.1:1")
    assert code == 2
    assert errors(err) == ["imbalance-spark: error: --master local[1] and --remote/SPARK_REMOTE sc://127.0.0.1:1: choose one"]


def test_spaced_names_through_connect(spark, connect_url, small_fraud_table, tmp_path):
    """A column name with a space: the output is created (CTAS, column mapping) and its slice replaced."""
    spaced = str(tmp_path / "spaced_input")
    df = spark.read.format("delta").load(small_fraud_table)
    df.select(*[df[c].alias(c.replace("_", " ")) for c in df.columns]).write.parquet(spaced)
    text = (
        f"dataset: spaced\ninput: {{path: {spaced}, format: parquet, date_column: event date}}\n"
        "label_column: is fraud\nminority_classes: [1]\n"
        "downsampling: {factor: 4, seed: 3, method: hash, key_columns: [transaction id]}\n"
        f"weight: {{column: example weight}}\noutput: {{path: {tmp_path / 'out'}, partition_by: [event date]}}\n"
        f"report: {{path: {tmp_path / 'report.json'}}}\n"
    )
    cfg = write_config(tmp_path / "c.yaml", text)
    for version in (0, 1):  # created, then the same date replaced
        code, _, err = run_connect(connect_url, "run", "--config", str(cfg), "--run-date", RUN_DATE, "-q")
        assert code == 0, err
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["output"]["version"] == version
    out_df = spark.read.format("delta").load(str(tmp_path / "out"))
    assert out_df.count() == report["output"]["rows"] > 0
    assert {r[0] for r in out_df.select("example weight").distinct().collect()} == {1.0, 4.0}
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{tmp_path / 'out'}`").first()
    assert detail.properties["delta.columnMapping.mode"] == "name" and list(detail.partitionColumns) == ["event date"]
