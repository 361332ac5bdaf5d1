"""The evaluation report, built in one place from the flow's typed pieces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from imbalance_spark import __version__
from imbalance_spark.common.dates import RunDates
from imbalance_spark.config.models import JobConfig
from imbalance_spark.evaluate.calibration import group_dimensions
from imbalance_spark.evaluate.features import FeatureSpec
from imbalance_spark.evaluate.holdout import HeldOut
from imbalance_spark.evaluate.report import (
    BootstrapInfo,
    CalibrationGroupsInfo,
    ClassCount,
    EvaluationReport,
    FeaturesInfo,
    InputInfo,
    NullsInfo,
    Recommendation,
    SplitInfo,
    SweepPoint,
    TestSide,
    TrainSide,
)
from imbalance_spark.profile import ClassProfile
from imbalance_spark.read import describe_input


@dataclass(frozen=True)
class Slices:
    """The held-out split with each slice's class profile and the classes the model predicts."""

    held: HeldOut
    train_profile: ClassProfile
    test_profile: ClassProfile
    positive_keys: tuple[str, ...]

    @property
    def test_positives(self) -> int:
        """Positive (minority) rows of the test slice."""
        return sum(c.count for c in self.test_profile.classes if c.key in self.positive_keys)


def class_table(profile: ClassProfile, positive_keys: Sequence[str]) -> dict[str, ClassCount]:
    """A slice's classes: role, rows and weighted total."""
    return {
        c.key: ClassCount("minority" if c.key in positive_keys else "majority", c.count, c.weight_sum)
        for c in profile.classes
    }


def _input_info(cfg: JobConfig, dates: RunDates | None, version: int | None) -> InputInfo:
    level = cfg.evaluate.storage_level
    return InputInfo(
        source=describe_input(cfg), version=version, run_dates=str(dates) if dates else None, read_once=True,
        storage_level=level,
        persisted=f"the input is read once and persisted ({level}) for the split, profiles and sweep",
    )


def _split_info(cfg: JobConfig, held: HeldOut) -> SplitInfo:
    split = cfg.evaluate.split
    return SplitInfo(
        by=held.by, test_from=held.test_from.isoformat() if held.test_from else None,
        test_fraction=split.test_fraction if held.by == "hash" else None, key_columns=tuple(split.key_columns),
        seed=split.seed, train_presample=held.presample,
    )


def _features_info(cfg: JobConfig, spec: FeatureSpec, held: HeldOut) -> FeaturesInfo:
    policy, null_rows = cfg.evaluate.nulls, held.null_rows
    nulls = NullsInfo(
        policy=policy, rows_with_nulls=null_rows, by_column=held.by_column,
        dropped=(null_rows["train"] + null_rows["test"]) if policy == "drop" else 0,
        how="rows dropped" if policy == "drop" else "numbers: train mean; strings: own category",
    )
    return FeaturesInfo(tuple(n for n, _ in spec.numeric), tuple(n for n, _ in spec.categorical), nulls)


def _bootstrap_info(cfg: JobConfig) -> BootstrapInfo:
    ev, keys = cfg.evaluate, list(cfg.evaluate.split.key_columns)
    return BootstrapInfo(
        replicates=ev.bootstrap_replicates, seed=ev.bootstrap_seed, score_bins=ev.score_bins,
        row_id=f"hash of the key {keys}" if keys else "hash of every input column",
        interval="95%: MLlib's relative PR-AUC difference to F = 1 +- 1.96 paired Poisson-bootstrap standard errors",
    )


def _groups_info(cfg: JobConfig) -> CalibrationGroupsInfo | None:
    date_column, segments = group_dimensions(cfg)
    if not date_column and not segments:
        return None
    return CalibrationGroupsInfo(date_column, tuple(segments), cfg.evaluate.max_segment_values)


def build_evaluation_report(
    *,
    cfg: JobConfig,
    dates: RunDates | None,
    input_version: int | None,
    spec: FeatureSpec,
    slices: Slices,
    factors: Sequence[float],
    configured: float | None,
    sweep: Sequence[SweepPoint],
    recommendation: Recommendation,
    notes: Sequence[str],
) -> EvaluationReport:
    """The report of one evaluation (without figures, timings or MLflow: the flow adds them)."""
    ev, test_rows = cfg.evaluate, slices.test_profile.rows
    reliability = configured if configured is not None else (recommendation.factor or factors[-1])
    return EvaluationReport(
        kind="evaluate", dataset=cfg.dataset, package_version=__version__, config_file=cfg.source_file,
        config_sha256=cfg.source_sha256,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        label_column=cfg.label_column, positive_classes=slices.positive_keys, model=ev.model,
        method=cfg.downsampling.method, seed=cfg.downsampling.seed, weight_column=cfg.weight.column,
        input=_input_info(cfg, dates, input_version), split=_split_info(cfg, slices.held),
        features=_features_info(cfg, spec, slices.held),
        train=TrainSide(slices.train_profile.rows, class_table(slices.train_profile, slices.positive_keys)),
        test=TestSide(test_rows, slices.test_positives,
                      slices.test_positives / test_rows if test_rows else None,
                      class_table(slices.test_profile, slices.positive_keys)),
        factors=tuple(factors), configured_factor=configured, reliability_factor=reliability,
        tolerance=ev.tolerance, calibration_tolerance=ev.calibration_tolerance, bins=ev.bins,
        bootstrap=_bootstrap_info(cfg), sweep=tuple(sweep), recommendation=recommendation, notes=tuple(notes),
        calibration_groups=_groups_info(cfg),
    )
