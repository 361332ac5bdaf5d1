"""What a Delta table's log says: the latest version (listed on a local disk, asked in SQL elsewhere),
partitioning and properties, the same as Delta's own answers."""

from __future__ import annotations

import pytest

from imbalance_spark.tables.delta_log import delta_ref, latest_version, listed_version, table_detail


def _history_version(spark, path: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY {delta_ref(path)} LIMIT 1").first()["version"])


def test_listed_version_is_the_newest_commit_file(tmp_path):
    assert listed_version(str(tmp_path / "nothing")) is None
    log = tmp_path / "_delta_log"
    log.mkdir()
    assert listed_version(str(tmp_path)) is None  # a log folder without a commit is no table
    for name in ["00000000000000000000.json", "00000000000000000001.json", "00000000000000000002.json",
                 "00000000000000000002.checkpoint.parquet", "00000000000000000000.00000000000000000002.compacted.json",
                 "00000000000000000002.crc", ".00000000000000000002.json.crc", "_last_checkpoint",
                 "00000000000000000009.json.tmp"]:
        (log / name).write_text("{}")
    (log / "_staged_commits").mkdir()  # Delta 4 creates it empty for every table
    assert listed_version(str(tmp_path)) == 2
    (log / "_staged_commits" / "00000000000000000003.4a5b.json").write_text("{}")
    with pytest.raises(LookupError, match="_staged_commits"):
        listed_version(str(tmp_path))


def test_latest_version_agrees_with_delta_as_the_table_grows(spark, tmp_path):
    path = str(tmp_path / "t")
    assert latest_version(spark, delta_ref(path), path) is None
    for n in range(3):
        spark.range(n + 1).write.format("delta").mode("append").save(path)
        assert latest_version(spark, delta_ref(path), path) == _history_version(spark, path) == n
        assert latest_version(spark, delta_ref(path)) == n  # the SQL answer, without the path


def test_table_detail_gives_partitions_and_properties_of_delta_tables_only(spark, tmp_path):
    path = str(tmp_path / "mapped")
    spark.sql(
        f"CREATE TABLE {delta_ref(path)} (`a b` STRING, `c` INT, x DOUBLE) USING delta PARTITIONED BY (`a b`, c)"
        " TBLPROPERTIES ('delta.columnMapping.mode' = 'name', 'imbalance_spark.seed' = '7, 8=9')"
    )
    detail = table_detail(spark, delta_ref(path))
    assert detail is not None
    assert detail.partition_columns == ["a b", "c"]  # Delta prints `a b` quoted; the name is unquoted
    assert detail.properties["delta.columnMapping.mode"] == "name"
    assert detail.properties["imbalance_spark.seed"] == "7, 8=9"
    plain = str(tmp_path / "plain")
    spark.range(2).write.format("delta").save(plain)
    assert table_detail(spark, delta_ref(plain)).partition_columns == []
    assert table_detail(spark, delta_ref(str(tmp_path / "absent"))) is None
    spark.range(2).write.parquet(str(tmp_path / "pq"))
    assert table_detail(spark, delta_ref(str(tmp_path / "pq"))) is None
    spark.sql("DROP TABLE IF EXISTS delta_log_test_parquet")
    spark.sql("CREATE TABLE delta_log_test_parquet (a INT, b STRING) USING parquet PARTITIONED BY (b)")
    try:
        assert table_detail(spark, "delta_log_test_parquet") is None  # a catalog table, not Delta
    finally:
        spark.sql("DROP TABLE IF EXISTS delta_log_test_parquet")
