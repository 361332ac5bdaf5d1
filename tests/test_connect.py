"""The job through Spark Connect: a real server (scripts/connect-server.sh) on a free loopback port.

The Connect side runs in a client subprocess (a Connect client sets process-wide state that a
classic session in the same process would trip over): one process runs every Connect-side command
of this module in turn, as the console script runs it; each is compared with the same command run
classic, in process: same rows, same report numbers, same exit codes and messages. The
unreachable server is `python -m imbalance_spark.cli` itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
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


def run_connect(url: str, *argv: str) -> tuple[int, str, str]:
    """The console script as a subprocess, ``--remote URL``."""
    env = {k: v for k, v in cli_env().items() if k != "SPARK_REMOTE"}
    proc = subprocess.run(
        [sys.executable, "-m", "imbalance_spark.cli", *argv, "--remote", url], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def run_classic(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_numbers(folder: Path, report_file: Path | None = None) -> dict:
    """The report in ``folder`` (or its copy ``report_file``) without what differs by construction."""
    report = json.loads((report_file or folder / "report.json").read_text())
    report = {k: v for k, v in report.items() if k not in VOLATILE}
    report["output"] = {k: v for k, v in report["output"].items() if k != "target"}
    # Pictures are drawn beside each report, from its numbers: same names, own folder.
    report["figures"] = {k: Path(v).relative_to(folder).as_posix() for k, v in (report.get("figures") or {}).items()}
    assert all((folder / v).is_file() for v in report["figures"].values())
    return report


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("imbalance-spark:")]


# One Connect client process runs every Connect-side case of this module in turn, each as the console
# script runs it (``main(argv)``, its return code the exit code), with its stdout and stderr caught
# at the file descriptors (every line the command writes, log lines included) and the report it
# wrote copied aside; the tests compare them with the classic side, run in process.
CLIENT = textwrap.dedent(
    """
    import json, os, shutil, sys
    from pathlib import Path
    from imbalance_spark.cli.commands import main

    folder = Path(sys.argv[1])
    codes = {}
    for case in json.loads((folder / "cases.json").read_text()):
        os.environ.pop("SPARK_REMOTE", None)
        os.environ.update(case["env"])
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with open(folder / (case["name"] + ".out"), "w") as out, open(folder / (case["name"] + ".err"), "w") as err:
            os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
            try:
                codes[case["name"]] = main(case["argv"])
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        if case.get("keep_report"):
            shutil.copy(case["keep_report"], folder / (case["name"] + ".report.json"))
    (folder / "codes.json").write_text(json.dumps(codes))
    """
)


@dataclass(frozen=True)
class ConnectCase:
    """What one command run through Connect left: exit code, output, and the report it wrote (if kept)."""

    code: int
    out: str
    err: str
    report: Path | None


@dataclass(frozen=True)
class ConnectSide:
    """The Connect-side runs of this module (one client process), with the folders they used."""

    folder: Path
    cases: dict[str, ConnectCase]
    spaced_input: str
    plain_parquet: str


def bad_input_cases(small_fraud_table: str, plain_parquet: str) -> list[tuple[str, dict, int]]:
    """Inputs the job refuses: (name, config keywords, expected exit code)."""
    return [
        ("missing input", dict(input=str(Path(plain_parquet).parent / "nowhere")), 3),
        ("parquet declared delta", dict(input=plain_parquet), 3),
        ("delta declared parquet", dict(input=small_fraud_table, fmt="parquet"), 3),
        ("guard", dict(input=small_fraud_table, extra="guards: {sigmas: 0.000001}\n"), 5),
    ]


def spaced_table(spark, source: str, path: str) -> str:
    """``source`` with a space for each underscore of its column names, as parquet."""
    df = spark.read.format("delta").load(source)
    df.select(*[df[c].alias(c.replace("_", " ")) for c in df.columns]).write.parquet(path)
    return path


@pytest.fixture(scope="module")
def connect_side(spark, connect_url, small_fraud_table, tmp_path_factory) -> ConnectSide:
    """Every Connect-side case of this module, run in one Connect client process, in order."""
    folder = tmp_path_factory.mktemp("connect_side")
    plain_parquet = str(folder / "plain_parquet")
    spark.range(10).selectExpr("id as transaction_id", "cast(id % 2 as int) as is_fraud",
                               "date'2026-01-02' as event_date").write.parquet(plain_parquet)
    spaced = spaced_table(spark, small_fraud_table, str(folder / "spaced_input"))
    remote, cfg = ["--remote", connect_url], str(config(folder / "connect", small_fraud_table))
    report = str(folder / "connect" / "report.json")
    spaced_cfg, spaced_report = str(spaced_config(folder / "spaced", spaced)), str(folder / "spaced" / "report.json")
    cases = [
        dict(name="run", argv=["run", "--config", cfg, "--run-date", RUN_DATE, "-q", *remote], keep_report=report),
        dict(name="rerun", argv=["run", "--config", cfg, "--run-date", RUN_DATE, "-q", *remote], keep_report=report),
        # SPARK_REMOTE instead of --remote
        dict(name="profile", argv=["profile", "--config", cfg, "--run-date", RUN_DATE, "--json", "-q"],
             env={"SPARK_REMOTE": connect_url}),
        dict(name="history", argv=["history", "--config", cfg, "--json", "-q", *remote]),
    ]
    for name, kw, _ in bad_input_cases(small_fraud_table, plain_parquet):
        bad_cfg = config(folder / "bad" / name.replace(" ", "_") / "connect", **kw)
        cases.append(dict(name=name, argv=["run", "--config", str(bad_cfg), "--run-date", RUN_DATE, "-q", *remote]))
    for name in ("spaced created", "spaced replaced"):  # the same date twice
        argv = ["run", "--config", spaced_cfg, "--run-date", RUN_DATE, "-q", *remote]
        cases.append(dict(name=name, argv=argv, keep_report=spaced_report))
    (folder / "cases.json").write_text(json.dumps([{"env": {}, **case} for case in cases]))
    env = {k: v for k, v in cli_env().items() if k != "SPARK_REMOTE"}
    proc = subprocess.run([sys.executable, "-c", CLIENT, str(folder)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    codes = json.loads((folder / "codes.json").read_text())
    results = {
        case["name"]: ConnectCase(
            codes[case["name"]], (folder / f"{case['name']}.out").read_text(),
            (folder / f"{case['name']}.err").read_text(),
            folder / f"{case['name']}.report.json" if case.get("keep_report") else None,
        )
        for case in cases
    }
    return ConnectSide(folder, results, spaced, plain_parquet)


def spaced_config(folder: Path, spaced_input: str) -> Path:
    """The job on the spaced table: every name it reads and writes has a space (CTAS, column mapping)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        f"dataset: spaced\ninput: {{path: {spaced_input}, format: parquet, date_column: event date}}\n"
        "label_column: is fraud\nminority_classes: [1]\n"
        "downsampling: {factor: 4, seed: 3, method: hash, key_columns: [transaction id]}\n"
        f"weight: {{column: example weight}}\noutput: {{path: {folder / 'out'}, partition_by: [event date]}}\n"
        f"report: {{path: {folder / 'report.json'}}}\n"
    )
    return write_config(folder / "c.yaml", text)


pytestmark = pytest.mark.slow


def test_run_rerun_profile_history_match_classic(spark, connect_side, small_fraud_table, tmp_path, capsys):
    classic, remote = tmp_path / "classic", connect_side.folder / "connect"
    classic_cfg = config(classic, small_fraud_table)

    for version, attempt in enumerate(("run", "rerun")):
        code, _, err = run_classic(capsys, "run", "--config", str(classic_cfg), "--run-date", RUN_DATE, "-q")
        assert code == 0, err
        ran = connect_side.cases[attempt]
        assert ran.code == 0, ran.err
        assert "weight sum" in ran.out
        ours, theirs = report_numbers(remote, ran.report), report_numbers(classic)
        assert ours == theirs, attempt
        assert ours["output"]["version"] == version
        assertDataFrameEqual(
            spark.read.format("delta").option("versionAsOf", version).load(str(remote / "out")),
            spark.read.format("delta").load(str(classic / "out")),
        )
    # The run is in the commit, as classic writes it: one commit per run.
    meta = spark.sql(f"DESCRIBE HISTORY delta.`{remote / 'out'}`").orderBy("version").collect()
    assert [json.loads(m.userMetadata)["run_dates"]["start"] for m in meta] == [RUN_DATE, RUN_DATE]

    profiled = connect_side.cases["profile"]
    assert profiled.code == 0, profiled.err
    _, classic_out, _ = run_classic(capsys, "profile", "--config", str(classic_cfg), "--run-date", RUN_DATE,
                                    "--json", "-q")
    ours, theirs = json.loads(profiled.out), json.loads(classic_out)
    for summary in (ours, theirs):
        summary.pop("stages_s"), summary.pop("duration_s")
    assert ours == theirs

    history = connect_side.cases["history"]
    assert history.code == 0, history.err
    _, classic_out, _ = run_classic(capsys, "history", "--config", str(classic_cfg), "--json", "-q")
    keep = ("run_date", "class", "input_count", "output_count", "weight_sum", "factor", "input_version")
    rows = [{k: r[k] for k in keep} for r in json.loads(history.out)]
    assert len(rows) == 4  # two runs, two classes
    assert rows == [{k: r[k] for k in keep} for r in json.loads(classic_out)]


def test_bad_input_and_guard_fail_alike(connect_side, small_fraud_table, tmp_path, capsys):
    for name, kw, expected in bad_input_cases(small_fraud_table, connect_side.plain_parquet):
        results = []
        for side in ("classic", "connect"):
            base = tmp_path if side == "classic" else connect_side.folder / "bad"
            folder = base / name.replace(" ", "_") / side
            if side == "classic":
                argv = ("run", "--config", str(config(folder, **kw)), "--run-date", RUN_DATE, "-q")
                code, _, err = run_classic(capsys, *argv)
            else:
                ran = connect_side.cases[name]
                code, err = ran.code, ran.err
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


def test_spaced_names_through_connect(spark, connect_side):
    """A column name with a space: the output is created (CTAS, column mapping) and its slice replaced."""
    out = connect_side.folder / "spaced" / "out"
    for version, name in enumerate(("spaced created", "spaced replaced")):
        ran = connect_side.cases[name]
        assert ran.code == 0, ran.err
        report = json.loads(ran.report.read_text())
        assert report["output"]["version"] == version
    out_df = spark.read.format("delta").load(str(out))
    assert out_df.count() == report["output"]["rows"] > 0
    assert {r[0] for r in out_df.select("example weight").distinct().collect()} == {1.0, 4.0}
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{out}`").first()
    assert detail.properties["delta.columnMapping.mode"] == "name" and list(detail.partitionColumns) == ["event date"]
