"""The steps both flows share (flows/steps.py): commit metadata, table properties, the plan. No Spark."""

from __future__ import annotations

import json
import math

from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from imbalance_spark.config.load import parse_config
from imbalance_spark.flows.steps import STRATA_PROPERTY, commit_metadata, plan_run, table_properties
from imbalance_spark.profile import ClassProfile, ClassStats
from imbalance_spark.report.build import report_dates
from imbalance_spark.report.models import Lineage

SCHEMA = StructType([StructField("id", LongType()), StructField("y", StringType()), StructField("example_weight", DoubleType())])


def cfg(**over):
    data = {"dataset": "d", "input": {"path": "/in"}, "label_column": "y", "minority_classes": ["1"],
            "downsampling": {"factor": 10, "seed": 7}, "output": {"path": "/out"}}
    data.update(over)
    return parse_config(data)


def profile(minority: int = 50, majority: int = 950) -> ClassProfile:
    def stats(key, count):
        return ClassStats(key=key, value=key, count=count, weight_sum=float(count), kept_if_downsampled=count,
                          kept_weight_if_downsampled=float(count))

    return ClassProfile(classes=(stats("0", majority), stats("1", minority)), null_labels=0)


def lineage() -> Lineage:
    return Lineage(run_id="r1", package_version="9.9", config_file="/c.yaml", config_sha256="abc",
                   input_source="delta:/in", input_version=4, run_dates=report_dates(None, None))


def test_commit_metadata_names_the_run_its_factors_and_its_counts():
    config = cfg()
    plan = plan_run(config, profile())
    meta = json.loads(commit_metadata(config, plan, lineage()))
    assert meta["tool"] == "imbalance-spark 9.9" and meta["run_id"] == "r1" and meta["dataset"] == "d"
    assert meta["input"] == "delta:/in" and meta["input_version"] == 4 and meta["seed"] == 7
    # only the downsampled class has a factor; every class its rows in and predicted rows out
    assert meta["factors"] == {"0": 10.0}
    assert meta["in"] == {"0": 950, "1": 50} and meta["rows_in"] == 1000
    assert meta["out"]["1"] == 50 and meta["rows_out"] == sum(meta["out"].values())
    assert "strata" not in meta


def test_table_properties_carry_the_factor_and_logit_offset_of_each_downsampled_class():
    config = cfg()
    props = table_properties(config, plan_run(config, profile()), SCHEMA)
    assert props["imbalance_spark.method"] == config.downsampling.method == "sampleBy"
    assert props["imbalance_spark.seed"] == "7" and props["imbalance_spark.weight_column"] == config.weight.column
    assert float(props["imbalance_spark.factor.0"]) == 10.0
    # the King-Zeng prior correction of a class kept at 1 in F: log F
    assert math.isclose(abs(float(props["imbalance_spark.logit_offset.0"])), math.log(10.0))
    assert "imbalance_spark.factor.1" not in props and STRATA_PROPERTY not in props
    # file statistics are kept for the columns Delta can keep them for (the label, the id, the weight)
    assert set(props["delta.dataSkippingStatsColumns"].split(",")) <= {"id", "y", "example_weight"}
