"""The micro-batches of an incremental run: what each one did, and their sum as one plan for the report.

Plain Python over the batch plans and the stream's progress; no Spark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from imbalance_spark.plan import ClassPlan, SamplingPlan, binomial_sigma, check_guards, degree_of_imbalance
from imbalance_spark.tables.commits import StreamOffset, parse_offset


@dataclass(frozen=True)
class BatchResult:
    """One micro-batch: its plan, whether Delta had committed it already (a replay), and what it read."""

    batch_id: int
    plan: SamplingPlan
    null_labels: int
    replayed: bool
    input_version: int | None
    date_span: tuple[dt.date, dt.date] | None
    output_version: int | None


def batch_guard_problems(plan: SamplingPlan, sigmas: float) -> list[str]:
    """The guards of one micro-batch: the batch run's, except that keeping no row of a downsampled class is fine
    when that is within the binomial bound (a batch of 10 rows at F = 20 keeps none more often than not)."""
    empty = [c for c in plan.classes if c.downsampled and c.predicted_kept == 0 and c.count > 0]
    rest = dataclasses.replace(plan, classes=tuple(c for c in plan.classes if c not in empty))
    problems = check_guards(rest, sigmas)
    for c in empty:
        sd = binomial_sigma(c.count, c.fraction)
        if c.expected_kept > sigmas * sd:
            problems.append(
                f"class {c.key} vanished: 0 of {c.count:,} rows kept (expected {c.expected_kept:,.1f},"
                f" sigma {sd:,.1f}); lower its factor"
            )
    return problems


def _sum_class(plans: Sequence[ClassPlan]) -> ClassPlan:
    """One class over several batches: counts, weights and kept counts added; the factor is the config's."""
    first = plans[0]
    return dataclasses.replace(
        first,
        count=sum(c.count for c in plans),
        weight_sum=sum(c.weight_sum for c in plans),
        predicted_kept=sum(c.predicted_kept or 0 for c in plans),
        predicted_kept_weight=sum(c.predicted_kept_weight or 0.0 for c in plans),
    )


def sum_plans(plans: Iterable[SamplingPlan]) -> SamplingPlan:
    """The batches' plans as one: each class summed (classes ordered as a batch run orders them)."""
    plans = list(plans)
    by_key: dict[str, list[ClassPlan]] = {}
    for plan in plans:
        for c in plan.classes:
            by_key.setdefault(c.key, []).append(c)
    classes = sorted((_sum_class(cs) for cs in by_key.values()), key=lambda c: (-c.count, c.key))
    rows = sum(c.count for c in classes)
    minority = sum(c.count for c in classes if c.role == "minority")
    seen = {c.key for c in classes}
    absent = sorted({k for p in plans for k in p.absent_classes} - seen)
    notes = [f"configured class(es) {absent} do not occur in the input"] if absent else []
    if rows and not minority:
        notes.append("no minority class occurs in the input")
    return SamplingPlan(
        classes=tuple(classes),
        minority_share=minority / rows if rows else 0.0,
        degree=degree_of_imbalance(minority, rows) if rows else "none",
        absent_classes=tuple(absent),
        notes=tuple(notes),
    )


def date_span(spans: Iterable[tuple[dt.date, dt.date] | None]) -> tuple[dt.date, dt.date] | None:
    """The first and last day over the batches' date spans (None: no date column, or no dated row)."""
    days = [s for s in spans if s is not None]
    return (min(s[0] for s in days), max(s[1] for s in days)) if days else None


def _offset(value: Any) -> StreamOffset | None:
    """A progress entry's offset: Spark gives JSON text (``"null"`` for none) or, elsewhere, a dict."""
    return parse_offset(value if value not in ("null", "") else None)


def input_versions(progress: Iterable[Any], batch_ids: set[int], start: int | None) -> tuple[int | None, int | None]:
    """The first and last input version the batches ``batch_ids`` read, from the query's progress.

    ``start``: the version a fresh stream began at (``startingVersion``), when its first batch has no start offset.
    """
    first = last = None
    for p in progress:
        if int(p["batchId"]) not in batch_ids or not p["sources"]:
            continue
        source = p["sources"][0]
        begin, end = _offset(source["startOffset"]), _offset(source["endOffset"])
        if end is None:
            continue
        low = begin.version if begin is not None else (start if start is not None else end.version)
        first = low if first is None else min(first, low)
        last = end.last_read if last is None else max(last, end.last_read)
    return first, last
