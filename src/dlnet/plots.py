"""Figures for single runs and for sweeps.

Every figure is drawn on a bare :class:`matplotlib.figure.Figure` with the Agg
canvas: no pyplot, no global state, no display. Each function writes its file
atomically (a temporary file in the same folder, then :func:`os.replace`), so a
reader never sees half a PNG, and returns the path it wrote.

Functions
---------
loss_curve               train / validation loss per epoch of one run
confusion_matrix_plot    annotated 2x2 (or n x n) confusion matrix
sweep_val_loss_overlay   validation loss curves of every run of a sweep
sweep_accuracy_heatmaps  a metric over learning rate x hidden units, per batch strategy

The tables of a sweep's runs are in dlnet.tables: a sweep's process that draws its figures in a
worker (dlnet.drawing) need not import matplotlib at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import color_sequences, colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from dlnet.data.atomic import write_atomically
from dlnet.tables import fmt_number

__all__ = [
    "loss_curve",
    "confusion_matrix_plot",
    "sweep_val_loss_overlay",
    "sweep_accuracy_heatmaps",
]

DPI = 120
FIGSIZE = (7.0, 4.5)  # inches; 840 x 540 pixels at DPI
LOSS_LABEL = "binary cross-entropy"
BATCH_ORDER = ("full", "mini", "stochastic")
MISSING_COLOUR = "0.85"  # light grey for cells without a value
# zlib's fastest level: encoding at the default level 6 took as long as drawing a run's plot;
# these flat-coloured figures come out about a third larger, still tens of KB.
_PNG_OPTIONS: dict[str, Any] = {"pil_kwargs": {"compress_level": 1}}

# Distinct curves for a sweep overlay: 10 colours x 3 line styles = 30 combinations.
# Dashed is kept for diverged runs, so it is not in the cycle.
_COLOURS = color_sequences["tab10"]
_STYLES = ("-", "-.", ":")


# --------------------------------------------------------------------------- helpers


def _new_figure(figsize: tuple[float, float] = FIGSIZE, margins: dict[str, float] | None = None) -> Figure:
    """A figure on the Agg canvas: with fixed `margins` (fractions of the figure), else laid out
    by the constrained layout engine. Every run draws two plots; fixed margins save ~40% of that."""
    fig = Figure(figsize=figsize, dpi=DPI, layout=None if margins else "constrained")
    if margins:
        fig.subplots_adjust(**margins)
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig: Figure, path: str | os.PathLike[str]) -> Path:
    return write_atomically(path, lambda fh: fig.savefig(fh, format="png", dpi=DPI, **_PNG_OPTIONS), "wb")


def _xy(x: Iterable[float], y: Iterable[float], *, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Paired arrays with the non-finite (and, if asked, non-positive) y values dropped."""
    x = np.asarray(list(x), dtype=float)
    y = np.asarray([np.nan if v is None else v for v in y], dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y lengths differ: {x.size} != {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return x[keep], y[keep]


class _PlainLogFormatter(LogFormatter):
    """Labels the ticks :class:`LogFormatter` would label, written plainly: 0.2, 0.05, 1e-05."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _log_y(ax) -> None:
    """Logarithmic y axis with plain tick labels rather than powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_PlainLogFormatter())
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _no_data(ax, message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")


def _is_failed(status: object) -> bool:
    return str(status).upper() == "FAILED"


def _text_colour(rgba: Sequence[float]) -> str:
    """Black or white, whichever reads better on ``rgba``."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


# --------------------------------------------------------------------------- one run


def loss_curve(
    epochs: Sequence[int],
    train_loss: Sequence[float],
    val_loss: Sequence[float] | None,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    log_scale: bool = False,
) -> Path:
    """Train (and validation) loss per epoch.

    ``epochs``, ``train_loss`` and ``val_loss`` are equal-length sequences;
    ``val_loss`` may be None. Non-finite values are dropped; with ``log_scale``
    non-positive values are dropped too and the y axis is logarithmic.
    """
    fig = _new_figure(margins={"left": 0.11, "right": 0.97, "bottom": 0.12, "top": 0.91})
    ax = fig.add_subplot()
    series = [("train", train_loss, "tab:blue")]
    if val_loss is not None:
        series.append(("validation", val_loss, "tab:orange"))
    plotted = False
    for label, values, colour in series:
        x, y = _xy(epochs, values, positive=log_scale)
        if x.size == 0:
            continue
        marker = "o" if x.size <= 30 else None
        ax.plot(x, y, label=label, color=colour, lw=1.6, marker=marker, ms=3)
        plotted = True
    if plotted:
        if log_scale:
            _log_y(ax)
        ax.legend(loc="best", frameon=False)
    else:
        _no_data(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(LOSS_LABEL + (" (log scale)" if log_scale else ""))
    ax.set_title(title or "Loss per epoch")
    ax.grid(True, which="major", alpha=0.3)
    return _save_png(fig, path)


def confusion_matrix_plot(
    cm: Sequence[Sequence[float]] | np.ndarray,
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] = ("benign", "malignant"),
    title: str = "",
) -> Path:
    """Confusion matrix as an annotated heatmap: rows are true classes, columns predicted.

    Each cell shows its count and, below it, its share of the true class (the row).
    """
    cm = np.asarray(cm, dtype=float)
    n = len(labels)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {n} labels")
    fig = _new_figure((5.5, 4.5), margins={"left": 0.2, "right": 0.98, "bottom": 0.13, "top": 0.91})
    ax = fig.add_subplot()
    cmap = colormaps["Blues"]
    vmax = cm.max() if cm.size and cm.max() > 0 else 1.0
    norm = Normalize(vmin=0.0, vmax=vmax)
    im = ax.imshow(cm, cmap=cmap, norm=norm)
    row_totals = cm.sum(axis=1)
    for i in range(n):
        for j in range(n):
            value = cm[i, j]
            count = f"{int(value)}" if float(value).is_integer() else f"{value:.3g}"
            share = f"\n({value / row_totals[i]:.1%})" if row_totals[i] > 0 else ""
            ax.text(j, i, count + share, ha="center", va="center", fontsize=11, color=_text_colour(cmap(norm(value))))
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    fig.colorbar(im, ax=ax, label="count", shrink=0.85)
    return _save_png(fig, path)


# --------------------------------------------------------------------------- sweeps


def sweep_val_loss_overlay(
    curves: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    log_scale: bool = True,
) -> Path:
    """Validation loss curves of many runs on one axes, labelled by run name.

    ``curves`` holds dicts ``{"name", "epochs", "val_loss", "status"}``. Curves
    without a finite point are skipped; failed (diverged) runs are dashed and
    labelled " (diverged)". Colours cycle through a qualitative palette and
    solid / dash-dot / dotted lines, so up to 30 runs stay distinguishable.
    """
    prepared = []
    for curve in curves:
        x, y = _xy(curve.get("epochs", ()), curve.get("val_loss", ()), positive=log_scale)
        if x.size:
            prepared.append((str(curve.get("name", "?")), _is_failed(curve.get("status")), x, y))

    n = len(prepared)
    outside = n > 6
    ncols = 1 if n <= 18 else 2
    longest = max((len(name) + (11 if failed else 0) for name, failed, _, _ in prepared), default=0)
    legend_width = ncols * (0.55 + 0.058 * longest) if outside else 0.0
    fig = _new_figure((FIGSIZE[0] + legend_width, FIGSIZE[1]))
    ax = fig.add_subplot()

    styles = cycle([(c, s) for s in _STYLES for c in _COLOURS])
    for name, failed, x, y in prepared:
        colour, style = next(styles)
        ax.plot(
            x,
            y,
            color=colour,
            ls="--" if failed else style,
            lw=1.3,
            marker="o" if x.size == 1 else None,
            ms=3,
            label=name + (" (diverged)" if failed else ""),
        )
    if n:
        if log_scale:
            _log_y(ax)
        if outside:
            fig.legend(loc="outside right upper", ncols=ncols, fontsize=7, frameon=False)
        else:
            ax.legend(loc="best", fontsize=8, frameon=False)
    else:
        _no_data(ax, "no validation loss recorded")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation " + LOSS_LABEL + (" (log scale)" if log_scale else ""))
    ax.set_title(title or f"Validation loss of {n} run{'s' if n != 1 else ''}")
    ax.grid(True, which="major", alpha=0.3)
    return _save_png(fig, path)


def _batch_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    known = [b for b in BATCH_ORDER if b in names]
    return known + sorted(names - set(known))


def sweep_accuracy_heatmaps(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    metric: str = "val/accuracy",
    title: str = "",
) -> Path:
    """One heatmap per batch strategy: hidden units (y) x learning rate (x) -> ``metric``.

    Rows need ``"optim.lr"``, ``"model.hidden_units"`` and ``"batch.name"``;
    ``metric`` may be missing or nan (a failed run), shown grey as "div". A
    combination with no run at all is grey with "—". When several runs share a
    cell (other keys were swept too) the best value is shown, and the title says so.
    All panels share one colour scale.
    """
    import pandas as pd

    keys = ["optim.lr", "model.hidden_units", "batch.name"]
    df = pd.DataFrame([{k: row.get(k) for k in [*keys, metric]} for row in rows], columns=[*keys, metric])
    df["optim.lr"] = pd.to_numeric(df["optim.lr"], errors="coerce")
    df["model.hidden_units"] = pd.to_numeric(df["model.hidden_units"], errors="coerce")
    df["batch.name"] = df["batch.name"].fillna("?").astype(str)
    df[metric] = pd.to_numeric(df[metric], errors="coerce")
    df = df.dropna(subset=["optim.lr", "model.hidden_units"])

    grouped = df.groupby(keys, sort=False)[metric]
    best = grouped.max()  # nan only when every run of the cell has no value
    shared = int(grouped.size().max()) if len(df) else 1

    batches = _batch_order(df["batch.name"]) or ["?"]
    lrs = sorted(df["optim.lr"].unique())
    hiddens = sorted(df["model.hidden_units"].unique())

    finite = best[np.isfinite(best.to_numpy(dtype=float))] if len(best) else best
    vmin, vmax = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 0.005, vmax + 0.005
    cmap = colormaps["viridis"].with_extremes(bad=MISSING_COLOUR)
    norm = Normalize(vmin=vmin, vmax=vmax)

    nb = len(batches)
    width = min(3.4 + 0.4 * max(len(lrs) - 3, 0), 6.0)
    fig = _new_figure((max(FIGSIZE[0], width * nb + 1.2), FIGSIZE[1]))
    axes = fig.subplots(1, nb, sharey=True, squeeze=False)[0]
    cell_font = 9 if len(lrs) * nb <= 12 else 7
    mappable = ScalarMappable(norm=norm, cmap=cmap)
    for ax, batch in zip(axes, batches, strict=True):
        if not lrs:
            _no_data(ax, "no runs")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        grid = np.full((len(hiddens), len(lrs)), np.nan)
        present = np.zeros_like(grid, dtype=bool)
        for (lr, hidden, b), value in best.items():
            if b != batch:
                continue
            i, j = hiddens.index(hidden), lrs.index(lr)
            grid[i, j], present[i, j] = value, True
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, origin="lower", aspect="auto")
        for i in range(len(hiddens)):
            for j in range(len(lrs)):
                value = grid[i, j]
                if np.isfinite(value):
                    text, colour = f"{value:.3f}", _text_colour(cmap(norm(value)))
                else:
                    text, colour = ("div" if present[i, j] else "—"), "0.3"
                ax.text(j, i, text, ha="center", va="center", fontsize=cell_font, color=colour)
        ax.set_xticks(range(len(lrs)), [fmt_number(v) for v in lrs])
        ax.set_yticks(range(len(hiddens)), [fmt_number(v) for v in hiddens])
        ax.set_xlabel("learning rate")
        ax.set_title(f"batch: {batch}")
    axes[0].set_ylabel("hidden units")
    fig.colorbar(mappable, ax=list(axes), label=metric, shrink=0.9)
    heading = title or f"{metric} by learning rate and hidden units"
    if shared > 1:
        heading += f"\n(best of up to {shared} runs per cell)"
    fig.suptitle(heading)
    return _save_png(fig, path)
