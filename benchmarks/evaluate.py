"""Benchmark: how long `imbalance-spark evaluate` (the F sweep) takes on the demo table, per stage and per F.

    .venv/bin/python -m benchmarks.evaluate                        # the demo: 2M rows, 30 days, 0.5% fraud
    .venv/bin/python -m benchmarks.evaluate --rows 10M             # a larger generated table
    .venv/bin/python -m benchmarks.evaluate --rows 1M --factors 1,10,50,100           # the issue #23 target table
    .venv/bin/python -m benchmarks.evaluate --rows 1M --factors 1,10,50,100 --model xgboost --name 1M-xgboost
    .venv/bin/python -m benchmarks.evaluate --rows 1M --factors 1,10,50,100 --before old.json  # side by side
    .venv/bin/python -m benchmarks.evaluate --from-report data/demo/reports/evaluate/evaluate.json --load 17,15

Generates the input (Delta, partitioned by event_date, like `imbalance-spark demo`) once per size
under benchmarks/results/tmp/, runs the evaluation with conf/datasets/demo_fraud.yaml's `evaluate:`
section in one local[2] Spark process, and writes ``<out>/evaluate-<rows>.json`` and ``.md``. The
machine's load average is recorded before and after: on a shared machine the times are inflated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR
from imbalance_spark.config.load import load_config
from imbalance_spark.packages import DEMO_CONFIG_FILE, conf_file


def _rows(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1_000}K"


def bench(rows: int, factors: list[float] | None, out: Path, master: str, model: str = "logistic") -> dict:
    """Generate (or reuse) the table, run the evaluation, return the timings."""
    from delta.tables import DeltaTable

    from imbalance_spark.flows.evaluate import evaluate_job
    from imbalance_spark.session import build_spark_session
    from imbalance_spark.synthetic import write_demo_table

    spark = build_spark_session(master=master, app_name="imbalance-spark evaluate benchmark")
    table = RESULTS_DIR / "tmp" / f"evaluate-{_label(rows)}" / "transactions"
    try:
        t0 = time.perf_counter()
        if not DeltaTable.isDeltaTable(spark, str(table)):
            write_demo_table(spark, str(table), rows=rows)
        generate_s = time.perf_counter() - t0
        cfg = load_config(conf_file(DEMO_CONFIG_FILE))
        ev = cfg.evaluate.model_copy(update={"output_dir": str(table.parent / "evaluate"), "model": model})
        cfg = cfg.model_copy(update={"input": cfg.input.model_copy(update={"path": str(table)}), "evaluate": ev})
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        report = evaluate_job(spark, cfg, factors=factors, figures=False).to_dict()
        total = time.perf_counter() - t0
        load_after = os.getloadavg()
    finally:
        spark.stop()
    return summarize(report, rows, master, load_before, load_after, generate_s, total)


def summarize(report: dict, rows: int, master: str, load_before, load_after, generate_s=None, total=None) -> dict:
    """The benchmark result from an evaluation report (its own stage and fit timings)."""
    return {
        "rows": rows,
        "label": _label(rows),
        "generate_s": round(generate_s, 1) if generate_s is not None else None,
        "evaluate_s": round(total if total is not None else report["duration_s"], 1),
        "stages_s": report["stages_s"],
        "train_rows": report["train"]["rows"],
        "test_rows": report["test"]["rows"],
        "test_positives": report["test"]["positives"],
        "model": report.get("model", "logistic"),
        "per_factor": [
            {
                "factor": s["factor"],
                "train_rows": s["train_rows"],
                "sample_mb": round(s["sample_bytes"] / 1e6, 2),
                "train_s": {k: round(v["train_seconds"], 1) for k, v in s["variants"].items()},
                "iterations": {k: v["iterations"] for k, v in s["variants"].items()},
                "pr_auc_weighted": s["variants"]["weighted"]["pr_auc"],
                "roc_auc_weighted": s["variants"]["weighted"]["roc_auc"],
                "steps_s": s.get("stages_s", {}),
            }
            for s in report["sweep"]
        ],
        "recommendation": report["recommendation"]["factor"],
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in load_after],
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}",
        "master": master,
        "run_at": report.get("created_at") or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _steps(p: dict) -> dict[str, float]:
    """One F's seconds by kind of work: sample, fits, scoring (every variant), bootstrap, other."""
    st = p.get("steps_s") or {}
    fit = st.get("fit_weighted", 0.0) + st.get("fit_unweighted", 0.0)
    score = sum(v for k, v in st.items() if k.startswith("score_"))
    return {"sample": st.get("sample", 0.0), "fit": fit, "score": score, "bootstrap": st.get("bootstrap", 0.0),
            "other": st.get("other", 0.0)}


def render(result: dict, before: dict | None = None) -> str:
    """A markdown table of one benchmark result (and, with ``before``, the two side by side)."""
    lines = [
        f"# `imbalance-spark evaluate` on the demo table, {result['label']} rows,"
        f" model {result.get('model', 'logistic')}",
        "",
        f"{result['train_rows']:,} train rows, {result['test_rows']:,} held-out test rows"
        f" ({result['test_positives']:,} positives); Spark `{result['master']}`, default driver memory.",
        f"Total: **{result['evaluate_s']:.0f} s** (stages: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in result["stages_s"].items())
        + ").",
        "",
        "| F | train rows | sample MB (Delta) | fit s (weighted / unweighted) | iterations | PR-AUC (weighted)"
        " | sample s | score s | bootstrap s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in result["per_factor"]:
        st = _steps(p)
        lines.append(
            f"| {p['factor']:g} | {p['train_rows']:,} | {p['sample_mb']:.1f} |"
            f" {p['train_s']['weighted']:.1f} / {p['train_s']['unweighted']:.1f} |"
            f" {p['iterations']['weighted']} | {p['pr_auc_weighted']:.4f} |"
            f" {st['sample']:.1f} | {st['score']:.1f} | {st['bootstrap']:.1f} |"
        )
    if result.get("cli_wall_s") is not None:
        lines += ["", f"The same evaluation through the CLI (`python -m imbalance_spark.cli evaluate`), measured from"
                  f" outside (process start to exit, the JVM's start included): **{result['cli_wall_s']:.0f} s**."]
    if before is not None:
        lines += ["", *_side_by_side(before, result)]
    before_load, after_load = result["load_average_before"][0], result["load_average_after"][0]
    machine = (
        f"Machine: {result['machine']}; run {result['run_at']};"
        f" load average {before_load:.1f} before, {after_load:.1f} after."
    )
    if before_load > (os.cpu_count() or 2) + 1:  # the run itself keeps the cores busy
        machine += (
            " **The machine was shared**: other processes were running, so these times are inflated;"
            " compare the ratios between factors, not the absolute seconds."
        )
    else:
        machine += " No other Spark job ran during the run (the shared lock was held)."
    lines += ["", machine]
    return "\n".join(lines) + "\n"


def _side_by_side(before: dict, after: dict) -> list[str]:
    """Before and after, per kind of work summed over the factors, with the ratio."""
    def kinds(result: dict) -> dict[str, float]:
        total: dict[str, float] = {}
        for p in result["per_factor"]:
            for k, v in _steps(p).items():
                total[k] = total.get(k, 0.0) + v
        outside = {k: v for k, v in result["stages_s"].items() if k != "sweep"}
        cli = {"CLI, from outside": result["cli_wall_s"]} if result.get("cli_wall_s") is not None else {}
        return {**cli, "evaluate (total)": result["evaluate_s"], **{f"sweep: {k}": v for k, v in total.items()},
                **outside}

    b, a = kinds(before), kinds(after)
    lines = [f"Before ({before['run_at']}) and after, same table and factors:", "",
             "| seconds | before | after | after / before |", "|---|---:|---:|---:|"]
    for k in a:
        if k in b:
            ratio = f"{a[k] / b[k]:.2f}" if b[k] else "-"
            lines.append(f"| {k} | {b[k]:.1f} | {a[k]:.1f} | {ratio} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run (or, with --from-report, summarize) the evaluation benchmark; write its JSON and markdown."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="2M", help="rows of the generated table (2M, 10M, ...)")
    p.add_argument("--factors", default=None, help="override evaluate.factors, e.g. 1,10,100")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--out", default=str(RESULTS_DIR))
    p.add_argument(
        "--from-report",
        help="summarize an existing evaluate.json (e.g. of `imbalance-spark evaluate` on the demo) instead of running",
    )
    p.add_argument("--load", help="with --from-report: the load averages seen before,after the run, e.g. 17.4,15.0")
    p.add_argument("--model", default="logistic", choices=["logistic", "gbt", "xgboost"], help="evaluate.model")
    p.add_argument("--name", help="results name (evaluate-<name>.json/.md); default the row label")
    p.add_argument("--before", help="an earlier result JSON of the same table and factors, shown side by side")
    p.add_argument("--cli-wall", type=float, help="the CLI run's wall seconds measured from outside, recorded beside")
    p.add_argument("--rerender", help="re-render a result JSON (with --before, --cli-wall) instead of running")
    args = p.parse_args(argv)
    factors = [float(x) for x in args.factors.split(",")] if args.factors else None
    if args.rerender:
        result = json.loads(Path(args.rerender).read_text())
        result.pop("before", None)
    elif args.from_report:
        report = json.loads(Path(args.from_report).read_text())
        before, after = (float(x) for x in (args.load or "nan,nan").split(","))
        rows = report["train"]["rows"] + report["test"]["rows"]
        result = summarize(report, rows, args.master, [before], [after])
    else:
        result = bench(_rows(args.rows), factors, Path(args.out), args.master, args.model)
    before = json.loads(Path(args.before).read_text()) if args.before else None
    if before is not None:
        result["before"] = before
    if args.cli_wall is not None:
        result["cli_wall_s"] = args.cli_wall
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or result["label"]
    (out / f"evaluate-{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"evaluate-{name}.md").write_text(render(result, before))
    print(render(result, before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
