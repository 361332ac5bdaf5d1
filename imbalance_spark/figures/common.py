"""What every figure shares: a headless figure, saving it, number labels.
"""

from __future__ import annotations

import os
from pathlib import Path

DPI = 100


def _new_figure(size: tuple[float, float], layout: str | None = "constrained"):
    # Figure + its Agg canvas directly, not pyplot: no display, no global state between calls.
    # layout=None: the caller places the axes itself (constrained layout measures every text twice).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    # no bbox_inches="tight": the PNG keeps the size the figure was made with
    fig.savefig(tmp, format="png", dpi=DPI)
    os.replace(tmp, p)
    return p


def _count_label(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.4g}G"
    if n >= 1e6:
        return f"{n / 1e6:.4g}M"
    if n >= 1e4:
        return f"{n / 1e3:.4g}k"
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def _percent_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:.2%}" if v < 0.01 else f"{v:.0%}")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return str(path)
