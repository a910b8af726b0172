"""Tests for dlnet.plots and dlnet.tables: every figure is a readable PNG, edge cases draw, tables sort."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from dlnet import plots, tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, *, min_width=400, min_height=300):
    """The file is a PNG that matplotlib reads back as an RGB(A) image of a sensible size."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = mpimg.imread(path)
    height, width, channels = img.shape
    assert width >= min_width and height >= min_height
    assert channels in (3, 4)
    assert img.std() > 0  # something was drawn
    assert not list(path.parent.glob(f".{path.name}.*")), "temporary file left behind"
    return img


# --------------------------------------------------------------------------- loss curve


def test_loss_curve_train_and_val(tmp_path):
    epochs = list(range(1, 51))
    train = [1.0 / e for e in epochs]
    val = [1.2 / e for e in epochs]
    out = plots.loss_curve(epochs, train, val, tmp_path / "loss.png", title="lr=0.07 h=15 full")
    assert out == tmp_path / "loss.png"
    img = assert_png(out)
    assert img.shape[:2] == (540, 840)  # 7 x 4.5 in at 120 dpi


def test_loss_curve_without_validation(tmp_path):
    out = plots.loss_curve([1, 2, 3], [0.7, 0.5, 0.4], None, tmp_path / "loss.png")
    assert_png(out)


def test_loss_curve_log_scale_drops_non_finite_and_non_positive(tmp_path):
    epochs = [1, 2, 3, 4, 5]
    train = [0.7, 0.3, float("nan"), 0.0, 0.05]
    val = [0.8, float("inf"), 0.4, 0.2, None]
    out = plots.loss_curve(epochs, train, val, tmp_path / "sub" / "loss.png", log_scale=True)
    assert_png(out)


def test_loss_curve_all_nan_still_writes(tmp_path):
    out = plots.loss_curve([1, 2], [float("nan")] * 2, [float("nan")] * 2, tmp_path / "l.png", log_scale=True)
    assert_png(out)


def test_loss_curve_length_mismatch_raises(tmp_path):
    with pytest.raises(ValueError):
        plots.loss_curve([1, 2, 3], [0.5, 0.4], None, tmp_path / "l.png")
    assert not list(tmp_path.iterdir())


def test_loss_curve_overwrites_existing_file(tmp_path):
    target = tmp_path / "loss.png"
    target.write_bytes(b"old")
    plots.loss_curve([1, 2], [0.5, 0.4], [0.6, 0.5], target)
    assert_png(target)


# --------------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_plot(tmp_path):
    out = plots.confusion_matrix_plot(np.array([[85, 3], [2, 47]]), tmp_path / "cm.png", title="test")
    assert_png(out, min_width=300)


def test_confusion_matrix_plot_empty_row_and_labels(tmp_path):
    out = plots.confusion_matrix_plot([[0, 0], [5, 10]], tmp_path / "cm.png", labels=("neg", "pos"))
    assert_png(out, min_width=300)


def test_confusion_matrix_plot_wrong_shape_raises(tmp_path):
    with pytest.raises(ValueError):
        plots.confusion_matrix_plot([[1, 2, 3]], tmp_path / "cm.png")


# --------------------------------------------------------------------------- overlay


def _curve(name, values, status="FINISHED"):
    return {"name": name, "epochs": list(range(1, len(values) + 1)), "val_loss": values, "status": status}


def test_overlay_with_failed_run_nan_and_empty_curve(tmp_path):
    curves = [
        _curve("lr=0.01 h=15 full", [0.7, 0.5, 0.4, 0.35]),
        _curve("lr=0.07 h=15 mini", [0.6, 0.3, float("nan"), 0.2]),
        _curve("lr=3 h=15 stochastic", [0.7, 5.0, float("inf"), float("nan")], status="FAILED"),
        _curve("empty", []),
        _curve("all nan", [float("nan")] * 3, status="FAILED"),
    ]
    out = plots.sweep_val_loss_overlay(curves, tmp_path / "overlay.png", title="sweep")
    assert_png(out)


def test_overlay_thirty_runs_puts_legend_outside(tmp_path):
    rng = np.random.default_rng(0)
    curves = [
        _curve(
            f"lr={lr} h={h} {b}",
            list(np.exp(-np.linspace(0, 3, 40) * lr * 10) + rng.random() * 0.1),
            status="FAILED" if lr == 0.3 and b == "stochastic" else "FINISHED",
        )
        for lr in (0.01, 0.07, 0.3)
        for h in (5, 15)
        for b in ("full", "mini", "stochastic", "x", "y")
    ]
    assert len(curves) == 30
    out = plots.sweep_val_loss_overlay(curves, tmp_path / "overlay.png", log_scale=False)
    img = assert_png(out)
    assert img.shape[1] > 840  # widened for the legend


def test_overlay_no_curves(tmp_path):
    assert_png(plots.sweep_val_loss_overlay([], tmp_path / "overlay.png"))


def test_overlay_single_point_curve(tmp_path):
    assert_png(plots.sweep_val_loss_overlay([_curve("one", [0.5])], tmp_path / "overlay.png"))


# --------------------------------------------------------------------------- heatmaps


def _row(lr, h, batch, acc):
    return {"optim.lr": lr, "model.hidden_units": h, "batch.name": batch, "val/accuracy": acc}


def test_heatmaps_three_strategies_missing_cell_and_nan(tmp_path):
    rows = [
        _row(lr, h, b, 0.9 + 0.01 * i)
        for i, (lr, h, b) in enumerate(
            (lr, h, b) for b in ("stochastic", "full", "mini") for lr in (0.01, 0.07, 0.3) for h in (5, 15, 30)
        )
    ]
    rows = [
        r for r in rows if not (r["batch.name"] == "mini" and r["optim.lr"] == 0.3 and r["model.hidden_units"] == 5)
    ]
    rows.append(_row(1.0, 15, "stochastic", float("nan")))  # a diverged run
    rows.append({"optim.lr": 1.0, "model.hidden_units": 30, "batch.name": "stochastic"})  # metric missing
    out = plots.sweep_accuracy_heatmaps(rows, tmp_path / "heat.png")
    assert_png(out)


def test_heatmaps_one_strategy_duplicates_and_string_params(tmp_path):
    rows = [
        _row("0.07", "15", "full", 0.95),
        _row("0.07", "15", "full", 0.97),  # same cell, another seed: best is shown
        _row("0.01", "15", "full", 0.93),
        {**_row("0.3", "5", "full", None), "test/accuracy": 0.5},
    ]
    out = plots.sweep_accuracy_heatmaps(rows, tmp_path / "heat.png", metric="val/accuracy", title="one")
    assert_png(out)


def test_heatmaps_other_metric_all_missing(tmp_path):
    rows = [_row(0.01, 5, "mini", 0.9), _row(0.07, 5, "custom", 0.8)]
    assert_png(plots.sweep_accuracy_heatmaps(rows, tmp_path / "heat.png", metric="test/f1"))


def test_heatmaps_no_rows(tmp_path):
    assert_png(plots.sweep_accuracy_heatmaps([], tmp_path / "heat.png"))


def test_batch_order():
    assert plots._batch_order(["zeta", "stochastic", "full", "alpha"]) == ["full", "stochastic", "alpha", "zeta"]


# --------------------------------------------------------------------------- tables


def _result(run, val, test=0.9, seconds=1.23456, status="FINISHED", **extra):
    return {
        "run": run,
        "optim.lr": 0.07,
        "model.hidden_units": 15,
        "batch.name": "mini",
        "batch.size": 32,
        "epochs": 100,
        "val/accuracy": val,
        "test/accuracy": test,
        "time/train_seconds": seconds,
        "status": status,
        **extra,
    }


def test_results_table_sorting_and_content(tmp_path):
    rows = [
        _result("mid", 0.95123),
        _result("failed", float("nan"), test=None, status="FAILED"),
        _result("best", 0.99451, run_id="abc"),
        _result("missing", None, status="FAILED"),
        _result("worst", 0.5, seconds=None),
    ]
    csv_path, md_path = tables.results_table(rows, tmp_path / "out" / "results.csv", tmp_path / "out" / "results.md")
    assert csv_path == tmp_path / "out" / "results.csv" and md_path == tmp_path / "out" / "results.md"

    df = pd.read_csv(csv_path)
    assert list(df["run"]) == ["best", "mid", "worst", "failed", "missing"]
    # val/loss is shown only when the rows have it
    assert list(df.columns[:10]) == [c for c in tables.RESULT_COLUMNS if c != "val/loss"][:10]
    assert "run_id" in df.columns
    assert df["val/accuracy"].iloc[0] == pytest.approx(0.995)
    assert df["time/train_seconds"].iloc[0] == pytest.approx(1.23)
    assert df["val/accuracy"].iloc[3:].isna().all()
    assert df["epochs"].dtype.kind == "i"

    lines = md_path.read_text(encoding="utf-8").strip().splitlines()
    assert lines[0].startswith("| run | optim.lr |")
    assert set(lines[1]) <= set("|-: ")
    assert len(lines) == 2 + len(rows)
    assert "| best | 0.07 | 15 | mini | 32 | 100 | 0.995 | 0.900 | 1.23 | FINISHED | abc |" == lines[2]
    assert lines[-2].startswith("| failed |") and lines[-1].startswith("| missing |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_results_table_without_test_metrics_with_val_loss(tmp_path):
    rows = [{k: v for k, v in _result("a", 0.9, **{"val/loss": 0.12345}).items() if k != "test/accuracy"}]
    _, md_path = tables.results_table(rows, tmp_path / "r.csv", tmp_path / "r.md")
    header, _, line = md_path.read_text(encoding="utf-8").strip().splitlines()
    assert "test" not in header and "| val/accuracy | val/loss |" in header
    assert "| 0.900 | 0.1235 |" in line


def test_results_table_empty(tmp_path):
    csv_path, md_path = tables.results_table([], tmp_path / "r.csv", tmp_path / "r.md")
    assert pd.read_csv(csv_path).empty
    assert len(md_path.read_text(encoding="utf-8").strip().splitlines()) == 2


def test_markdown_table_formats_and_escapes():
    df = pd.DataFrame({"name": ["a|b", "c"], "x": [1.5, math.nan], "n": [1, 2]})
    text = tables.markdown_table(df, formats={"x": ".2f"})
    assert text.splitlines() == [
        "| name | x | n |",
        "|:---|---:|---:|",
        r"| a\|b | 1.50 | 1 |",
        "| c |  | 2 |",
    ]


# --------------------------------------------------------------------------- no pyplot


def test_plots_never_load_pyplot(tmp_path):
    """Importing dlnet.plots, and drawing with it, leaves matplotlib.pyplot unloaded."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dlnet import plots\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
        f"d = Path({str(tmp_path)!r})\n"
        "plots.loss_curve([1, 2], [0.5, 0.4], [0.6, 0.5], d / 'a.png', log_scale=True)\n"
        "plots.confusion_matrix_plot([[1, 2], [3, 4]], d / 'b.png')\n"
        "plots.sweep_val_loss_overlay(\n"
        "    [{'name': 'r', 'epochs': [1], 'val_loss': [0.3], 'status': 'FAILED'}], d / 'c.png')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]
    assert len(list(tmp_path.glob("*.png"))) == 3
