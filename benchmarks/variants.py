"""One benchmark variant per process: ``python -m benchmarks.variants VARIANT --input ... --result X.json``.

Run by ``python -m benchmarks.run``, which measures the process tree's wall time and peak memory from
outside; each variant times its own work (after the session or interpreter is up) and writes it to
``--result``. A catalogue: each variant stands alone, so the module is long but holds one concern.
Variants that change a step of the job use the library's seams (``flows.run.RunSeams``), not patches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPO_ROOT, report_numbers

# benchmarks.run --library REF points this at an exported snapshot of a commit (run.py puts it first
# on the variant's path and runs the variant in it); default: the work tree
LIBRARY_ROOT = Path(os.environ.get("BENCH_LIBRARY_ROOT") or REPO_ROOT)

LABEL = "is_fraud"
MINORITY = 1
PARTITION = "event_date"
WEIGHT = "example_weight"
SEED = 42
LOG4J = LIBRARY_ROOT / "conf" / "log4j2.properties"

# Every in-process Spark variant gets the same session as the job's CLI on local[2]: the library's
# session factory (Delta, AQE on, UTC), default driver memory, UI off so runs cannot race for ports.
SPARK_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


# ---------------------------------------------------------------------------------------------
# helpers


def _spark(name: str, extra: dict[str, str] | None = None):
    from imbalance_spark.session import build_spark_session

    conf = {**SPARK_CONF, **(extra or {})}
    if os.environ.get("BENCH_EVENT_LOG"):
        Path(os.environ["BENCH_EVENT_LOG"]).mkdir(parents=True, exist_ok=True)
        conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": os.environ["BENCH_EVENT_LOG"],
                     "spark.eventLog.compress": "false"})
    return build_spark_session(master="local[2]", app_name=f"bench-{name}", conf=conf)


def sql_executions(event_logs: list[Path], since_ms: float = 0) -> list[dict]:
    """Each SQL execution of a finished Spark event log (started after ``since_ms``, epoch
    milliseconds): what ran, for how long, with how many tasks."""
    starts: dict[int, dict] = {}
    tasks: dict[int, int] = {}
    stage_exec: dict[int, int] = {}
    lines = [line for f in event_logs for line in f.read_text().splitlines()]
    for line in lines:
        e = json.loads(line)
        kind = e.get("Event", "")
        if kind.endswith("SparkListenerSQLExecutionStart") and e["time"] >= since_ms:
            starts[e["executionId"]] = {"id": e["executionId"], "what": e.get("description", ""),
                                       "start": e["time"], "tasks": 0}
        elif kind.endswith("SparkListenerSQLExecutionEnd") and e["executionId"] in starts:
            starts[e["executionId"]]["seconds"] = (e["time"] - starts[e["executionId"]]["start"]) / 1000
        elif kind == "SparkListenerJobStart":
            exec_id = (e.get("Properties") or {}).get("spark.sql.execution.id")
            if exec_id is not None:
                for st in e.get("Stage Infos", []):
                    stage_exec[st["Stage ID"]] = int(exec_id)
        elif kind == "SparkListenerStageCompleted":
            info = e["Stage Info"]
            exec_id = stage_exec.get(info["Stage ID"])
            if exec_id is not None and "Completion Time" in info:
                tasks[exec_id] = tasks.get(exec_id, 0) + info["Number of Tasks"]
    t0 = min((x["start"] for x in starts.values()), default=0)
    out = []
    for x in sorted(starts.values(), key=lambda x: x["start"]):
        out.append({"at_s": (x["start"] - t0) / 1000, "seconds": x.get("seconds"), "tasks": tasks.get(x["id"], 0),
                    "what": x["what"][:160]})
    return out


def job_config_dict(args: argparse.Namespace, output: dict | None = None, **downsampling) -> dict:
    """The dataset config the job runs with in every job variant (``output``: more output keys)."""
    return {
        "dataset": "bench_fraud",
        "input": {"path": args.input, "format": "parquet"},
        "label_column": LABEL,
        "minority_classes": [MINORITY],
        "downsampling": {"factor": args.factor, "seed": SEED, **downsampling},
        "weight": {"column": WEIGHT},
        "output": {"path": args.output, "partition_by": [PARTITION], "mode": "overwrite", **(output or {})},
        "report": {"path": str(Path(args.output).parent / (Path(args.output).name + "-report.json"))},
    }


def count_data_files(path: str) -> int:
    """Number of data files (parquet) written under ``path``."""
    return sum(1 for p in Path(path).rglob("*.parquet") if "_delta_log" not in p.parts)


def delta_output_rows(spark, path: str) -> int:
    """Rows written by the last commit of a Delta table, from its log (no scan)."""
    from delta.tables import DeltaTable

    metrics = DeltaTable.forPath(spark, path).history(1).collect()[0]["operationMetrics"]
    return int(metrics["numOutputRows"])


def timed(fn: Callable[[], dict]) -> dict:
    t0 = time.perf_counter()
    out = fn()
    out["seconds"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------------------------
# input


def generate(args: argparse.Namespace) -> dict:
    """Write the synthetic input (Parquet, partitioned by event_date) in a session of its own."""
    spark = _spark("generate")
    result = write_input(spark, args)
    spark.stop()
    return result


def write_input(spark, args: argparse.Namespace) -> dict:
    """Write the synthetic input at ``args.input`` with the library's generator and ``spark`` (the
    caller's session, left running); its timing, class counts and files."""
    from imbalance_spark.synthetic import write_demo_table

    result = timed(
        lambda: write_demo_table(
            spark, args.input, rows=args.rows, fraud_rate=0.005, days=args.days, seed=7, fmt="parquet"
        )
        or {}
    )
    df = spark.read.parquet(args.input)
    counts = {str(r[LABEL]): int(r["count"]) for r in df.groupBy(LABEL).count().collect()}
    size = sum(p.stat().st_size for p in Path(args.input).rglob("*.parquet"))
    result.update(rows_in=sum(counts.values()), rows_out=sum(counts.values()), classes=counts,
                  bytes=size, files=count_data_files(args.input), days=args.days)
    return result


# ---------------------------------------------------------------------------------------------
# Spark variants


def floor_noop_scan(args: argparse.Namespace) -> dict:
    """(a) The floor: read every column of every row once, to the noop sink."""
    spark = _spark("floor")

    def run() -> dict:
        df = spark.read.parquet(args.input)
        df.write.format("noop").mode("overwrite").save()
        return {}

    out = timed(run)
    out.update(rows_in=args.rows, rows_out=args.rows)
    return out


def label_count(args: argparse.Namespace) -> dict:
    """Reference: the label-only class count (what the profiling pass costs at least)."""
    spark = _spark("label-count")

    def run() -> dict:
        rows = spark.read.parquet(args.input).groupBy(LABEL).count().collect()
        return {"rows_in": sum(int(r["count"]) for r in rows), "rows_out": len(rows)}

    return timed(run)


def sample_noop(args: argparse.Namespace) -> dict:
    """Reference: sampleBy + weight to the noop sink (the full pass without the write)."""
    from pyspark.sql import functions as F

    spark = _spark("sample-noop")

    def run() -> dict:
        df = spark.read.parquet(args.input)
        out = df.sampleBy(LABEL, {MINORITY: 1.0, 0: 1.0 / args.factor}, SEED).withColumn(
            WEIGHT, F.when(F.col(LABEL) == MINORITY, 1.0).otherwise(float(args.factor))
        )
        out.write.format("noop").mode("overwrite").save()
        return {}

    out = timed(run)
    out.update(rows_in=args.rows, rows_out=0)
    return out


def _sample_write(args: argparse.Namespace, fmt: str, partitioned: bool) -> dict:
    from pyspark.sql import functions as F

    spark = _spark(f"sample-{fmt}")

    def run() -> dict:
        df = spark.read.parquet(args.input)
        out = df.sampleBy(LABEL, {MINORITY: 1.0, 0: 1.0 / args.factor}, SEED).withColumn(
            WEIGHT, F.when(F.col(LABEL) == MINORITY, 1.0).otherwise(float(args.factor))
        )
        writer = out.write.format(fmt).mode("overwrite")
        (writer.partitionBy(PARTITION) if partitioned else writer).save(args.output)
        return {}

    out = timed(run)
    out.update(rows_in=args.rows, files=count_data_files(args.output))
    out["rows_out"] = spark.read.format(fmt).load(args.output).count()
    return out


def sample_delta(args: argparse.Namespace) -> dict:
    """Diagnostic: sampleBy + weight → partitioned Delta with ``df.write`` (no profiling pass)."""
    return _sample_write(args, "delta", partitioned=True)


def sample_delta_flat(args: argparse.Namespace) -> dict:
    """Diagnostic: sampleBy + weight → Delta, not partitioned."""
    return _sample_write(args, "delta", partitioned=False)


def sample_parquet(args: argparse.Namespace) -> dict:
    """Diagnostic: sampleBy + weight → partitioned plain Parquet (no Delta)."""
    return _sample_write(args, "parquet", partitioned=True)


def job_library(
    args: argparse.Namespace, extra_conf: dict[str, str] | None = None, downsampling: dict | None = None,
    seams=None, output: dict | None = None,
) -> dict:
    """(b) The job through the library: ``run_job(spark, parse_config(...))``, with ``seams`` if given."""
    from imbalance_spark.config.load import parse_config
    from imbalance_spark.flows.run import run_job

    spark = _spark("job", extra_conf)
    cfg = parse_config(job_config_dict(args, output, **(downsampling or {})))
    with_seams = {} if seams is None else {"seams": seams}
    out = timed(lambda: {"report": run_job(spark, cfg, **with_seams)})
    report = report_numbers(out.pop("report"))
    out.update(
        rows_in=report["rows_in"],
        rows_out=report["rows_out"],
        stages_s=report["stages_s"],
        job_duration_s=report["duration_s"],
        files=count_data_files(args.output),
        output_files=report.get("output_files"),
    )
    return out


def _with_seam(args: argparse.Namespace, variant: str, **seam: Callable) -> dict:
    """``job_library`` with one step of the job replaced (``RunSeams``); the step must have run."""
    from imbalance_spark.flows.run import RunSeams

    calls = []
    (name, step), = seam.items()

    def counted(*a, **kw):
        calls.append(1)
        return step(*a, **kw)

    result = job_library(args, seams=RunSeams(**{name: counted}))
    if not calls:
        raise RuntimeError(f"run_job did not call its {name} seam; update {variant}")
    return result


def job_sampleby_udf(args: argparse.Namespace) -> dict:
    """Reference: ``run_job`` sampling with ``DataFrame.sampleBy`` (its Scala UDF per row), as the job
    did before it switched to the native filter that keeps exactly the same rows (the downsample seam)."""
    from imbalance_spark.transform import downsample

    def sampleby_downsample(df, label_column, fractions, seed, method="sampleBy", key_columns=()):
        if method != "sampleBy":
            return downsample(df, label_column, fractions, seed, method, key_columns)
        return df.sampleBy(label_column, dict(fractions), seed)

    return _with_seam(args, "job_sampleby_udf", downsample=sampleby_downsample)


def job_v1_create(args: argparse.Namespace) -> dict:
    """Candidate: ``run_job`` creating a new output with ``df.write...save`` (then ALTER TABLE for
    the properties) instead of the job's one-commit CREATE TABLE AS SELECT (the create_table seam)."""
    from imbalance_spark.tables.write import set_table_properties

    def create_v1(df, out, user_metadata, properties) -> None:
        writer = df.write.format("delta").mode("overwrite").option("userMetadata", user_metadata)
        writer.partitionBy(*out.partition_by).save(out.path)
        set_table_properties(df.sparkSession, out, properties)

    return _with_seam(args, "job_v1_create", create_table=create_v1)


def job_hash(args: argparse.Namespace) -> dict:
    """Candidate: the job with ``method: hash`` on ``transaction_id`` (a config choice, no code)."""
    return job_library(args, downsampling={"method": "hash", "key_columns": ["transaction_id"]})


def job_row_order_input(args: argparse.Namespace) -> dict:
    """Reference: the job with ``output.row_order: input`` (no shuffle, no sort: rows as Spark read them)."""
    return job_library(args, output={"row_order": "input"})


def job_max_records(args: argparse.Namespace) -> dict:
    """Candidate config: the job with ``output.max_records_per_file: 200000`` (smaller files for loaders)."""
    return job_library(args, output={"max_records_per_file": 200_000})


def job_optimize_write(args: argparse.Namespace) -> dict:
    """Candidate: the job unchanged, with Delta's optimized write (one shuffle to ~1 file/partition)."""
    return job_library(args, {"spark.databricks.delta.optimizeWrite.enabled": "true"})


def job_repartition(args: argparse.Namespace) -> dict:
    """Candidate: ``run_job`` unchanged, but the sample is repartitioned by the partition column
    right before the Delta write (each date then goes to one task: one file per date; the
    before_write seam)."""
    from pyspark.sql import functions as F

    def repartitioned(df):
        return df.repartition(F.col(f"`{PARTITION}`"))

    return _with_seam(args, "job_repartition", before_write=repartitioned)


def job_spark_submit(args: argparse.Namespace) -> dict:
    """(b) The job through ``spark-submit jobs/downsample.py``; its own time comes from its report."""
    import pyspark
    import yaml

    from imbalance_spark.packages import cached_jars_arg, delta_packages_arg

    cfg = job_config_dict(args)
    cfg_path = Path(args.output).parent / (Path(args.output).name + ".yaml")
    cfg_path.write_text(yaml.safe_dump(cfg))
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LIBRARY_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    jars = ["--packages", delta_packages_arg()]
    if getattr(args, "cached_jars", False):  # benchmarks.run --cached-jars: no Ivy resolution (a smoke run)
        if not cached_jars_arg():
            raise RuntimeError("--cached-jars: no cached Delta jars; run `imbalance-spark packages --fetch`")
        jars = ["--jars", cached_jars_arg()]
    cmd = [
        str(submit), "--master", "local[2]", *jars,
        "--conf", "spark.ui.enabled=false",
        "--driver-java-options", f"-Dlog4j2.configurationFile=file:{LOG4J}",
        str(LIBRARY_ROOT / "jobs" / "downsample.py"), "--config", str(cfg_path),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    log = Path(args.result).with_suffix(".submit.log")
    log.write_text(proc.stdout + "\n---- stderr ----\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"spark-submit exited {proc.returncode}; its output is in {log}")
    report = report_numbers(json.loads(Path(cfg["report"]["path"]).read_text()))
    return {
        "seconds": report["duration_s"],
        "submit_wall_s": wall,
        "rows_in": report["rows_in"],
        "rows_out": report["rows_out"],
        "stages_s": report["stages_s"],
        "files": count_data_files(args.output),
    }


def naive_spark(args: argparse.Namespace) -> dict:
    """(c) What users write first: count per class, then filter/union/sample, weight, write."""
    from pyspark.sql import functions as F

    spark = _spark("naive")

    def run() -> dict:
        df = spark.read.format(args.input_format).load(args.input)
        counts = {r[LABEL]: int(r["count"]) for r in df.groupBy(LABEL).count().collect()}
        minority = min(counts, key=counts.get)
        minority_df = df.filter(F.col(LABEL) == minority).withColumn(WEIGHT, F.lit(1.0))
        majority_df = (
            df.filter(F.col(LABEL) != minority)
            .sample(fraction=1.0 / args.factor, seed=SEED)
            .withColumn(WEIGHT, F.lit(float(args.factor)))
        )
        (
            minority_df.unionByName(majority_df)
            .write.format("delta").mode("overwrite").partitionBy(PARTITION).save(args.output)
        )
        return {"rows_in": sum(counts.values())}

    out = timed(run)
    out.update(rows_out=delta_output_rows(spark, args.output), files=count_data_files(args.output))
    return out


# ---------------------------------------------------------------------------------------------
# single-machine libraries


def pandas_imblearn(args: argparse.Namespace) -> dict:
    """(d) pandas + imbalanced-learn's RandomUnderSampler, as its docs show: fit_resample(X, y)."""
    import pandas as pd
    from imblearn.under_sampling import RandomUnderSampler

    def run() -> dict:
        df = pd.read_parquet(args.input)
        counts = df[LABEL].value_counts().to_dict()
        minority = min(counts, key=counts.get)
        # a dict strategy gives the exact count per class: all minority rows, 1/F of the others
        strategy = {c: (n if c == minority else n // args.factor) for c, n in counts.items()}
        X, y = df.drop(columns=[LABEL]), df[LABEL]
        del df
        X_res, y_res = RandomUnderSampler(sampling_strategy=strategy, random_state=SEED).fit_resample(X, y)
        out = X_res.assign(**{LABEL: y_res.to_numpy()})
        out[WEIGHT] = (out[LABEL] != minority).map({True: float(args.factor), False: 1.0})
        out.to_parquet(args.output, partition_cols=[PARTITION], index=False)
        return {"rows_in": int(sum(counts.values())), "rows_out": len(out)}

    out = timed(run)
    out["files"] = count_data_files(args.output)
    return out


def _polars_input(args: argparse.Namespace) -> str:
    return str(Path(args.input) / "**" / "*.parquet")


def _polars_read(args: argparse.Namespace):
    """The whole input as a Polars DataFrame: Parquet files, or a Delta table's current version."""
    import polars as pl

    if args.input_format == "delta":
        return pl.read_delta(args.input)
    return pl.read_parquet(_polars_input(args), hive_partitioning=True)


def _polars_scan(args: argparse.Namespace):
    """The input as a Polars LazyFrame: Parquet files, or a Delta table's current version."""
    import polars as pl

    if args.input_format == "delta":
        return pl.scan_delta(args.input)
    return pl.scan_parquet(_polars_input(args), hive_partitioning=True)


def polars_eager(args: argparse.Namespace) -> dict:
    """(e) Polars, eager: read all, count per class, sample per class, weight, partitioned write.

    The per-group sampling idiom (a shuffled row number per class, kept below the class's quota)
    filters once, like RandomUnderSampler keeps an exact count per class, without copying the
    majority class first.
    """
    import polars as pl

    def run() -> dict:
        df = _polars_read(args)
        counts = dict(df.group_by(LABEL).len().iter_rows())
        minority = min(counts, key=counts.get)
        is_minority = pl.col(LABEL) == minority
        quota = pl.when(is_minority).then(pl.len()).otherwise(pl.len() // args.factor).over(LABEL)
        out = df.filter(pl.int_range(pl.len()).shuffle(seed=SEED).over(LABEL) < quota).with_columns(
            pl.when(is_minority).then(1.0).otherwise(float(args.factor)).alias(WEIGHT)
        )
        del df
        Path(args.output).mkdir(parents=True, exist_ok=True)
        out.write_parquet(args.output, partition_by=PARTITION)
        return {"rows_in": int(sum(counts.values())), "rows_out": out.height}

    out = timed(run)
    out["files"] = count_data_files(args.output)
    return out


def polars_streaming(args: argparse.Namespace) -> dict:
    """(e) Polars lazy on the streaming engine: a label-only count, then one streaming pass.

    ``DataFrame.sample`` has no lazy form, so the majority is Bernoulli-sampled by a seeded hash of
    the transaction id (keep when hash < 2^64 / F), the same keep-probability as sampleBy.
    """
    import polars as pl

    def run() -> dict:
        scan = _polars_scan(args)
        counts = dict(scan.group_by(LABEL).len().collect(engine="streaming").iter_rows())
        minority = min(counts, key=counts.get)
        threshold = (2**64) // args.factor
        is_minority = pl.col(LABEL) == minority
        kept = is_minority | (pl.col("transaction_id").hash(SEED) < pl.lit(threshold, dtype=pl.UInt64))
        (
            scan.filter(kept)
            .with_columns(pl.when(is_minority).then(1.0).otherwise(float(args.factor)).alias(WEIGHT))
            .sink_parquet(pl.PartitionBy(args.output, key=PARTITION), mkdir=True, engine="streaming")
        )
        rows_out = pl.scan_parquet(str(Path(args.output) / "**" / "*.parquet")).select(pl.len()).collect().item()
        return {"rows_in": int(sum(counts.values())), "rows_out": int(rows_out)}

    out = timed(run)
    out["files"] = count_data_files(args.output)
    return out


VARIANTS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "generate": generate,
    "floor_noop_scan": floor_noop_scan,
    "label_count": label_count,
    "sample_noop": sample_noop,
    "sample_delta": sample_delta,
    "sample_delta_flat": sample_delta_flat,
    "sample_parquet": sample_parquet,
    "job_library": job_library,
    "job_spark_submit": job_spark_submit,
    "job_repartition": job_repartition,
    "job_optimize_write": job_optimize_write,
    "job_row_order_input": job_row_order_input,
    "job_max_records": job_max_records,
    "job_hash": job_hash,
    "job_v1_create": job_v1_create,
    "job_sampleby_udf": job_sampleby_udf,
    "naive_spark": naive_spark,
    "pandas_imblearn": pandas_imblearn,
    "polars_eager": polars_eager,
    "polars_streaming": polars_streaming,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.splitlines()[0])
    p.add_argument("variant", type=_variant_list,
                   help="a variant, or several comma separated, run one after another in this process "
                        "(benchmarks.run --one-jvm; then {variant} in --output and --result names each's)")
    p.add_argument("--input", required=True, help="input Parquet directory (partitioned by event_date)")
    p.add_argument("--input-format", choices=["parquet", "delta"], default="parquet",
                   help="what --input holds (naive_spark and the Polars variants; default parquet)")
    p.add_argument("--output", default=None, help="output directory (removed first)")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--factor", type=int, default=20)
    p.add_argument("--days", type=int, default=30, help="generate: days of event_date (default 30)")
    p.add_argument("--result", required=True, help="JSON file for this variant's measurements")
    p.add_argument("--warmup-input", default=None,
                   help="run the variant on this small input (same schema) first, untimed: JIT and codegen warm")
    p.add_argument("--warmup-rows", type=int, default=0)
    p.add_argument("--cached-jars", action="store_true",
                   help="job_spark_submit: the cached Delta jars (--jars) instead of --packages")
    args = p.parse_args(argv)
    for variant in args.variant:
        named = {k: getattr(args, k) and getattr(args, k).replace("{variant}", variant) for k in ("result", "output")}
        run_one(argparse.Namespace(**{**vars(args), "variant": variant, **named}))
    return 0


def _variant_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown variant {bad or text!r}; known: {', '.join(sorted(VARIANTS))}")
    return names


def run_one(args: argparse.Namespace) -> None:
    """One variant: its warm-up (if any), its timed run, and its result file."""
    if args.warmup_input:
        warm = argparse.Namespace(**{**vars(args), "input": args.warmup_input, "rows": args.warmup_rows,
                                     "output": args.output + "-warmup", "result": None})
        shutil.rmtree(warm.output, ignore_errors=True)
        Path(warm.output).parent.mkdir(parents=True, exist_ok=True)
        VARIANTS[args.variant](warm)
        shutil.rmtree(warm.output, ignore_errors=True)
    if args.output:
        shutil.rmtree(args.output, ignore_errors=True)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    measured_from_ms = time.time() * 1000
    result = VARIANTS[args.variant](args)
    result["warmed_up"] = bool(args.warmup_input)
    import imbalance_spark

    result["library"] = str(Path(imbalance_spark.__file__).parent)
    if os.environ.get("BENCH_EVENT_LOG") and "pyspark.sql" in sys.modules:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        if spark is not None:
            app_id = spark.sparkContext.applicationId
            spark.stop()
            root = Path(os.environ["BENCH_EVENT_LOG"])
            # a single file, or Spark 4's rolling layout: eventlog_v2_<app>/events_<n>_<app>
            files = [root / app_id] if (root / app_id).is_file() else sorted(
                (root / f"eventlog_v2_{app_id}").glob("events_*"), key=lambda f: int(f.name.split("_")[1])
            )
            if files:
                result["sql_executions"] = sql_executions(files, since_ms=measured_from_ms)
    Path(args.result).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    sys.exit(main())
