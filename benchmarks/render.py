"""Render benchmark results as a markdown snippet (for the README) and a PNG chart.

    .venv/bin/python -m benchmarks.render benchmarks/results/a.json [b.json ...] --name latest

A cold result (``python -m benchmarks.cold``) is rendered alone, by benchmarks/render_cold.py.

Several result files are merged by size; a variant measured again in a later file replaces the
earlier measurement (its ratio stays paired with the floor of its own run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import scaling
from benchmarks.common import size_label as _size

LABELS = {
    "floor_noop_scan": "(a) floor: scan all columns → noop",
    "job_library": "(b) **the job**, library call",
    "job_spark_submit": "(b) **the job**, spark-submit",
    "naive_spark": "(c) naive Spark: count, filter/union/sample",
    "pandas_imblearn": "(d) pandas + imbalanced-learn",
    "polars_eager": "(e) Polars eager",
    "polars_streaming": "(e) Polars lazy, streaming (hash sample)",
    "job_repartition": "candidate: job + repartition(event_date)",
    "job_optimize_write": "candidate: job + Delta optimizeWrite",
    "job_row_order_input": "reference: job with `output.row_order: input` (no mixing)",
    "job_max_records": "candidate: job with `output.max_records_per_file: 200000`",
    "job_hash": "candidate: job with `method: hash` (config)",
    "job_v1_create": "candidate: job, new table via df.write + ALTER, not writeTo.create",
    "job_sampleby_udf": "reference: job with DataFrame.sampleBy (Scala UDF per row)",
    "label_count": "diagnostic: label-only count",
    "sample_noop": "diagnostic: sampleBy + weight → noop",
    "sample_delta": "diagnostic: sampleBy + weight → partitioned Delta (df.write)",
    "sample_delta_flat": "diagnostic: sampleBy + weight → Delta, unpartitioned",
    "sample_parquet": "diagnostic: sampleBy + weight → partitioned Parquet",
}
SHORT = {
    "floor_noop_scan": "floor (noop scan)",
    "job_library": "job (library)",
    "job_spark_submit": "job (spark-submit)",
    "naive_spark": "naive Spark",
    "pandas_imblearn": "pandas+imblearn",
    "polars_eager": "Polars eager",
    "polars_streaming": "Polars streaming",
    "job_repartition": "job+repartition",
    "job_optimize_write": "job+optimizeWrite",
    "job_row_order_input": "job, input order",
    "job_max_records": "job+maxRecords",
    "job_hash": "job (method hash)",
    "job_v1_create": "job+df.write create",
    "job_sampleby_udf": "job+sampleBy UDF",
    "label_count": "label count",
    "sample_noop": "sample→noop",
    "sample_delta": "sample→Delta",
    "sample_delta_flat": "sample→Delta flat",
    "sample_parquet": "sample→Parquet",
}


def _cell_time(r: dict) -> str:
    if r.get("status") == "skipped":
        return "skipped¹"
    if r.get("status") == "not run":
        return "–"
    if r.get("status") != "ok":
        return "failed"
    ratio = r.get("ratio_to_floor")
    mark = "²" if "floor_s" in r else ""
    return f"{ratio:.2f}×{mark} ({r['seconds_median']:.1f} s)" if ratio is not None else f"{r['seconds_median']:.1f} s"


def _cell_mem(r: dict) -> str:
    if r.get("status") != "ok":
        return "–"
    return f"{r['peak_rss_bytes'] / 2**30:.2f}"


def _cell_rate(r: dict) -> str:
    if r.get("status") != "ok":
        return "–"
    return f"{r['rows_per_s'] / 1e6:.2g}"


def merge(results: list[dict]) -> dict:
    """Combine result files: sizes merged by row count, machine and settings from the last file."""
    merged = dict(results[-1])
    by_rows: dict[int, dict] = {}
    for res in results:
        for s in res["sizes"]:
            if s["rows"] not in by_rows:
                by_rows[s["rows"]] = {**s, "variants": dict(s["variants"])}
                continue
            # a variant measured again (with its own floor, in its own run) replaces the earlier one
            floor = s["variants"].get("floor_noop_scan", {}).get("seconds_median")
            for v, r in s["variants"].items():
                if v != "floor_noop_scan" and r.get("status") == "ok":
                    by_rows[s["rows"]]["variants"][v] = {**r, "from": res.get("started_at"), "floor_s": floor}
    merged["sizes"] = [by_rows[k] for k in sorted(by_rows)]
    variants: list[str] = []
    for res in results:
        variants += [v for v in res["variants"] if v not in variants]
    merged["variants"] = variants
    merged["commands"] = [r.get("command") for r in results]
    merged["scaling"] = scaling(merged["sizes"])
    return merged


def _intro(results: dict) -> str:
    """What was measured and how: the first paragraph."""
    return (
        f"Factor {results['factor']}, input Parquet partitioned by `event_date` "
        f"(0.5% positives, {results.get('days', 30)} days), "
        f"output partitioned by `event_date`; median of {results['repeat']} interleaved repetitions "
        f"({'per run, see the JSON for each size; ' if len(results.get('commands', [])) > 1 else ''}"
        "each variant in its own process). "
        "Time is the variant's own work (Spark session or interpreter "
        "already up; spark-submit: the job's reported duration"
        + ("; every in-process Spark variant is timed on its second run in its JVM, after an untimed "
           "run of the same variant on a 200,000-row input of the same schema, so JIT and code "
           "generation are warm; spark-submit and the single-machine engines are timed cold"
           if results.get("warmup") else "; each timed as the first run in its JVM, start-up costs included")
        + "); **×** is that time over the floor's, paired repetition by repetition."
    )


def _variant_tables(sizes: list[dict], variants: list[str]) -> list[str]:
    """Time over the floor, peak memory and throughput: one row per variant, one column per size."""
    head = "| variant | " + " | ".join(_size(s["rows"]) for s in sizes) + " |"
    sep = "|---|" + "---:|" * len(sizes)

    def table(cell) -> list[str]:
        lines = [head, sep]
        for v in variants:
            cells = [cell(s["variants"].get(v, {"status": "not run"})) for s in sizes]
            lines.append(f"| {LABELS.get(v, v)} | " + " | ".join(cells) + " |")
        return lines

    return [
        "**Time (× floor, median seconds)**", "", *table(_cell_time), "",
        "**Peak memory of the process tree (GiB RSS: Python + JVM + children)**", "", *table(_cell_mem), "",
        "**Throughput (million input rows/s)**", "", *table(_cell_rate), "",
    ]


def _footnotes(sizes: list[dict]) -> list[str]:
    """¹ why a variant was skipped; ² which ratios were measured in a later run, against its own floor."""
    out: list[str] = []
    skipped = {
        s["variants"][v]["note"]
        for s in sizes
        for v in s["variants"]
        if s["variants"][v].get("status") == "skipped"
    }
    if skipped:
        out += [f"¹ {'; '.join(sorted(skipped))}.", ""]
    separate = sorted({
        f"{_size(s['rows'])} {SHORT.get(v, v)} (floor {r['floor_s']:.1f} s)"
        for s in sizes for v, r in s["variants"].items() if r.get("floor_s")
    })
    if separate:
        out += ["² measured in a later run, paired with that run's own floor (the machine's load "
                "differed; compare these ratios, not the seconds): " + "; ".join(separate) + ".", ""]
    return out


def _stage_table(sizes: list[dict]) -> list[str]:
    """The library call's stages per size, beside its time, the floor's and the files it wrote."""
    stage_rows = []
    for s in sizes:
        job = s["variants"].get("job_library", {})
        floor = s["variants"].get("floor_noop_scan", {})
        if job.get("status") == "ok" and "stages_s" in job:
            stages = ", ".join(f"{k} {x:.1f} s" for k, x in job["stages_s"].items())
            files = job.get("files")
            stage_rows.append(
                f"| {_size(s['rows'])} | {stages} | {job['seconds_median']:.1f} s | "
                f"{job.get('floor_s') or floor.get('seconds_median', float('nan')):.1f} s | "
                f"{files if files is not None else '–'} |"
            )
    if not stage_rows:
        return []
    return ["**The job's stages (library call, median)**", "",
            "| rows | stages (`report[\"stages_s\"]`) | job | floor | files written |",
            "|---|---|---:|---:|---:|", *stage_rows, ""]


def _machine(results: dict) -> str:
    """The machine, the versions, when, and which library."""
    m = results["machine"]
    vers = m["versions"]
    return (
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_bytes'] / 2**30:.0f} GiB RAM, {m['os']}; "
        f"Spark on `local[2]` with default driver memory. "
        f"pyspark {vers.get('pyspark')}, delta-spark {vers.get('delta-spark')}, {vers.get('java')}, "
        f"Python {vers.get('python')}, pandas {vers.get('pandas')}, imbalanced-learn "
        f"{vers.get('imbalanced-learn')}, Polars {vers.get('polars')}, pyarrow {vers.get('pyarrow')}. "
        f"Run {results['started_at']}; library: "
        + (f"commit {results['library']}" if results.get("library", "worktree") != "worktree"
           else f"work tree at {m.get('git_commit')}"
           + (" with uncommitted changes" if m.get("library_modified") else ""))
        + "."
    )


def markdown(results: dict) -> str:
    """The README snippet: time as a ratio to the floor, memory, rows/s, job stages, machine."""
    sizes = results["sizes"]
    variants = [v for v in results["variants"] if any(v in s["variants"] for s in sizes)]
    out = [
        _intro(results), "",
        *_variant_tables(sizes, variants),
        *_footnotes(sizes),
        *_stage_table(sizes),
        *scaling_table(results),
        _machine(results), "",
    ]
    return "\n".join(out)


def scaling_table(results: dict) -> list[str]:
    """Per-row cost at each size, the cost of each further row size to size, and the linear fit."""
    scaling = results.get("scaling") or {}
    sizes = sorted({int(k) for d in scaling.values() for k in d["ns_per_row"]})
    if len(sizes) < 2:
        return []
    steps = [f"{a}-{b}" for a, b in zip(sizes, sizes[1:], strict=False)]
    head = ["variant", *[f"{_size(n)} ns/row" for n in sizes],
            *[f"{_size(int(s.split('-')[0]))}→{_size(int(s.split('-')[1]))} ns per further row" for s in steps],
            "fit: fixed s + ns/row"]
    rows = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for v in results["variants"]:
        d = scaling.get(v)
        if not d or len(d["ns_per_row"]) < 2:
            continue
        cells = [LABELS.get(v, v)]
        cells += [f"{d['ns_per_row'][str(n)]:.0f}" if str(n) in d["ns_per_row"] else "–" for n in sizes]
        cells += [f"{d.get('step_ns_per_row', {})[s]:.0f}" if s in d.get("step_ns_per_row", {}) else "–"
                  for s in steps]
        fit = d.get("fit")
        cells.append(f"{fit['fixed_s']:.1f} s + {fit['marginal_ns_per_row']:.0f} ns" if fit else "–")
        rows.append("| " + " | ".join(cells) + " |")
    return ["**Scaling: cost per input row (median seconds / rows)**", "", *rows, ""]


def chart(results: dict, path: Path) -> None:
    """Three panels: time over the floor, peak memory, and per-row cost against rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    variants = [v for v in results["variants"] if any(v in s["variants"] for s in sizes)]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    width = 0.8 / max(1, len(sizes))
    xs = range(len(variants))
    for i, s in enumerate(sizes):
        ratios = [s["variants"].get(v, {}).get("ratio_to_floor") or 0 for v in variants]
        mems = [s["variants"].get(v, {}).get("peak_rss_bytes", 0) / 2**30 for v in variants]
        off = [x + (i - (len(sizes) - 1) / 2) * width for x in xs]
        axes[0].bar(off, ratios, width, label=f"{_size(s['rows'])} rows")
        axes[1].bar(off, mems, width, label=f"{_size(s['rows'])} rows")
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].axhline(1.3, color="r", lw=0.8, ls="--", label="target for the job: 1.3× floor")
    axes[0].set_title(f"time / noop full scan (factor {results['factor']}; 0 = skipped)")
    axes[1].set_title("peak RSS of the process tree (GiB)")
    for ax in axes[:2]:
        ax.set_xticks(list(xs))
        ax.set_xticklabels([SHORT.get(v, v) for v in variants], rotation=35, ha="right")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for v in variants:
        pts = [(s["rows"], s["variants"][v]["ns_per_row"]) for s in sizes
               if s["variants"].get(v, {}).get("status") == "ok"]
        if pts:
            axes[2].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=SHORT.get(v, v))
    axes[2].set_xscale("log")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("input rows")
    axes[2].set_title("cost per input row (ns, median)")
    axes[2].legend(fontsize=8)
    axes[2].grid(alpha=0.3, which="both")
    m = results["machine"]
    fig.suptitle(f"imbalance-spark benchmark: {m['cores']} cores, {m['ram_bytes'] / 2**30:.0f} GiB, "
                 f"Spark local[2], {results['started_at']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render(results: dict, out_dir: Path, name: str) -> None:
    """Write ``<name>.md`` and ``<name>.png`` next to ``<name>.json``."""
    (out_dir / f"{name}.md").write_text(markdown(results))
    chart(results, out_dir / f"{name}.png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="result JSON files to merge")
    p.add_argument("--out", default=None, help="directory (default: the first file's)")
    p.add_argument("--name", default="latest")
    args = p.parse_args(argv)
    loaded = [json.loads(Path(f).read_text()) for f in args.results]
    out_dir = Path(args.out or Path(args.results[0]).parent)
    if loaded[0].get("kind") == "cold":  # benchmarks/cold.py: one run, rendered again
        if len(loaded) > 1:
            p.error("a cold result (benchmarks/cold.py) is rendered alone, not merged")
        (out_dir / f"{args.name}.json").write_text(json.dumps(loaded[0], indent=1, default=str))
        from benchmarks.render_cold import render_cold

        render_cold(loaded[0], out_dir, args.name)
        print((out_dir / f"{args.name}.md").read_text())
        return 0
    merged = merge(loaded)
    (out_dir / f"{args.name}.json").write_text(json.dumps(merged, indent=1, default=str))
    render(merged, out_dir, args.name)
    print((out_dir / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
