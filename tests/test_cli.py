"""The CLI: exit codes and one-line messages, in process and as real subprocesses."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from imbalance_spark.cli import main
from tests.conftest import REPO_ROOT, cli_env, write_config

CONFIG = """\
dataset: cli_test
input:
  path: {input}
  format: {fmt}
label_column: {label}
minority_classes: [1]
downsampling:
  factor: 10
  seed: 42
output:
  path: {output}
  partition_by: [event_date]
  mode: overwrite
report:
  path: {report}
"""


def config(tmp_path: Path, input: str, output: str | None = None, *, fmt="delta", label="is_fraud", name="c.yaml") -> Path:
    output = output or str(tmp_path / "out")
    return write_config(
        tmp_path / name,
        CONFIG.format(input=input, output=output, fmt=fmt, label=label, report=tmp_path / "report.json"),
    )


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok_and_bad(small_fraud_table, tmp_path, capsys):
    good = config(tmp_path, small_fraud_table)
    assert run_main(capsys, "validate", "--config", str(good)) == (0, f"{good}: ok (dataset cli_test)\n", "")
    bad = write_config(tmp_path / "bad.yaml", good.read_text().replace("factor: 10", "factor: 0.5"))
    code, _, err = run_main(capsys, "validate", "--config", str(bad))
    assert code == 2
    assert err.strip() == (
        f"imbalance-spark: error: {bad}: downsampling.factor: factor must be a finite number >= 1"
        " (1 keeps every row), got 0.5"
    )


def test_profile_writes_nothing(spark, small_fraud_table, tmp_path, capsys):
    cfg = config(tmp_path, small_fraud_table)
    code, out, _ = run_main(capsys, "profile", "--config", str(cfg))
    assert code == 0
    assert "moderate imbalance" in out and "about 10%" in out
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def bad_inputs(spark, tmp_path_factory) -> Path:
    """An existing output every bad-input case must leave as it is, and the inputs the cases read."""
    base = tmp_path_factory.mktemp("bad_inputs")
    spark.range(5).write.format("delta").save(str(base / "existing"))
    spark.range(5).write.parquet(str(base / "pq"))
    spark.range(50).selectExpr("id", "cast(id % 2 as int) as is_fraud").write.parquet(str(base / "pq2"))
    return base


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_input", "input.path: {tmp}/nowhere does not exist"),
        ("not_delta", "is not a Delta table (no _delta_log)"),
        ("missing_label", "label_column: column 'label_x' is not in input"),
        ("missing_partition", "output.partition_by: column 'event_date' is not in input"),
        ("bad_label_type", "label_column: 'amount' has more than 10,000 distinct values: an id or a continuous target"),
    ],
)
def test_bad_input_one_line_nonzero_table_untouched(spark, small_fraud_table, bad_inputs, tmp_path, capsys, case,
                                                    message):
    out = str(bad_inputs / "existing")
    before = DeltaTable.forPath(spark, out).history().count()
    if case == "missing_input":
        cfg = config(tmp_path, str(tmp_path / "nowhere"), out)
    elif case == "not_delta":
        cfg = config(tmp_path, str(bad_inputs / "pq"), out)
    elif case == "missing_label":
        cfg = config(tmp_path, small_fraud_table, out, label="label_x")
    elif case == "missing_partition":
        cfg = config(tmp_path, str(bad_inputs / "pq2"), out, fmt="parquet")
    else:
        cfg = config(tmp_path, small_fraud_table, out, label="amount")  # 12,270 distinct amounts in 30k rows
    code, stdout, err = run_main(capsys, "run", "--config", str(cfg))
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imbalance-spark: error: ")
    assert message.format(tmp=tmp_path) in lines[0]
    assert DeltaTable.forPath(spark, out).history().count() == before == 1
    assert spark.read.format("delta").load(out).count() == 5


def test_console_script_subprocess_bad_config(tmp_path):
    bad = write_config(tmp_path / "x.yaml", "dataset: x\nunknown_key: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "imbalance_spark.cli", "run", "--config", str(bad)],
        capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT, timeout=120,
    )
    assert proc.returncode == 2
    # every problem, one line each (the misspelled key first)
    assert proc.stderr.strip().splitlines() == [
        f"imbalance-spark: error: {bad}: {problem}"
        for problem in ["unknown_key: unknown key", "input: required key is missing",
                        "label_column: required key is missing", "downsampling: required key is missing",
                        "output: required key is missing"]
    ]


def test_packages_prints_delta_coordinates(capsys):
    from imbalance_spark.packages import delta_packages

    code, out, _ = run_main(capsys, "packages")
    assert code == 0 and out.strip() == ",".join(delta_packages())
    assert out.startswith("io.delta:delta-spark_")


def test_packages_jars_and_dir(capsys, monkeypatch, tmp_path):
    from imbalance_spark import packages

    monkeypatch.setenv("IMBALANCE_SPARK_JARS_DIR", str(tmp_path))
    code, out, _ = run_main(capsys, "packages", "--dir")
    assert code == 0 and out.strip() == str(packages.jars_dir()) and out.startswith(str(tmp_path))
    code, _, err = run_main(capsys, "packages", "--jars")
    assert code == 1 and "run `imbalance-spark packages --fetch`" in err and len(err.strip().splitlines()) == 1
    folder = packages.jars_dir()
    folder.mkdir(parents=True)
    for name in ("a.jar", "b.jar"):
        (folder / name).write_bytes(b"PK")
    (folder / packages.MANIFEST).write_text("a.jar\nb.jar\n")
    code, out, _ = run_main(capsys, "packages", "--jars")
    assert code == 0 and out.strip() == f"{folder / 'a.jar'},{folder / 'b.jar'}"
    (folder / "b.jar").unlink()  # an incomplete cache is not used
    assert packages.cached_jars() is None


@pytest.mark.parametrize("text, rows", [("200000", 200_000), ("200_000", 200_000), ("200k", 200_000),
                                         ("2M", 2_000_000), ("1.5m", 1_500_000)])
def test_row_counts_take_suffixes(text, rows):
    from imbalance_spark.cli import row_count

    assert row_count(text) == rows


@pytest.mark.parametrize("text", ["0", "-5", "2x", "", "1.5"])
def test_bad_row_counts_are_refused(text):
    import argparse

    from imbalance_spark.cli import row_count

    with pytest.raises(argparse.ArgumentTypeError, match="positive row count"):
        row_count(text)


def test_every_option_of_every_subcommand_is_described():
    from imbalance_spark.cli import _parser

    parser = _parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    undescribed = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sp in sub.choices.items()
        for action in sp._actions
        if not action.help
    ]
    assert undescribed == []
    assert all(sp.description for sp in sub.choices.values())


def test_generate_json(spark, tmp_path, capsys):
    code, out, _ = run_main(capsys, "generate", "--output", str(tmp_path / "t"), "--rows", "2k", "--days", "2",
                            "--json")
    assert code == 0
    assert json.loads(out) == {"output": str(tmp_path / "t"), "rows": 2000, "format": "delta"}
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 2000


def test_a_missing_py_files_zip_is_named_in_one_line():
    from imbalance_spark.cli import _spark_cause

    exc = Exception(
        "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n"
        ": java.io.FileNotFoundException: File file:/r/dist/imbalance_spark.zip does not exist\n"
        "\tat org.apache.hadoop.fs.RawLocalFileSystem.deprecatedGetFileStatus(RawLocalFileSystem.java:1)\n"
    )
    assert _spark_cause(exc) == (
        "java.io.FileNotFoundException: File file:/r/dist/imbalance_spark.zip does not exist"
        " (the --py-files zip: build dist/imbalance_spark.zip with `make zip`)"
    )
    assert _spark_cause(Exception("[TABLE_OR_VIEW_NOT_FOUND] x\nmore")) == "[TABLE_OR_VIEW_NOT_FOUND] x"


PROD = """\
dataset: prod
input: {{path: {input}, date_column: event_date}}
label_column: {label}
minority_classes: [1]
downsampling: {{factor: 4, seed: 1, method: hash, key_columns: [transaction_id]}}
output: {{path: {output}, partition_by: [event_date]}}
history: {{path: {history}}}
"""


@dataclass(frozen=True)
class Prod:
    """The production config's first run (2026-01-02) through the CLI in process: what it printed and left."""

    path: Path
    out: str
    code: int
    printed: str
    report: Path


@pytest.fixture(scope="module")
def prod(spark, small_fraud_table, tmp_path_factory) -> Prod:
    """A config over the shared fraud table (with a report per run date) whose output exists: one run done."""
    base = tmp_path_factory.mktemp("prod")
    out = str(base / "out")
    text = PROD.format(input=small_fraud_table, output=out, label="is_fraud", history=base / "hist")
    path = write_config(base / "prod.yaml", text + f'report:\n  path: "{base}/report-{{run_date}}.json"\n')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--config", str(path), "--run-date", "2026-01-02"])
    return Prod(path, out, code, printed.getvalue(), base / "report-2026-01-02.json")


def test_run_in_process_prints_table_and_writes_report(spark, prod):
    assert prod.code == 0
    assert "moderate imbalance" in prod.printed and "majority" in prod.printed and "weight sum" in prod.printed
    report = json.loads(prod.report.read_text())
    assert report["dataset"] == "prod" and report["output"]["version"] == 0
    assert report["run_dates"]["start"] == "2026-01-02"
    assert spark.active() is spark  # the CLI did not stop a session it did not create


def _bad_cases(tmp_path, spark, small_fraud_table, out, history):
    """(argv suffix, config text, expected exit code, message) for each bad input."""
    def conf(**kw):
        values = {"input": small_fraud_table, "output": out, "label": "is_fraud", "history": history} | kw
        return PROD.format(**values)

    one_class = str(tmp_path / "one_class")
    spark.range(10).selectExpr("id as transaction_id", "0 as is_fraud", "date'2026-01-01' as event_date").write.format(
        "delta").save(one_class)
    nulls = str(tmp_path / "nulls")
    spark.range(10).selectExpr("id as transaction_id", "cast(null as int) as is_fraud",
                               "date'2026-01-01' as event_date").write.format("delta").save(nulls)
    return [
        (["--run-date", "2026-13-01"], conf(), 2, "--run-date: '2026-13-01' is not a date (expected YYYY-MM-DD)"),
        (["--start-date", "2026-01-01"], conf(), 2, "--start-date/--end-date: a backfill needs both"),
        (["--start-date", "2026-01-03", "--end-date", "2026-01-01"], conf(), 2, "--end-date: 2026-01-01 is before"),
        (["--run-date", "2031-01-01"], conf(), 3,
         "input has no rows for run date(s) 2031-01-01 with a 'is_fraud' label;"
         " input.date_column 'event_date' has 2026-01-01 to 2026-01-03"),
        ([], conf(input=one_class), 3, "only one class (0) in 'is_fraud'; nothing to rebalance"),
        ([], conf(input=nulls), 3, "every one of the 10 rows has a null 'is_fraud'"),
        ([], conf(output=small_fraud_table + "/sub"), 2, "is equal to or inside input.path"),
        ([], conf().replace("factor: 4", "factor: four"), 2, "downsampling.factor: factor must be a number >= 1"),
        ([], conf().replace("dataset: prod", "dataset: [prod"), 2, "not valid YAML at line"),
        ([], conf() + "surprise: 1\n", 2, "surprise: unknown key"),
        # two problems, one line each: the misspelling, then the key it leaves missing
        ([], conf().replace("label_column:", "lable_column:"), 2,
         ("lable_column: unknown key; did you mean 'label_column'?", "label_column: required key is missing")),
        ([], conf().replace("label_column: is_fraud\n", ""), 2, "label_column: required key is missing"),
        ([], conf().replace("date_column: event_date", "date_column: [event_date]"), 2, "input.date_column"),
    ]


def test_production_bad_inputs_exit_nonzero_one_line_table_unchanged(spark, small_fraud_table, tmp_path, capsys, prod):
    path, out = prod.path, prod.out
    capsys.readouterr()
    history = DeltaTable.forPath(spark, out).history().collect()
    content = spark.read.format("delta").load(out).count()
    cases = _bad_cases(tmp_path, spark, small_fraud_table, out, path.parent / "hist")
    for i, (extra, text, code, message) in enumerate(cases):
        path = write_config(tmp_path / f"bad{i}.yaml", text)
        got, _, err = run_main(capsys, "run", "--config", str(path), "-q", *extra)
        lines = err.strip().splitlines()
        messages = message if isinstance(message, tuple) else (message,)
        assert got == code, (message, err)
        assert len(lines) == len(messages) and all(x.startswith("imbalance-spark: error: ") for x in lines), err
        for one, line in zip(messages, lines, strict=True):
            assert one in line, (one, line)
    assert [h.version for h in DeltaTable.forPath(spark, out).history().collect()] == [h.version for h in history]
    assert spark.read.format("delta").load(out).count() == content


def test_history_command_prints_recent_rows(prod, capsys):
    path = prod.path
    assert main(["run", "--config", str(path), "--run-date", "2026-01-03", "-q"]) == 0
    capsys.readouterr()
    code, out, _ = run_main(capsys, "history", "--config", str(path), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["run_date"], r["class"]) for r in rows] == [
        ("2026-01-03", "0"), ("2026-01-03", "1"), ("2026-01-02", "0"), ("2026-01-02", "1")]
    code, table, _ = run_main(capsys, "history", "--config", str(path))
    assert code == 0 and "2026-01-03" in table and "share" in table
