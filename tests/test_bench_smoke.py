"""The benchmark suite keeps working: `python -m bench --smoke` writes its JSON and its report.

Tiny sizes, one or two repetitions: the numbers mean nothing, the suite's code paths are all run
(every section, a real sweep, a real `dvc repro`). The output goes to a temporary folder;
the committed BENCHMARKS.md and bench/latest.json are never touched.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = {"training", "scaling", "tracking", "sweeps", "startup", "scaling_out"}


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _run_smoke(out: Path) -> dict:
    committed = [(REPO / name) for name in ("BENCHMARKS.md", "bench/latest.json")]
    before = {path: path.read_bytes() if path.exists() else None for path in committed}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for path, content in before.items():
        assert (path.read_bytes() if path.exists() else None) == content, f"the smoke run changed {path.name}"
    (json_path,) = out.glob("bench-*-smoke.json")
    return json.loads(json_path.read_text())


def test_smoke_run_writes_every_section(tmp_path):
    results = _run_smoke(tmp_path)
    assert results["mode"] == "smoke"
    sections = results["sections"]
    assert set(sections) == SECTIONS
    assert {name: s["status"] for name, s in sections.items()} == {name: "ok" for name in SECTIONS}
    machine = results["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["versions"]["numpy"]

    # Training: every contender ran every epoch; full batch, being deterministic, ends in the same
    # place for dlnet, the floor, scikit-learn and PyTorch (the same algorithm from the same weights).
    cases = sections["training"]["result"]["cases"]
    assert {c["strategy"] for c in cases} == {"full", "mini", "stochastic"}
    for case in cases:
        contenders = case["contenders"]
        assert contenders["pytorch"]["status"] in ("ok", "not installed")
        ran = {name: r for name, r in contenders.items() if r["status"] == "ok"}
        assert {"dlnet", "floor", "scikit-learn"} <= set(ran)
        assert {"article", "compiled"} <= set(ran) or case["dataset"].startswith("synthetic")
        for name, record in ran.items():
            assert _positive(record["per_epoch_s"]["median"]), name
            assert record["epochs_run"] == case["epochs"], name
            assert 0.0 <= record["final"]["accuracy"] <= 1.0, name
        assert _positive(ran["dlnet"]["final"]["loss"]) and ran["dlnet"]["final"]["loss"] < 5
        if case["strategy"] == "full":
            reference = ran["dlnet"]["final"]["loss"]
            for name in ("compiled", "floor", "scikit-learn", "pytorch"):
                if name in ran:
                    assert math.isclose(ran[name]["final"]["loss"], reference, rel_tol=1e-7), name

    same = sections["training"]["result"]["same_numbers"]
    assert {(r["dtype"], r["strategy"]) for r in same} == {
        (d, s) for d in ("float64", "float32") for s in ("full", "mini", "stochastic")
    }
    assert all(0 <= r["loss"] < 1e-4 and 0 <= r["weights"] < 1e-4 for r in same)

    scaling = sections["scaling"]["result"]
    for point in scaling["rows"] + scaling["hidden"]:
        assert _positive(point["dlnet"]["per_epoch_s"]["median"]) and _positive(point["floor"]["per_epoch_s"]["median"])
        assert _positive(point["dlnet"]["memory"]["peak_rss"])

    for case in sections["tracking"]["result"]["cases"]:
        assert case["status"] == "FINISHED"
        assert _positive(case["whole_ratio"]) and _positive(case["per_point_s"]["median"])

    sweeps = sections["sweeps"]["result"]
    for launcher in sweeps["settings"]["launchers"]:
        (sweep,) = sweeps[launcher]["sweeps"]
        assert sweep["runs"] == sweeps["runs"] == sweep["finished"]
        assert _positive(sweep["wall_s"]) and _positive(sweep["train_sum_s"])

    startup = sections["startup"]["result"]
    assert _positive(startup["help"]["dlnet-train --help"]["median"])
    assert _positive(startup["repro"]["dvc repro (no-op)"]["median"])
    assert all(_positive(s["median"]) for s in startup["engines"].values()) and len(startup["engines"]) == 2

    assert results["goals"] and all(g["met"] in (True, False, None) for g in results["goals"])

    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    for title in (
        "## Machine",
        "## Goals",
        "## 1. Training loop",
        "## 2. Scaling",
        "## 3. Tracking overhead",
        "## 4. Sweeps",
        "## 5. Start-up",
    ):
        assert title in markdown
    assert "Could not run" not in markdown
