"""Plots shared by reports (matplotlib, headless Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["line_plot"]


def line_plot(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    out_stem: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    target: float | None = None,
    logx: bool = False,
    bands: Sequence[np.ndarray | None] | None = None,
) -> list[Path]:
    """Draw ``(label, x, y)`` lines on shared axes; write ``out_stem``.png and .svg atomically.

    ``bands[i]`` (same shape as series i's y, e.g. a standard deviation over seeds) shades
    y ± band around line i."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for i, (label, x, y) in enumerate(series):
        (line,) = ax.plot(x, y, label=label, linewidth=1.5)
        band = None if bands is None else bands[i]
        if band is not None:
            ax.fill_between(x, y - band, y + band, color=line.get_color(), alpha=0.2, lw=0)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = []
    for ext in ("png", "svg"):
        final = Path(f"{out_stem}.{ext}")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        fig.savefig(tmp, format=ext)
        os.replace(tmp, final)
        out.append(final)
    plt.close(fig)
    return out
