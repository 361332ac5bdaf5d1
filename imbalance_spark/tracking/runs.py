"""MLflow runs: start, log params, metrics, the report, pictures and the tables as datasets.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imbalance_spark.common.text import one_line
from imbalance_spark.config.models import JobConfig, redact
from imbalance_spark.errors import TrackingError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from imbalance_spark.evaluate.report import EvaluationReport

from imbalance_spark.figures.run import plot_run
from imbalance_spark.report.models import InputSection, OutputSection, RunReport
from imbalance_spark.tracking.flatten import (
    evaluation_params_and_metrics,
    metric_key,
    run_dates_param,
    run_metrics,
    run_params,
)

log = logging.getLogger(__name__)


INSTALL_HINT = "pip install 'imbalance-spark[mlflow]'"


# What each table is to the run, in MLflow's dataset context tag (mlflow.data.context).
INPUT_CONTEXT = "source"


OUTPUT_CONTEXT = "training"


EVALUATION_CONTEXT = "evaluation"


_PARAMS_PER_BATCH = 100  # MLflow's limits per log_batch call


_METRICS_PER_BATCH = 1000


def resolve_experiment(cli_experiment: str | None, cfg: JobConfig) -> str | None:
    """The MLflow experiment of a run: ``--mlflow-experiment`` wins over ``tracking.mlflow.experiment``."""
    return cli_experiment or cfg.tracking.mlflow_experiment


def require_mlflow() -> None:
    """Fail with one line naming the extra when the mlflow package is not installed."""
    if importlib.util.find_spec("mlflow") is None:
        raise TrackingError(f"MLflow tracking is requested but the mlflow package is not installed: {INSTALL_HINT}")



def _dataset_classes():
    """mlflow.data classes, adjusted where MLflow's defaults do not fit a scheduled Spark job."""
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.spark_dataset import SparkDataset

    class VersionedDeltaSource(DeltaDatasetSource):
        """A Delta table source that records version 0 too and never looks a two-part name up in
        Databricks Unity Catalog (MLflow's own drops a falsy version and treats ``db.table`` as UC)."""

        def to_dict(self) -> dict[str, Any]:
            info: dict[str, Any] = {"path": self.path} if self.path else {"delta_table_name": self.delta_table_name}
            if self.delta_table_version is not None:
                info["delta_table_version"] = self.delta_table_version
            return info

    class CountedSparkDataset(SparkDataset):
        """A Spark dataset whose profile is the job's exact counts, not MLflow's own approximate count
        (a Python pass over the whole table)."""

        def __init__(self, *args, profile: dict[str, Any], **kwargs):
            super().__init__(*args, **kwargs)
            self._known_profile = profile

        @property
        def profile(self) -> dict[str, Any]:
            return self._known_profile

    return VersionedDeltaSource, CountedSparkDataset


def table_dataset(
    df: DataFrame,
    *,
    name: str,
    path: str | None = None,
    table: str | None = None,
    fmt: str = "delta",
    version: int | None = None,
    targets: str | None = None,
    profile: dict[str, Any] | None = None,
    secrets: tuple[str, ...] = (),
):
    """An ``mlflow.data`` Spark dataset for a table at a version (Delta) or a Parquet/CSV path.

    ``df`` gives only the schema (no Spark job runs); the digest is a hash of where and which version.
    """
    from mlflow.data.spark_dataset_source import SparkDatasetSource

    delta_source, dataset_class = _dataset_classes()
    where = redact(path, secrets) if path is not None else None
    if fmt == "delta":
        source = delta_source(path=where, delta_table_name=table, delta_table_version=version)
    else:
        source = SparkDatasetSource(path=where, table_name=table)
    digest = hashlib.md5(
        json.dumps([source.to_dict(), fmt, profile], sort_keys=True, default=str).encode(), usedforsecurity=False
    ).hexdigest()[:8]
    return dataset_class(df=df, source=source, targets=targets, name=name, digest=digest, profile=profile or {})


def _dataset_input(dataset, context: str, extra_tags: Mapping[str, Any]):
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    with warnings.catch_warnings():
        # MLflow's schema inference warns that integer columns cannot hold missing values at model
        # serving time: true, and irrelevant to a table's record
        warnings.simplefilter("ignore", UserWarning)
        d = dataset.to_dict()
    entity = Dataset(
        name=d["name"],
        digest=d["digest"],
        source_type=d["source_type"],
        source=d["source"],
        schema=d.get("schema"),
        profile=d.get("profile"),
    )
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
    tags += [InputTag(k, str(v)) for k, v in extra_tags.items() if v is not None]
    return DatasetInput(dataset=entity, tags=tags)


def _class_profile(section: InputSection | OutputSection) -> dict[str, Any]:
    return {"num_rows": section.rows, "class_counts": {k: c.count for k, c in section.classes.items()}}


@dataclass
class MlflowRun:
    """An open MLflow run of this job, created with the client API (no global active run)."""

    client: Any
    run_id: str
    experiment: str
    experiment_id: str
    tracking_uri: str

    def summary(self) -> dict[str, str]:
        """Where the run is, for the report."""
        return {
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "tracking_uri": redact(self.tracking_uri),
        }

    def log(
        self,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        *,
        steps: Sequence[tuple[str, float, int]] = (),
        artifacts: Sequence[tuple[str | Path, str]] = (),
        report: tuple[Mapping[str, Any], str] | None = None,
        datasets: Sequence[Any] = (),
    ) -> None:
        """Log params, metrics (and stepped points), artifact files (path, artifact dir), the report
        (as JSON, when its file was not written) and dataset inputs; then mark the run finished."""
        from mlflow.entities import Metric, Param

        try:
            now = int(time.time() * 1000)
            items = [Param(k, v) for k, v in params.items()]
            for i in range(0, len(items), _PARAMS_PER_BATCH):
                self.client.log_batch(self.run_id, params=items[i : i + _PARAMS_PER_BATCH], synchronous=True)
            points = [Metric(k, v, now, 0) for k, v in metrics.items()]
            points += [Metric(k, v, now, step) for k, v, step in steps]
            for i in range(0, len(points), _METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=points[i : i + _METRICS_PER_BATCH], synchronous=True)
            if report is not None:
                self.client.log_dict(self.run_id, dict(report[0]), report[1])
            for local, artifact_dir in artifacts:
                self.client.log_artifact(self.run_id, str(local), artifact_dir)
            if datasets:
                self.client.log_inputs(self.run_id, datasets=list(datasets))
        except Exception as exc:
            self._terminate("FAILED")
            raise TrackingError(
                f"MLflow: could not log run {self.run_id} to experiment {self.experiment!r}"
                f" at {redact(self.tracking_uri)}: {one_line(exc, 300)}"
            ) from None
        self._terminate("FINISHED")

    def _terminate(self, status: str) -> None:
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception as exc:  # the run stays RUNNING in the tracker; the job's result stands
            log.warning("MLflow: could not mark run %s %s: %s", self.run_id, status, one_line(exc, 300))


def start_mlflow_run(experiment: str, run_name: str, tags: Mapping[str, str] | None = None) -> MlflowRun:
    """Create a run in ``experiment`` (created if missing) on the server of ``MLFLOW_TRACKING_URI``."""
    require_mlflow()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    try:
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            try:
                experiment_id = client.create_experiment(experiment)
            except MlflowException:  # created meanwhile by a concurrent run
                exp = client.get_experiment_by_name(experiment)
                if exp is None:
                    raise
                experiment_id = exp.experiment_id
        elif exp.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow: experiment {experiment!r} at {redact(uri)} is deleted; restore it or choose another name"
            )
        else:
            experiment_id = exp.experiment_id
        run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(
            f"MLflow: could not start a run in experiment {experiment!r} at {redact(uri)}: {one_line(exc, 300)}"
        ) from None
    log.info("MLflow: run %s in experiment %r at %s", run.info.run_id, experiment, redact(uri))
    return MlflowRun(client, run.info.run_id, experiment, experiment_id, uri)


def start_job_run(experiment: str, cfg: JobConfig, report: RunReport) -> MlflowRun:
    """Start the MLflow run of one job run (named after the dataset and its run dates)."""
    dates = run_dates_param(report.run_dates)
    return start_mlflow_run(
        experiment,
        f"{cfg.dataset} {dates}" if dates else cfg.dataset,
        {
            "imbalance_spark.kind": "run",
            "imbalance_spark.dataset": cfg.dataset,
            "imbalance_spark.run_id": report.run_id,
            "imbalance_spark.degree": report.degree,
        },
    )


def log_job_run(
    tracker: MlflowRun,
    cfg: JobConfig,
    report: RunReport,
    *,
    input_df: DataFrame,
    output_df: DataFrame,
    report_file: str | None = None,
) -> None:
    """Log a finished job run: params, metrics, the report and its picture, and both tables as datasets.

    The report's file (``report_file``, the run's ``report.path``) and picture are logged when the run
    wrote them; otherwise they are written to a temporary folder for the tracker only.
    """
    datasets = _job_datasets(cfg, report, input_df, output_df)
    with tempfile.TemporaryDirectory(prefix="imbalance-spark-mlflow-") as tmp:
        files: list[tuple[str | Path, str]] = []
        report_doc = None
        if report_file and Path(report_file).is_file():
            files.append((report_file, "report"))
        else:
            report_doc = (report.as_dict(), f"report/{cfg.dataset}.json")
        pictures = [Path(p) for p in (report.figures or {}).values() if Path(p).is_file()]
        if not pictures:
            pictures = [plot_run(report, Path(tmp) / f"{cfg.dataset}.png")]
        files += [(p, "report") for p in pictures]
        tracker.log(run_params(report), run_metrics(report), artifacts=files, report=report_doc, datasets=datasets)


def _job_datasets(cfg: JobConfig, report: RunReport, input_df: DataFrame, output_df: DataFrame) -> list:
    """A job run's input (context ``source``) and output (context ``training``) as MLflow dataset inputs."""
    dates = run_dates_param(report.run_dates)
    out = report.output
    return [
        _dataset_input(
            table_dataset(
                input_df,
                name=f"{cfg.dataset}.input",
                path=cfg.input.path,
                table=cfg.input.table,
                fmt=cfg.input.format,
                version=report.input_version,
                targets=cfg.label_column,
                profile=_class_profile(report.input) | ({"run_dates": dates} if dates else {}),
                secrets=cfg.secrets,
            ),
            INPUT_CONTEXT,
            {"imbalance_spark.delta_version": report.input_version, "imbalance_spark.run_dates": dates},
        ),
        _dataset_input(
            table_dataset(
                output_df,
                name=f"{cfg.dataset}.output",
                path=cfg.output.path,
                table=cfg.output.table,
                version=out.version,
                targets=cfg.label_column,
                profile=_class_profile(out) | {"weight_column": cfg.weight.column},
                secrets=cfg.secrets,
            ),
            OUTPUT_CONTEXT,
            {
                "imbalance_spark.delta_version": out.version,
                "imbalance_spark.run_dates": dates,
                "imbalance_spark.weight_column": cfg.weight.column,
            },
        ),
    ]


def log_evaluation(
    report: EvaluationReport,
    figures: Sequence[str | Path] = (),
    experiment: str | None = None,
    *,
    cfg: JobConfig | None = None,
    input_df: DataFrame | None = None,
    run_name: str | None = None,
) -> dict[str, str] | None:
    """Log an ``evaluate`` sweep to MLflow the way runs are logged; return where (None: no experiment).

    ``experiment`` defaults to ``cfg.tracking.mlflow.experiment``. Params: the report's strings and
    booleans (two levels deep) plus the config SHA-256; metrics: every number by its dotted path, and
    each sweep list (entries with an integral ``factor``) also as points with step = F; artifacts: the
    report (``evaluation/<dataset>.json``) and ``figures``; with ``cfg`` and ``input_df``, the input
    table as a dataset (context ``evaluation``, at the Delta version read: ``report.input.version``).
    """
    experiment = experiment or (cfg.tracking.mlflow_experiment if cfg is not None else None)
    if not experiment:
        return None
    params, metrics, steps = evaluation_params_and_metrics(report)
    if cfg is not None and cfg.source_sha256:
        params.setdefault("config_sha256", cfg.source_sha256)
    datasets = []
    if cfg is not None and input_df is not None:
        datasets.append(_evaluation_input(report, cfg, input_df))
    tracker = start_mlflow_run(
        experiment,
        run_name or f"{report.dataset} evaluate",
        {"imbalance_spark.kind": "evaluate", "imbalance_spark.dataset": report.dataset},
    )
    tracker.log(
        params,
        metrics,
        steps=steps,
        artifacts=[(f, "evaluation") for f in figures],
        report=(report.to_dict(), f"evaluation/{metric_key(report.dataset)}.json"),
        datasets=datasets,
    )
    return tracker.summary()


def _evaluation_input(report: EvaluationReport, cfg: JobConfig, input_df: DataFrame):
    """The evaluated input table as an MLflow dataset input, at the version the evaluation read."""
    version = report.input.version
    dataset = table_dataset(
        input_df,
        name=f"{cfg.dataset}.input",
        path=cfg.input.path,
        table=cfg.input.table,
        fmt=cfg.input.format,
        version=version,
        targets=cfg.label_column,
        secrets=cfg.secrets,
    )
    return _dataset_input(dataset, EVALUATION_CONTEXT, {"imbalance_spark.delta_version": version})
