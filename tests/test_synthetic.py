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
    df = generate_transactions(spark, rows=100_000, fraud_rate=0.01, days=30, seed=3)
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
    assert row.n == 100_000 and row.ids == 100_000
    assert row.days == 30
    assert row.min_amount > 0
    # The risk multipliers average to 1 and none is capped at this rate (the largest product, ~28x,
    # gives p ~0.28), so the count is a sum of Bernoullis of mean 1,000 and variance below
    # 1,000 x 0.99: a 5-sigma bound (+-16%).
    sigma = math.sqrt(100_000 * 0.01 * 0.99)
    assert abs(row.fraud - 1_000) < 5 * sigma, row.fraud


def test_same_seed_same_rows_whatever_the_partitioning(spark):
    # 5,000 rows: the 7 partitions split the id range at other places than the 2 do
    a = generate_transactions(spark, rows=5_000, seed=5, partitions=2)
    b = generate_transactions(spark, rows=5_000, seed=5, partitions=7)
    assert rows_differing(a, b) == 0
    c = generate_transactions(spark, rows=5_000, seed=6, partitions=2)
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

    # 20 columns: the same arithmetic as the benchmarks' 200 (3 keys, 5 strings, the rest features
    # cycling double, int, double), without the ~4 s of py4j calls that building 192 features takes.
    df = generate_wide(spark, rows=100_000, columns=20, positive_rate=0.01, days=10, seed=3)
    fields = {f.name: f.dataType for f in df.schema.fields}
    assert len(fields) == 20 and df.columns[:3] == ["transaction_id", "event_date", "is_fraud"]
    assert sum(isinstance(t, T.StringType) for t in fields.values()) == 5
    features = [n for n in df.columns if n.startswith("f")]
    assert features == [f"f{i:03d}" for i in range(12)]
    assert [type(fields[n]) for n in features[:3]] == [T.DoubleType, T.IntegerType, T.DoubleType]
    assert sum(isinstance(t, (T.DoubleType, T.IntegerType)) for n, t in fields.items() if n.startswith("f")) == 12
    row = df.agg(F.count(F.lit(1)).alias("n"), F.sum("is_fraud").alias("pos"),
                 F.countDistinct("event_date").alias("days"), F.countDistinct("channel").alias("channels")).first()
    assert row.n == 100_000 and row.days == 10 and row.channels == 3
    # Both risks average to 1 and none is capped (the largest p is 0.01 x 3.06 x 2), so the count is a
    # sum of Bernoullis of mean 1,000 and variance below 1,000 x 0.99: a 5-sigma bound (+-16%).
    sigma = math.sqrt(100_000 * 0.01 * 0.99)
    assert abs(row.pos - 1_000) < 5 * sigma, row.pos
    small = generate_wide(spark, rows=2_000, columns=20, seed=4, partitions=2)
    again = generate_wide(spark, rows=2_000, columns=20, seed=4, partitions=5)
    assert rows_differing(small, again) == 0
