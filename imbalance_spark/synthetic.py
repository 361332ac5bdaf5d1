"""Synthetic transaction tables for the demo, the tests and the benchmarks.

Every value is a hash of (row id, seed, stream), so the table is the same whatever the partitioning,
and generating 100 million rows collects nothing to the driver.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from imbalance_spark.common.hashing import hash_to_uniform

# (value, probability, fraud-risk multiplier); each feature's multipliers average to 1, so the
# product's mean is 1 and the fraud rate of the table is the requested rate.
COUNTRIES = [
    ("US", 0.40, 0.8),
    ("GB", 0.15, 0.8),
    ("DE", 0.12, 0.8),
    ("FR", 0.10, 0.8),
    ("BR", 0.08, 3.0),
    ("IN", 0.08, 0.8),
    ("NG", 0.04, 3.0),
    ("RU", 0.03, 3.0),
]
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "BR": "BRL", "IN": "INR", "NG": "NGN", "RU": "RUB"}
CHANNELS = [("online", 0.45, 2.0), ("pos", 0.45, 0.4), ("atm", 0.10, 0.8)]


def _uniform(seed: int, stream: int) -> Column:
    """A uniform in [0, 1) from the row id, the seed and a stream number."""
    return hash_to_uniform(F.col("id"), F.lit(seed), F.lit(stream))


def _normal(seed: int, stream: int) -> Column:
    """A standard normal (Box-Muller) from the uniforms of streams ``stream`` and ``stream + 1``."""
    return F.sqrt(-2.0 * F.log(F.lit(1.0) - _uniform(seed, stream))) * F.cos(
        2 * 3.141592653589793 * _uniform(seed, stream + 1)
    )


def _tail_risk(z: Column) -> Column:
    """3x where the standard normal ``z`` is above 1 (15.9% of rows), 0.6x elsewhere; mean 1."""
    return F.when(z > 1.0, 3.0).otherwise(0.6) / F.lit(0.15866 * 3.0 + 0.84134 * 0.6)


def _day_index(rows: int, days: int) -> Column:
    """The day (0 .. days - 1) of row ``id``: rows are in time order."""
    return (F.col("id") * F.lit(days) / F.lit(rows)).cast("int")


def _categorical(u: Column, table: list[tuple[str, float, float]]) -> tuple[Column, Column]:
    mean_risk = sum(p * r for _, p, r in table)
    value = risk = None
    edge = 0.0
    for name, p, r in table[:-1]:
        edge += p
        value = F.when(u < edge, name) if value is None else value.when(u < edge, name)
        risk = F.when(u < edge, r) if risk is None else risk.when(u < edge, r)
    last = table[-1]
    return value.otherwise(last[0]), risk.otherwise(last[2]) / F.lit(mean_risk)


def generate_transactions(
    spark: SparkSession,
    rows: int = 2_000_000,
    fraud_rate: float = 0.005,
    days: int = 30,
    seed: int = 7,
    start_date: dt.date = dt.date(2026, 1, 1),
    partitions: int | None = None,
) -> DataFrame:
    """A transaction table whose `is_fraud` label depends on channel, country, amount and hour."""
    if rows <= 0 or days <= 0 or not 0.0 < fraud_rate < 1.0:
        raise ValueError("rows and days must be positive and fraud_rate in (0, 1)")
    partitions = partitions or max(2, min(400, rows // 1_000_000))
    accounts = max(100, rows // 50)
    merchants = max(20, rows // 500)
    currency = F.create_map(*[F.lit(x) for kv in CURRENCY.items() for x in kv])
    country, country_risk = _categorical(_uniform(seed, 1), COUNTRIES)
    channel, channel_risk = _categorical(_uniform(seed, 2), CHANNELS)
    # log-normal amounts: Box-Muller normal from two uniforms
    z = _normal(seed, 3)
    amount_risk = _tail_risk(z)
    # rows are in time order: each id range covers a few days, so a partitioned write
    # makes few files per task without a shuffle
    day = _day_index(rows, days)
    second = (_uniform(seed, 5) * 86400).cast("long")
    night_risk = F.when(second < 6 * 3600, 2.0).otherwise(2.0 / 3.0)
    start_epoch = int(
        dt.datetime(start_date.year, start_date.month, start_date.day, tzinfo=dt.timezone.utc).timestamp()
    )
    epoch = F.lit(start_epoch) + day.cast("long") * 86400 + second
    risk = country_risk * channel_risk * amount_risk * night_risk
    p_fraud = F.least(F.lit(1.0), F.lit(fraud_rate) * risk)
    return (
        spark.range(0, rows, 1, partitions)
        .withColumn("country", country)
        .withColumn("channel", channel)
        .withColumn("__z", z)
        .withColumn("__p", p_fraud)
        .withColumn("__epoch", epoch)
        .select(
            F.col("id").alias("transaction_id"),
            (_uniform(seed, 6) * accounts).cast("long").alias("account_id"),
            (_uniform(seed, 7) * merchants).cast("long").alias("merchant_id"),
            F.round(F.exp(F.lit(3.5) + F.lit(1.1) * F.col("__z")), 2).alias("amount"),
            currency[F.col("country")].alias("currency"),
            F.col("country"),
            F.col("channel"),
            F.timestamp_seconds(F.col("__epoch")).alias("event_ts"),
            F.to_date(F.timestamp_seconds(F.col("__epoch"))).alias("event_date"),
            (_uniform(seed, 8) < F.col("__p")).cast("int").alias("is_fraud"),
        )
    )


def write_demo_table(
    spark: SparkSession,
    path: str,
    rows: int = 2_000_000,
    fraud_rate: float = 0.005,
    days: int = 30,
    seed: int = 7,
    fmt: str = "delta",
) -> None:
    """Generate a transaction table and write it partitioned by `event_date`."""
    df = generate_transactions(spark, rows=rows, fraud_rate=fraud_rate, days=days, seed=seed)
    df.write.format(fmt).mode("overwrite").option("overwriteSchema", "true").partitionBy("event_date").save(path)


# The known model of generate_logistic: logit P(y=1) = intercept + x1 - 0.7 * device.score + segment effect.
LOGISTIC_COEFFICIENTS = {"x1": 1.0, "device.score": -0.7}
LOGISTIC_SEGMENTS = [("a", 0.5, 0.0), ("b", 0.3, 0.8), ("c", 0.2, -0.5)]


def generate_logistic(
    spark: SparkSession,
    rows: int = 100_000,
    intercept: float = -4.0,
    days: int = 10,
    seed: int = 3,
    null_segment_rate: float = 0.01,
    start_date: dt.date = dt.date(2026, 1, 1),
    partitions: int | None = None,
) -> DataFrame:
    """Rows whose 0/1 `label` follows a known logistic model of two normal features and a segment.

    `device.score` has a dot in its name (a name, not a path); `segment` is null in a share of rows
    (effect 0 there). Deterministic whatever the partitioning, like :func:`generate_transactions`.
    """
    if rows <= 0 or days <= 0:
        raise ValueError("rows and days must be positive")
    partitions = partitions or max(2, min(400, rows // 1_000_000))
    u = _uniform(seed, 5)
    segment = effect = None
    edge = 0.0
    for name, p, b in LOGISTIC_SEGMENTS:
        edge += p
        segment = F.when(u < edge, name) if segment is None else segment.when(u < edge, name)
        effect = F.when(u < edge, b) if effect is None else effect.when(u < edge, b)
    is_null = _uniform(seed, 6) < F.lit(null_segment_rate)
    day = _day_index(rows, days)
    logit = (
        F.lit(intercept)
        + F.lit(LOGISTIC_COEFFICIENTS["x1"]) * F.col("x1")
        + F.lit(LOGISTIC_COEFFICIENTS["device.score"]) * F.col("`device.score`")
        + F.when(is_null, 0.0).otherwise(effect)
    )
    return (
        spark.range(0, rows, 1, partitions)
        .withColumn("x1", _normal(seed, 1))
        .withColumn("device.score", _normal(seed, 3))
        .withColumn("__p", F.lit(1.0) / (F.lit(1.0) + F.exp(-logit)))
        .select(
            F.col("id"),
            F.date_add(F.lit(start_date), day).alias("event_date"),
            F.col("x1"),
            F.col("`device.score`"),
            F.when(is_null, F.lit(None).cast("string")).otherwise(segment).alias("segment"),
            (_uniform(seed, 7) < F.col("__p")).cast("int").alias("label"),
        )
    )


# The string columns of generate_wide: (name, values); a few low-cardinality categoricals.
WIDE_STRINGS = [
    ("country", [c for c, _, _ in COUNTRIES]),
    ("channel", [c for c, _, _ in CHANNELS]),
    ("device", ["ios", "android", "web", "other"]),
    ("segment", ["a", "b", "c", "d", "e"]),
    ("currency", sorted(set(CURRENCY.values()))),
]


def generate_wide(
    spark: SparkSession,
    rows: int = 3_000_000,
    columns: int = 200,
    positive_rate: float = 0.005,
    days: int = 30,
    seed: int = 7,
    start_date: dt.date = dt.date(2026, 1, 1),
    partitions: int | None = None,
) -> DataFrame:
    """A wide feature table: `transaction_id`, `event_date`, `is_fraud`, five strings and numeric features.

    ``columns`` counts them all (200: 192 numeric features ``f000``...). The features cycle through
    a normal double (3 decimals), an integer count and a rounded uniform double, as feature stores
    hold them; `is_fraud` depends on ``f000`` and ``channel``. Deterministic like
    :func:`generate_transactions`, rows in time order.
    """
    n_features = columns - 3 - len(WIDE_STRINGS)
    if rows <= 0 or days <= 0 or n_features < 1 or not 0.0 < positive_rate < 1.0:
        raise ValueError(f"rows and days must be positive, columns > {3 + len(WIDE_STRINGS)}, positive_rate in (0, 1)")
    partitions = partitions or max(2, min(400, rows // 500_000))

    def feature(i: int) -> Column:
        stream = 100 + 2 * i
        kind = i % 3
        if kind == 0:
            value = F.round(_normal(seed, stream), 3)
        elif kind == 1:
            value = (_uniform(seed, stream) * (10 + 10 * (i % 50))).cast("int")
        else:
            value = F.round(_uniform(seed, stream) * 100.0, 2)
        return value.alias(f"f{i:03d}")

    strings = {}
    for k, (name, values) in enumerate(WIDE_STRINGS):
        idx = (_uniform(seed, 20 + k) * len(values)).cast("int")
        strings[name] = F.element_at(F.array(*[F.lit(v) for v in values]), idx + 1)
    # risk: 3x when f000 (the first normal feature) is above 1, 2x online; normalised to mean 1
    risk = _tail_risk(_normal(seed, 100))
    online = F.when(strings["channel"] == "online", 2.0).otherwise(0.5) / F.lit(
        (2.0 + 0.5 * (len(CHANNELS) - 1)) / len(CHANNELS)
    )
    day = _day_index(rows, days)
    label = (_uniform(seed, 9) < F.least(F.lit(1.0), F.lit(positive_rate) * risk * online)).cast("int")
    return spark.range(0, rows, 1, partitions).select(
        F.col("id").alias("transaction_id"),
        F.date_add(F.lit(start_date), day).alias("event_date"),
        label.alias("is_fraud"),
        *[value.alias(name) for name, value in strings.items()],
        *[feature(i) for i in range(n_features)],
    )
