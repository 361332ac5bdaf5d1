"""The synthetic transaction generator: schema, fraud rate, determinism, learnable label."""

from __future__ import annotations

import math

from pyspark.sql import functions as F

from imbalance_spark.synthetic import generate_transactions


def rows_differing(a, b) -> int:
    """Distinct rows whose count differs between ``a`` and ``b`` (0: ``exceptAll`` both ways is empty), in one job."""
    tagged = a.withColumn("__a", F.lit(1)).unionByName(b.withColumn("__a", F.lit(0)))
    per_row = tagged.groupBy(*a.columns).agg(F.sum("__a").alias("n_a"), F.sum(1 - F.col("__a")).alias("n_b"))
    return per_row.filter(F.col("n_a") != F.col("n_b")).count()


def test_schema_and_fraud_rate(spark):
    df = generate_transactions(spark, rows=200_000, fraud_rate=0.005, days=30, seed=3)
    assert df.columns == [
        "transaction_id", "account_id", "merchant_id", "amount", "currency", "country",
        "channel", "event_ts", "event_date", "is_fraud",
    ]
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum("is_fraud").alias("fraud"),
        F.countDistinct("event_date").alias("days"),
        F.countDistinct("transaction_id").alias("ids"),
        F.min("amount").alias("min_amount"),
    ).first()
    assert row.n == 200_000 and row.ids == 200_000
    assert row.days == 30
    assert row.min_amount > 0
    sigma = math.sqrt(200_000 * 0.005 * 0.995)
    # the risk multipliers average to 1 (a small loss where the probability is capped at 1)
    assert abs(row.fraud - 1_000) < 6 * sigma + 20, row.fraud


def test_same_seed_same_rows_whatever_the_partitioning(spark):
    a = generate_transactions(spark, rows=20_000, seed=5, partitions=2)
    b = generate_transactions(spark, rows=20_000, seed=5, partitions=7)
    assert rows_differing(a, b) == 0
    c = generate_transactions(spark, rows=20_000, seed=6, partitions=2)
    assert a.exceptAll(c).count() > 0


def test_label_depends_on_features(spark):
    df = generate_transactions(spark, rows=200_000, fraud_rate=0.01, seed=9)
    rates = {
        r.channel: r.rate
        for r in df.groupBy("channel").agg(F.avg("is_fraud").alias("rate")).collect()
    }
    assert rates["online"] > 3 * rates["pos"]


def test_wide_table_schema_rate_and_determinism(spark):
    from pyspark.sql import types as T

    from imbalance_spark.synthetic import generate_wide

    df = generate_wide(spark, rows=60_000, columns=200, positive_rate=0.005, days=10, seed=3)
    fields = {f.name: f.dataType for f in df.schema.fields}
    assert len(fields) == 200 and df.columns[:3] == ["transaction_id", "event_date", "is_fraud"]
    assert sum(isinstance(t, T.StringType) for t in fields.values()) == 5
    assert sum(isinstance(t, (T.DoubleType, T.IntegerType)) for n, t in fields.items() if n.startswith("f")) == 192
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum("is_fraud").alias("pos"),
                 F.countDistinct("event_date").alias("days"), F.countDistinct("channel").alias("channels")).first()
    assert row.n == 60_000 and row.days == 10 and row.channels == 3
    sigma = math.sqrt(60_000 * 0.005 * 0.995)
    assert abs(row.pos - 300) < 6 * sigma + 20, row.pos
    small = generate_wide(spark, rows=5_000, columns=30, seed=4, partitions=2)
    again = generate_wide(spark, rows=5_000, columns=30, seed=4, partitions=5)
    assert rows_differing(small, again) == 0
