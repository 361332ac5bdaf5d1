"""Stratified runs (downsampling.strata) end to end, in process, on the small generated table."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from imbalance_spark.cli.printing import _print_history
from imbalance_spark.config.load import parse_config
from imbalance_spark.errors import InputError
from imbalance_spark.flows.run import run_job
from imbalance_spark.report.render import render_report
from imbalance_spark.tables.history import HISTORY_SCHEMA, append_history, class_history, read_history

TARGET = 0.2


def make_cfg(input_path, output_path, **over):
    downsampling = {"target_minority_share": TARGET, "strata": ["country"], "seed": 7, **over.pop("downsampling", {})}
    data = {
        "dataset": "strata_test",
        "input": {"path": input_path, "format": "delta"},
        "label_column": "is_fraud",
        "minority_classes": [1],
        "downsampling": downsampling,
        "output": {"path": output_path, "mode": "overwrite", **over.pop("output", {})},
        **over,
    }
    return parse_config(data)


def old_history_row() -> dict:
    """A row as the history table held before it had a stratum column."""
    return {"dataset": "strata_test", "run_id": "old", "run_date": None, "run_end_date": None, "class": "0",
            "input_count": 10, "share": 0.9, "degree": "mild", "output_count": 5, "weight_sum": 10.0, "factor": 2.0,
            "input_version": 0, "recorded_at": dt.datetime(2026, 1, 1)}


@pytest.fixture(scope="module")
def stratified(spark, small_fraud_table, tmp_path_factory):
    """A sampleBy run with a target share per country, partitioned by date, into an existing old history table."""
    base = tmp_path_factory.mktemp("strata")
    history = str(base / "history")
    cfg = make_cfg(small_fraud_table, str(base / "out"), output={"partition_by": ["event_date"]},
                   history={"path": history})
    spark.createDataFrame([old_history_row()], HISTORY_SCHEMA).write.format("delta").save(history)
    report = run_job(spark, cfg)
    return cfg, report


def counts(df, *by):
    return {tuple(r[:-1]): r[-1] for r in df.groupBy(*by).count().collect()}


def weight_sums(df):
    rows = df.groupBy("country", "is_fraud").agg(F.sum("example_weight").alias("w")).collect()
    return {(r.country, r.is_fraud): r.w for r in rows}


@pytest.fixture(scope="module")
def input_counts(spark, small_fraud_table):
    """Rows per (country, is_fraud) of the input."""
    return counts(spark.read.format("delta").load(small_fraud_table), "country", "is_fraud")


def test_each_stratum_share_within_binomial_bounds_of_the_target(spark, input_counts, stratified):
    cfg, report = stratified
    n_in = input_counts
    n_out = counts(spark.read.format("delta").load(cfg.output.path), "country", "is_fraud")
    countries = {c for c, _ in n_in}
    assert len(countries) == 8 and len(report.strata.strata) == 8
    for country in countries:
        negatives, positives = n_in[(country, 0)], n_in[(country, 1)]
        assert n_out[(country, 1)] == positives  # every minority row kept
        f = TARGET * negatives / (positives * (1 - TARGET))
        p = 1 / f
        kept = n_out[(country, 0)]
        assert abs(kept - negatives * p) <= 5 * math.sqrt(negatives * p * (1 - p)), country
        # the share follows: within the same bound, translated
        share = positives / (positives + kept)
        assert abs(share - TARGET) < 0.05, (country, share)


def test_weighted_totals_per_stratum_give_back_its_input(spark, input_counts, stratified):
    cfg, report = stratified
    out_df = spark.read.format("delta").load(cfg.output.path)
    n_in = input_counts
    w_out = weight_sums(out_df)
    factors = {s.values["country"]: s.classes["0"].factor for s in report.strata.strata}
    for (country, label), n in n_in.items():
        if label == 1:
            assert w_out[(country, 1)] == n
        else:  # nominal weights: kept x F, so within F times the binomial bound of the count
            f = factors[country]
            assert abs(w_out[(country, 0)] - n) <= 5 * f * math.sqrt(n / f * (1 - 1 / f)), country
    # each stratum's kept rows carry its own factor
    weights = {(r.country, r.is_fraud, r.example_weight) for r in out_df.select("country", "is_fraud", "example_weight").distinct().collect()}
    assert weights == {(c, 0, factors[c]) for c in factors} | {(c, 1, 1.0) for c in factors}


def test_report_has_a_class_table_per_stratum(spark, stratified):
    cfg, report = stratified
    out_df = spark.read.format("delta").load(cfg.output.path)
    n_out = counts(out_df, "country", "is_fraud")
    for s in report.strata.strata:
        country = s.values["country"]
        assert s.key == f"country={country}"
        assert {k: c.output_count for k, c in s.classes.items()} == {"0": n_out[(country, 0)], "1": n_out[(country, 1)]}
        assert s.output_minority_share == pytest.approx(n_out[(country, 1)] / s.output_rows)
        assert s.classes["0"].logit_offset == pytest.approx(math.log(1 / s.classes["0"].factor))
    doc = report.as_dict()
    assert doc["strata"]["columns"] == ["country"] and len(doc["strata"]["strata"]) == 8
    assert report.logit_offsets == {}  # no single offset holds for the table
    text = render_report(report)
    assert "per stratum of ['country'] (8 strata, each its own factor):" in text
    assert "stratum country=US:" in text and "prior correction per stratum" in text


def test_offsets_per_stratum_in_the_table_properties(spark, stratified):
    cfg, report = stratified
    props = DeltaTable.forPath(spark, cfg.output.path).detail().first().properties
    recorded = json.loads(props["imbalance_spark.strata"])
    assert recorded["columns"] == ["country"]
    offsets = {s["values"]["country"]: s["logit_offsets"]["0"] for s in recorded["strata"]}
    assert offsets == {s.values["country"]: pytest.approx(s.classes["0"].logit_offset) for s in report.strata.strata}
    assert "imbalance_spark.logit_offset.0" not in props and props["imbalance_spark.method"] == "sampleBy"


def test_history_rows_per_stratum_in_an_existing_history_table(spark, stratified, capsys):
    cfg, report = stratified
    hist = read_history(spark, cfg.history)
    assert "stratum" in hist.columns
    rows = [r.asDict() for r in hist.collect()]
    assert [r["stratum"] for r in rows if r["run_id"] == "old"] == [None]  # the old row kept, stratum null
    mine = [r for r in rows if r["run_id"] == report.run_id]
    assert len(mine) == 2 + 16
    assert sorted(r["class"] for r in mine if r["stratum"] is None) == ["0", "1"]  # the class rows, as before
    us = {r["class"]: r for r in mine if r["stratum"] == "country=US"}
    us_report = next(s for s in report.strata.strata if s.key == "country=US")
    assert us["0"]["factor"] == us_report.classes["0"].factor
    assert us["1"]["output_count"] == us_report.classes["1"].output_count
    assert us["1"]["share"] == pytest.approx(us_report.classes["1"].input_count / us_report.rows)
    # a later unstratified run's rows still append (the stratum column filled with null)
    append_history(spark, cfg.history, [{**old_history_row(), "run_id": "later"}])
    whole = class_history(read_history(spark, cfg.history)).select("run_id", "stratum").collect()
    assert sorted(r.run_id for r in whole) == sorted(["old", "later", report.run_id, report.run_id])
    _print_history(spark, cfg, limit=5, as_json=False)
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].endswith("stratum") and "(all)" in printed


@pytest.fixture(scope="module")
def hashed(spark, small_fraud_table, tmp_path_factory):
    """The same rows on two partitionings (by date vs 3 shuffled files), each sampled by key hash per stratum."""
    base = tmp_path_factory.mktemp("strata_hash")
    copy = str(base / "reshuffled")
    spark.read.format("delta").load(small_fraud_table).repartition(3).write.format("delta").save(copy)
    reports = []
    for name, source in (("a", small_fraud_table), ("b", copy)):
        cfg = make_cfg(source, str(base / name), downsampling={"method": "hash", "key_columns": ["transaction_id"]},
                       weight={"mode": "realized"})
        reports.append((cfg, run_job(spark, cfg)))
    return reports


def test_hash_sampling_per_stratum_keeps_the_same_rows_on_another_partitioning(spark, hashed):
    (cfg_a, report_a), (cfg_b, _) = hashed
    a = spark.read.format("delta").load(cfg_a.output.path).select("transaction_id", "example_weight")
    b = spark.read.format("delta").load(cfg_b.output.path).select("transaction_id", "example_weight")
    assert a.count() == report_a.output.rows > 0
    assert a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0


def test_realized_weights_give_back_each_stratum_input_exactly(spark, input_counts, hashed):
    (cfg, report), _ = hashed
    n_in = input_counts
    w_out = weight_sums(spark.read.format("delta").load(cfg.output.path))
    assert w_out.keys() == n_in.keys()
    for key, n in n_in.items():
        assert w_out[key] == pytest.approx(n, rel=1e-9), key
    assert report.stages_s.get("check") is not None  # derived factors: the sample was counted per stratum


def test_max_strata_refuses_before_any_work(spark, small_fraud_table, tmp_path):
    out = tmp_path / "out"
    cfg = make_cfg(small_fraud_table, str(out), downsampling={"strata": ["country", "merchant_id"], "max_strata": 50},
                   history={"path": str(tmp_path / "history")})
    with pytest.raises(InputError) as err:
        run_job(spark, cfg)
    message = str(err.value)
    assert message.startswith("downsampling.strata: ['country', 'merchant_id'] take ")
    assert "column 'merchant_id' alone" in message and "more than downsampling.max_strata 50" in message
    assert "raise downsampling.max_strata" in message
    assert not out.exists() and not (tmp_path / "history").exists()


def test_profile_prints_each_stratum_and_its_factor(spark, small_fraud_table, tmp_path):
    from imbalance_spark.cli.printing import _render_profile
    from imbalance_spark.flows.profile import profile_job

    cfg = make_cfg(small_fraud_table, str(tmp_path / "out"))
    _, plan, summary = profile_job(spark, cfg)
    strata = summary.as_dict()["strata"]["strata"]
    assert len(strata) == 8 and all(s["output_rows"] is None for s in strata)  # derived: not sampled yet
    us = next(s for s in plan.strata if s.label == "country=US")
    text = _render_profile(summary)
    assert "per stratum of ['country'] (8 strata):" in text
    assert f"country=US: {us.rows:,} rows" in text and f"{round(us.derived_factor, 4)}" in text
