"""The class balance over time, from the history table.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imbalance_spark.common.files import write_json
from imbalance_spark.figures.common import _new_figure, _percent_formatter, _save

# Degree bands of the minority share (plan.degree_of_imbalance): extreme < 1% <= moderate < 20%
# <= mild <= 40% < none.
DEGREE_BANDS = (("extreme", 0.0, 0.01), ("moderate", 0.01, 0.20), ("mild", 0.20, 0.40), ("none", 0.40, 1.0))


_BAND_COLORS = {"extreme": "#d62728", "moderate": "#ff7f0e", "mild": "#bcbd22", "none": "#2ca02c"}


DRIFT_FIGURE_SIZE = (11.0, 5.5)  # 1100 x 550 pixels


# What the drift picture's x axis is: the runs' dates, or (a table without input.date_column) the day
# each run was recorded, or both.
X_RUN_DATE = "run date"
X_RECORDED = "day the run was recorded (the input has no date column)"
X_MIXED = "run date (runs without one: the day they were recorded)"


def _day(row: Mapping[str, Any]) -> tuple[dt.date, bool]:
    """The day a history row is plotted at, and whether it is the run's own date."""
    if row["run_date"] is not None:
        return row["run_date"], True
    recorded = row["recorded_at"]
    return (recorded.date() if isinstance(recorded, dt.datetime) else recorded), False


def _latest_runs(rows: Iterable[Mapping[str, Any]], dataset: str):
    """Per plotted day, its latest run (recorded_at, run_id, dated); and each run's rows by class."""
    latest: dict[dt.date, tuple[Any, str, bool]] = {}
    by_run: dict[str, dict[str, Mapping[str, Any]]] = {}
    for r in rows:
        if r["dataset"] != dataset:
            continue
        by_run.setdefault(r["run_id"], {})[r["class"]] = r
        day, dated = _day(r)
        if day not in latest or r["recorded_at"] > latest[day][0]:
            latest[day] = (r["recorded_at"], r["run_id"], dated)
    return latest, by_run


def drift_series(rows: Iterable[Mapping[str, Any]], dataset: str) -> dict[str, Any]:
    """The drift document from history rows: per run date (its latest run), each class's share and factor.

    A run without a date (the input has no date column) is placed at the day it was recorded;
    ``x_axis`` says which. Runs whose factor of any class differs from the previous plotted run
    are listed as ``factor_changes``.
    """
    latest, by_run = _latest_runs(rows, dataset)
    dates = sorted(latest)
    classes = sorted({c for d in dates for c in by_run[latest[d][1]]})
    runs = []
    for d in dates:
        run = by_run[latest[d][1]]
        first = next(iter(run.values()))
        runs.append(
            {
                "run_date": d.isoformat(),
                "run_end_date": first["run_end_date"].isoformat() if first.get("run_end_date") else d.isoformat(),
                "dated": latest[d][2],
                "run_id": latest[d][1],
                "degree": first["degree"],
                "shares": {c: run[c]["share"] if c in run else None for c in classes},
                "factors": {c: run[c]["factor"] if c in run else None for c in classes},
            }
        )
    dated = {r["dated"] for r in runs}
    x_axis = X_MIXED if len(dated) > 1 else X_RECORDED if dated == {False} else X_RUN_DATE
    changes = _changes(runs, classes)
    return {"dataset": dataset, "x_axis": x_axis, "classes": classes, "runs": runs, "factor_changes": changes}


def _changes(runs: list[dict[str, Any]], classes: list[str]) -> list[dict[str, Any]]:
    """The runs whose factor of a class differs from the previous plotted run's."""
    changes = []
    for prev, cur in zip(runs, runs[1:], strict=False):
        changed = {
            c: [prev["factors"][c], cur["factors"][c]]
            for c in classes
            if cur["factors"][c] is not None
            and prev["factors"][c] is not None
            and cur["factors"][c] != prev["factors"][c]
        }
        if changed:
            changes.append({"run_date": cur["run_date"], "run_id": cur["run_id"], "factors": changed})
    return changes


def plot_history(history_df, dataset: str, path: str | os.PathLike[str]) -> Path | None:
    """The drift picture of ``dataset`` from the history table, its numbers in a JSON beside it.

    None when the table holds no run of ``dataset``.
    """
    columns = ["dataset", "run_id", "run_date", "run_end_date", "class", "share", "degree", "factor", "recorded_at"]
    # The history table is itself an aggregate (one row per class per run): collecting it is cheap.
    rows = [r.asDict() for r in history_df.filter(history_df["dataset"] == dataset).select(*columns).collect()]
    if not rows:
        return None
    series = drift_series(rows, dataset)
    write_json(series, Path(path).with_suffix(".json"))
    return plot_class_drift(series, path)


def plot_class_drift(series: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Each class's share over the run dates (log scale) on the degree bands; factor changes marked."""
    return _save(drift_figure(series), path)


def drift_figure(series: Mapping[str, Any]):
    """The drift picture's matplotlib Figure (:func:`plot_class_drift` saves it)."""
    import matplotlib.dates as mdates

    runs = series["runs"]
    dates = [dt.date.fromisoformat(r["run_date"]) for r in runs]
    fig = _new_figure(DRIFT_FIGURE_SIZE)
    ax = fig.subplots()
    shares = [s for r in runs for s in r["shares"].values() if s]
    low = min([0.005, *shares]) / 2
    for name, lo, hi in DEGREE_BANDS:
        ax.axhspan(max(lo, low), hi, color=_BAND_COLORS[name], alpha=0.10, lw=0)
        ax.text(1.005, math.sqrt(max(lo, low) * hi), name, transform=ax.get_yaxis_transform(),
                va="center", fontsize=8, color=_BAND_COLORS[name])
    marker = "o" if len(runs) <= 60 else None
    for cls in series["classes"]:
        ys = [r["shares"][cls] if r["shares"][cls] else math.nan for r in runs]
        ax.plot(dates, ys, marker=marker, markersize=4, lw=1.5, label=f"class {cls}")
    for change in series["factor_changes"]:
        day = dt.date.fromisoformat(change["run_date"])
        ax.axvline(day, color="black", ls="--", lw=0.8, alpha=0.7)
        text = ", ".join(f"{c}: {a:g}->{b:g}" for c, (a, b) in change["factors"].items())
        ax.annotate(f"F {text}", (day, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=7, rotation=90, va="top")
    ax.set_yscale("log")
    # room above the largest share (a majority near 100%), so no point sits on the top border
    ax.set_ylim(low, max([1.0, *shares]) * 1.6)
    ax.yaxis.set_major_formatter(_percent_formatter())
    if (dates[-1] - dates[0]).days < 7:
        # a few days: one tick per day, not hours
        ax.set_xlim(dates[0] - dt.timedelta(days=1), dates[-1] + dt.timedelta(days=1))
        ax.xaxis.set_major_locator(mdates.DayLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    else:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("share of the run's rows (log scale)\nbands: degree, by the minority share")
    ax.set_xlabel(series.get("x_axis", X_RUN_DATE))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    span = f"{dates[0]}" if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    ax.set_title(
        f"{series['dataset']}: class share per {_per(series)} ({len(runs)} {_per(series)}(s), {span})"
        f" against the degree bands; dashed: factor changed",
        fontsize=11,
    )
    return fig


def _per(series: Mapping[str, Any]) -> str:
    """The title's word for the x axis."""
    x_axis = series.get("x_axis", X_RUN_DATE)
    return "run date" if x_axis == X_RUN_DATE else "recorded day" if x_axis == X_RECORDED else "run (or recorded) date"
