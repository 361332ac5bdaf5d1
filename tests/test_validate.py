"""`imbalance-spark validate`: the config, its folder's other configs, and the input's columns read
without Spark (the Delta log's metaData, a checkpoint, a Parquet footer), against real tables."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from imbalance_spark.cli import main
from tests.conftest import REPO_ROOT, write_config

CONFIG = """\
dataset: {dataset}
input:
  path: {input}
  format: {fmt}
  date_column: event_date
label_column: {label}
minority_classes: [1]
downsampling:
  factor: 10
output:
  path: {output}
  partition_by: [{partition}]
"""


def config(folder: Path, input: str, *, name="c.yaml", dataset="v", fmt="delta", label="is_fraud",
           partition="event_date", output: str | None = None, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(dataset=dataset, input=input, fmt=fmt, label=label, partition=partition,
                         output=output or folder / f"out_{dataset}")
    return write_config(folder / name, text + extra)


def validate(capsys, path: Path) -> tuple[int, list[str], list[str]]:
    code = main(["validate", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err.strip().splitlines()


def test_a_misspelled_label_is_caught_with_a_close_name(small_fraud_table, tmp_path, capsys):
    cfg = config(tmp_path, small_fraud_table, label="is_fruad")
    code, _, err = validate(capsys, cfg)
    assert code == 3
    assert err == [
        f"imbalance-spark: error: {cfg}: label_column: column 'is_fruad' is not in input {small_fraud_table};"
        " did you mean 'is_fraud'?"
    ]


def test_every_missing_column_is_listed_one_line_each(small_fraud_table, tmp_path, capsys):
    extra = "evaluate:\n  features: [amount, contry]\nweight:\n  source_column: wieght\n"
    cfg = config(tmp_path, small_fraud_table, label="Is_Fraud", partition="event_dte", extra=extra)
    code, _, err = validate(capsys, cfg)
    assert code == 3
    assert len(err) == 4 and all(line.startswith(f"imbalance-spark: error: {cfg}: ") for line in err)
    keys = [line.split(": ")[3] for line in err]
    assert keys == ["label_column", "weight.source_column", "output.partition_by", "evaluate.features"]
    assert "did you mean 'is_fraud'? (column names in the config must match the data's case)" in err[0]
    assert "did you mean 'event_date'?" in err[2] and "did you mean 'country'?" in err[3]


def test_a_good_config_passes_and_says_nothing_was_left_unchecked(small_fraud_table, tmp_path, capsys):
    cfg = config(tmp_path, small_fraud_table, extra="evaluate:\n  features: [amount, country, channel]\n")
    code, out, err = validate(capsys, cfg)
    assert (code, out, err) == (0, [f"{cfg}: ok (dataset v)"], [])


def test_a_missing_input_path_is_an_error_naming_it(tmp_path, capsys):
    cfg = config(tmp_path, str(tmp_path / "nowhere"))
    code, _, err = validate(capsys, cfg)
    assert code == 3
    assert err == [
        f"imbalance-spark: error: {cfg}: input.path: {tmp_path / 'nowhere'} does not exist;"
        " point input.path at an existing table"
    ]


def test_a_format_that_does_not_fit_the_path_is_refused(small_fraud_table, tmp_path, capsys):
    code, _, err = validate(capsys, config(tmp_path, small_fraud_table, fmt="parquet"))
    assert code == 3 and len(err) == 1 and "is a Delta table" in err[0] and "set input.format: delta" in err[0]
    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = validate(capsys, config(tmp_path / "other", str(plain)))
    assert code == 3 and len(err) == 1 and "is not a Delta table (no _delta_log)" in err[0]


@pytest.fixture(scope="module")
def parquet_input(spark, tmp_path_factory) -> str:
    """A Spark-written Parquet table partitioned by event_date (the column is only in the folder names)."""
    path = str(tmp_path_factory.mktemp("pq") / "transactions")
    (
        spark.range(200)
        .selectExpr("id AS transaction_id", "CAST(id % 10 = 0 AS INT) AS is_fraud", "id * 1.5 AS amount",
                    "date_add(DATE'2026-01-01', CAST(id % 3 AS INT)) AS event_date")
        .write.partitionBy("event_date").parquet(path)
    )
    return path


def test_parquet_columns_come_from_a_footer_and_the_partition_folders(parquet_input, tmp_path, capsys):
    good = config(tmp_path / "a", parquet_input, fmt="parquet")
    assert validate(capsys, good)[0] == 0
    bad = config(tmp_path / "b", parquet_input, fmt="parquet", extra="evaluate:\n  features: [amout]\n")
    code, _, err = validate(capsys, bad)
    assert code == 3 and len(err) == 1
    assert "evaluate.features: column 'amout' is not in input" in err[0] and "did you mean 'amount'?" in err[0]


def test_without_pyarrow_a_parquet_input_is_said_to_be_unchecked(parquet_input, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    cfg = config(tmp_path, parquet_input, fmt="parquet", label="is_fruad")
    code, out, _ = validate(capsys, cfg)
    assert code == 0
    assert out[0] == (
        f"{cfg}: input columns not checked: {parquet_input}: Parquet footers are read with pyarrow (not installed)"
    )


def _delta_rs_table(path: Path, commits: int) -> None:
    """A Delta table written by delta-rs: ``commits`` appends, then a new column, and a checkpoint."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    rows = {"transaction_id": [1, 2, 3], "is_fraud": [0, 1, 0], "event_date": ["2026-01-01"] * 3}
    for _ in range(commits):
        write_deltalake(str(path), pa.table(rows), mode="append")
    DeltaTable(str(path)).create_checkpoint()
    write_deltalake(str(path), pa.table({**rows, "late_column": [1.0, 2.0, 3.0]}), mode="append",
                    schema_mode="merge")


def test_delta_columns_come_from_the_newest_metadata(tmp_path, capsys):
    table = tmp_path / "rs_table"
    _delta_rs_table(table, commits=2)
    extra = "evaluate:\n  features: [late_column]\n  split: {by: date}\n"
    assert validate(capsys, config(tmp_path, str(table), partition="transaction_id", extra=extra))[0] == 0


def test_a_checkpoint_alone_gives_the_schema(tmp_path, capsys, monkeypatch):
    table = tmp_path / "rs_table"
    _delta_rs_table(table, commits=3)
    log = table / "_delta_log"
    # log clean-up: only the checkpoint (version 2) and the commit after it remain
    for version in range(3):
        (log / f"{version:020d}.json").unlink()
    (log / f"{3:020d}.json").write_text('{"commitInfo": {}}\n')  # the commit after: no metaData in it
    cfg = config(tmp_path, str(table), partition="transaction_id", label="is_frad")
    code, _, err = validate(capsys, cfg)
    assert code == 3 and len(err) == 1 and "did you mean 'is_fraud'?" in err[0]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, out, _ = validate(capsys, cfg)
    assert code == 0
    assert out[0].endswith("its schema is in a checkpoint, which is read with pyarrow (not installed)")


def test_remote_and_catalog_inputs_are_said_to_be_unchecked(tmp_path, capsys):
    remote = config(tmp_path / "a", "s3a://bucket/tx", label="is_fruad")
    code, out, _ = validate(capsys, remote)
    assert code == 0 and out[0] == (
        f"{remote}: input columns not checked: s3a://bucket/tx is remote (run checks them once Spark starts)"
    )
    (tmp_path / "b").mkdir()
    table = write_config(tmp_path / "b" / "t.yaml", remote.read_text().replace("path: s3a://bucket/tx", "table: db.tx"))
    code, out, _ = validate(capsys, table)
    assert code == 0 and "input columns not checked: table db.tx is in a catalog" in out[0]


def test_an_unedited_copy_of_the_demo_is_refused_naming_both_files(tmp_path, capsys):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    demo = datasets / "demo_fraud.yaml"
    shutil.copy(REPO_ROOT / "conf" / "datasets" / "demo_fraud.yaml", demo)
    copy = datasets / "my_table.yaml"
    shutil.copy(demo, copy)
    code, _, err = validate(capsys, copy)
    assert code == 2
    assert err == [
        f"imbalance-spark: error: {copy}: dataset 'demo_fraud' is also the dataset of {demo};"
        " give each config its own dataset name (and output)",
        f"imbalance-spark: error: {copy}: output.path {Path.cwd() / 'data/demo/transactions_downsampled'}"
        f" is also written by {demo}; give each config its own output",
    ]


def test_configs_writing_one_catalog_table_clash_and_other_folders_do_not(tmp_path, capsys):
    a = config(tmp_path / "one", "s3a://b/x", name="a.yaml", dataset="a", output="/o/a")
    b = write_config(tmp_path / "one" / "b.yaml", a.read_text().replace("dataset: a", "dataset: b"))
    code, _, err = validate(capsys, b)
    assert code == 2 and err == [
        f"imbalance-spark: error: {b}: output.path /o/a is also written by {a}; give each config its own output"
    ]
    elsewhere = write_config(tmp_path / "b.yaml", a.read_text())  # same content, another folder
    assert validate(capsys, elsewhere)[0] == 0
    (tmp_path / "two").mkdir()
    t1 = write_config(tmp_path / "two" / "t1.yaml", a.read_text().replace("path: /o/a", "table: Db.Out"))
    (tmp_path / "two" / "junk.yaml").write_text("[not, a, mapping]\n")  # not a config: ignored
    t2 = write_config(tmp_path / "two" / "t2.yaml", t1.read_text().replace("dataset: a", "dataset: t2")
                      .replace("table: Db.Out", "table: db.out"))
    code, _, err = validate(capsys, t2)
    assert code == 2 and err == [
        f"imbalance-spark: error: {t2}: output.table db.out is also written by {t1}; give each config its own output"
    ]
