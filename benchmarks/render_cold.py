"""Render a cold result (``python -m benchmarks.cold``): the markdown table and the chart, per table.

Whole processes, three tables: each command against the floor, and where each command's seconds go.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import size_label as _size

COLD_LABELS = {
    "startup": "(a) start-up: session with Delta, open the table, exit",
    "floor": "(b) floor: noop scan, tuned",
    "floor_quick": "(b') the floor, its JVM on the quick JIT only (`-XX:TieredStopAtLevel=1`)",
    "job_cli": "(c) **`imbalance-spark run`**",
    "job_cli_quick": "(c') **`imbalance-spark run`**, `spark.quick_start: true`",
    "job_submit": "(d) **`spark-submit jobs/downsample.py`** (`--jars`)",
    "job_submit_packages": "(d) spark-submit with `--packages` (Ivy resolves the jars)",
    "naive_spark": "naive Spark: count, filter/union/sample, write",
    "polars_eager": "Polars eager: read_delta, sample, write",
    "polars_streaming": "Polars lazy, streaming (hash sample)",
}
COLD_SHORT = {
    "startup": "start-up",
    "floor": "floor (noop scan)",
    "floor_quick": "floor, quick JIT",
    "job_cli": "imbalance-spark run",
    "job_cli_quick": "run, quick_start",
    "job_submit": "spark-submit --jars",
    "job_submit_packages": "spark-submit --packages",
    "naive_spark": "naive Spark",
    "polars_eager": "Polars eager",
    "polars_streaming": "Polars streaming",
}
OUTSIDE = "outside the run: Python, imports, JVM + session start, stop"
# what the others are compared with (no ratio of their own)
COLD_BASES = ("startup", "floor", "floor_quick")


def cold_pieces(name: str, s: dict) -> list[tuple[str, float]]:
    """Where one command's median wall time goes, from what it reported itself (keys kept generic)."""
    if s.get("status") != "ok":
        return []
    if "steps_s" in s:  # startup / floor: the user script's own steps
        return [("Python start + exit", s.get("python_start_exit_s_median", 0.0)), *s["steps_s"].items()]
    if "stages_s" in s:  # the job: its report's stages, and what the report does not see
        stages = [(f"stage: {k}", v) for k, v in s["stages_s"].items()]
        between = s["duration_s_median"] - sum(v for _, v in stages)
        return [(OUTSIDE, s["outside_run_s_median"]), *stages, ("in the run, between stages", between)]
    if "seconds_median" in s:
        return [("start-up + exit (outside its timing)", s["wall_s_median"] - s["seconds_median"]),
                ("its own timed work", s["seconds_median"])]
    return [("process", s["wall_s_median"])]


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _table_text(view: dict) -> str:
    t = view["table"]
    size = f"{t['columns']} columns, {t['bytes'] / 1e9:.2f} GB in {_files(t['files'])}"
    if view.get("run_date"):
        return (f"**daily**: one day ({view['run_date']}, {_size(t['slice_rows'])} rows, {_files(t['slice_files'])}) "
                f"of {_size(t['rows'])} rows over {t['days']} days, {size}")
    return f"**{view['view']}**: {_size(t['rows'])} rows, {size}"


def _cold_intro(results: dict) -> str:
    """How the commands were run: the first paragraph."""
    jars = next((v["jars"] for v in results["views"]), {})
    return (
        f"Cold, whole processes: each command is a new process, timed from outside; median of "
        f"{results['repeat']} interleaved repetitions (order rotated); factor {results['factor']}, "
        f"`{results['master']}`, input Delta partitioned by `event_date`, 0.5% positives. Every Spark command "
        f"gets the same {jars.get('cached_jars', '?')} cached Delta jars as `spark.jars` (no Ivy resolution, "
        "except the `--packages` row) and the same local tuning ("
        + ", ".join(f"`{k}={v}`" for k, v in results["settings"].items() if "shuffle" in k or "snapshot" in k)
        + "). The job writes a new output table, or with `--run-date` replaces the day in an existing one"
        + (" and appends to its history table" if results.get("history") else "")
        + ". **Net of start-up** = (command − start-up) / (floor − start-up)."
    )


def _command_row(first: str, name: str, s: dict, view: dict) -> str:
    """One command's row of the main table: its wall time, over the floor, net of start-up, memory."""
    label = COLD_LABELS.get(name, name)
    if name == "floor" and view.get("run_date"):
        label = "(b) floor: noop scan of the day (the job's date filter), tuned"
    if s.get("status") != "ok":
        return f"| {first} | {label} | failed | – | – | – |"
    job_like = name not in COLD_BASES
    over = f"{s['over_floor_s']:+.1f} s" if job_like and "over_floor_s" in s else "–"
    if "over_floor_quick_s" in s:
        over += f" ({s['over_floor_quick_s']:+.1f} s over (b'))"
    net = f"{s['net_ratio']:.2f}" if job_like and "net_ratio" in s else "–"
    return f"| {first} | {label} | {s['wall_s_median']:.1f} | {over} | {net} | {s['peak_rss_bytes'] / 2**30:.2f} |"


def _commands_table(results: dict) -> list[str]:
    """Every table's commands against its floor."""
    out = ["| table | command | process s | over the floor | net of start-up | peak RSS GiB |",
           "|---|---|---:|---:|---:|---:|"]
    for view in results["views"]:
        first = _table_text(view)
        for name, s in view["commands"].items():
            out.append(_command_row(first, name, s, view))
            first = ""
    return [*out, ""]


def _jar_cells(view: dict, ok: dict[str, dict]) -> list[str]:
    cells = []
    for n in ok:
        if n == "job_submit_packages":
            ivy = view["jars"].get("ivy_resolution_s")
            cells.append(f"Ivy, in the outside time: {ivy:+.1f} vs `--jars`" if ivy is not None else "Ivy")
        else:
            cells.append("0 (cached)")
    return cells


def _where_the_seconds_go(view: dict) -> list[str]:
    """One table's commands split into their pieces (one column per command)."""
    ok = {n: s for n, s in view["commands"].items() if s.get("status") == "ok"}
    if not ok:
        return []
    pieces = {n: dict(cold_pieces(n, s)) for n, s in ok.items()}
    rows = list(dict.fromkeys(k for p in pieces.values() for k in p))
    what = f"one {_size(view['rows_read'])}-row day" if view.get("run_date") else f"{_size(view['rows_read'])} rows"
    out = [f"**Where the seconds go: {view['view']} ({what}; median seconds)**", "",
           "| | " + " | ".join(COLD_SHORT.get(n, n) for n in ok) + " |",
           "|---|" + "---:|" * len(ok),
           "| jar resolution | " + " | ".join(_jar_cells(view, ok)) + " |"]
    for r in rows:
        cells = [f"{pieces[n][r]:.2f}" if r in pieces[n] else "" for n in ok]
        out.append(f"| {r} | " + " | ".join(cells) + " |")
    out.append("| **process wall time** | " + " | ".join(f"**{s['wall_s_median']:.2f}**" for s in ok.values()) + " |")
    return [*out, ""]


def _cold_machine(results: dict) -> str:
    m = results["machine"]
    vers = m["versions"]
    return (
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_bytes'] / 2**30:.0f} GiB RAM, {m['os']}; load average "
        f"{', '.join(f'{x:.1f}' for x in m.get('load_avg_at_start', []))} at the start"
        + (f", {', '.join(f'{x:.1f}' for x in m['load_avg_at_end'])} at the end" if m.get("load_avg_at_end") else "")
        + f". pyspark {vers.get('pyspark')}, delta-spark {vers.get('delta-spark')}, {vers.get('java')}, Python "
        f"{vers.get('python')}, Polars {vers.get('polars')}. Run {results['started_at']}, work tree at "
        f"{m.get('git_commit')}" + (" with uncommitted library changes" if m.get("library_modified") else "") + "."
        + (f" Commands ran {results['parallel']} at a time (`--parallel`, a smoke run): their times are not"
           " comparable." if results.get("parallel", 1) > 1 else "")
    )


def cold_markdown(results: dict) -> str:
    """The cold view: each command against the floor, and where each command's seconds go."""
    out = [_cold_intro(results), "", *_commands_table(results)]
    for view in results["views"]:
        out += _where_the_seconds_go(view)
    out += [_cold_machine(results), ""]
    return "\n".join(out)


def cold_chart(results: dict, path: Path) -> None:
    """One panel per table: each command's wall time split into its pieces; floor and start-up marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = results["views"]
    width = max(12.0, 7.0 * len(views))
    fig, axes = plt.subplots(1, len(views), figsize=(width, 5.5), squeeze=False)
    names = list(dict.fromkeys(k for v in views for n, s in v["commands"].items() for k, _ in cold_pieces(n, s)))
    cmap = plt.get_cmap("tab20")
    color = {k: cmap(i % 20) for i, k in enumerate(names)}
    seen: set[str] = set()
    for ax, view in zip(axes[0], views, strict=True):
        cmds = [n for n, s in view["commands"].items() if s.get("status") == "ok"]
        for y, n in enumerate(cmds):
            left = 0.0
            for piece, secs in cold_pieces(n, view["commands"][n]):
                secs = max(secs, 0.0)
                ax.barh(y, secs, left=left, color=color[piece], label=None if piece in seen else piece)
                seen.add(piece)
                left += secs
            s = view["commands"][n]
            note = f" {s['wall_s_median']:.1f} s"
            if "net_ratio" in s and n not in COLD_BASES:
                note += f" ({s['net_ratio']:.2f}× net, {s['over_floor_s']:+.1f} s"
                quick = s.get("over_floor_quick_s")
                note += f"; {quick:+.1f} s over the quick floor)" if quick is not None else ")"
            ax.text(left, y, note, va="center", fontsize=8)
        for n, style in (("startup", ":"), ("floor", "--")):
            s = view["commands"].get(n, {})
            if s.get("status") == "ok":
                ax.axvline(s["wall_s_median"], color="k", ls=style, lw=0.8)
        ax.set_yticks(range(len(cmds)))
        ax.set_yticklabels([COLD_SHORT.get(n, n) for n in cmds])
        ax.invert_yaxis()
        what = (f"one {_size(view['rows_read'])}-row day of {view['table']['days']}" if view.get("run_date")
                else f"{_size(view['rows_read'])} rows")
        ax.set_title(f"{view['view']}: {what}, {view['table']['columns']} columns")
        ax.set_xlabel("process wall time, s (dotted: start-up, dashed: floor)")
        ax.set_xlim(0, max((s["wall_s_median"] for s in view["commands"].values() if s.get("status") == "ok"),
                           default=1) * 1.45)
        ax.grid(axis="x", alpha=0.3)
    ncol = max(2, int(width // 5))
    fig.legend(loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    m = results["machine"]
    fig.suptitle(f"imbalance-spark, cold whole processes: {m['cores']} cores, Spark {results['master']}, "
                 f"factor {results['factor']}, median of {results['repeat']}\n{results['started_at']}")
    fig.tight_layout(rect=(0, 0.04 + 0.035 * -(-len(names) // ncol), 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render_cold(results: dict, out_dir: Path, name: str) -> None:
    """Write ``<name>.md`` and ``<name>.png`` of a cold run next to ``<name>.json``."""
    (out_dir / f"{name}.md").write_text(cold_markdown(results))
    cold_chart(results, out_dir / f"{name}.png")

