"""`python -m bench [--smoke] [--out DIR] [--only training,scaling,...]`, or `--from-json FILE`.

Runs the sections, writes a JSON file of results and the markdown report. It exits 1 only when a
section could not run (an error; its traceback is in the JSON and the report), never because a
goal was missed. A full run without --out also writes the committed copies: BENCHMARKS.md at the
repository root and bench/latest.json. `--from-json bench/latest.json` measures nothing: it judges
the goals and writes BENCHMARKS.md again from stored results (after a change to the report's words).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import machine, report

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("training", "scaling", "tracking", "sweeps", "startup", "search", "scaling_out")
# A smoke run leaves out `search`: even at smoke size it runs six dlnet-train commands (a grid, two
# studies, two evaluation sweeps); `--smoke --only search` runs it alone.
SMOKE_SECTIONS = tuple(s for s in SECTIONS if s != "search")


def _run_section(name: str, smoke: bool, workspace) -> Any:
    if name == "training":
        from bench import training_loop

        return training_loop.run(smoke)
    if name == "scaling":
        from bench import scaling

        return scaling.run(smoke)
    if name == "tracking":
        from bench import tracking_overhead

        return tracking_overhead.run(workspace, smoke)
    if name == "sweeps":
        from bench import sweeps

        return sweeps.run(workspace, smoke)
    if name == "startup":
        from bench import startup

        return startup.run(workspace, smoke)
    if name == "scaling_out":
        from bench import scaling_out

        return scaling_out.run(workspace, smoke)
    if name == "search":
        from bench import search

        return search.run(workspace, smoke)
    raise ValueError(name)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and inf become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _clean(value.item())
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and repetitions: checks the suite runs")
    parser.add_argument("--out", type=Path, help="folder for the JSON and the markdown (default: bench/results)")
    parser.add_argument("--only", help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary project copies")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="JSON",
        help="measure nothing: judge the goals and write the markdown again from a results file",
    )
    args = parser.parse_args(argv)
    args.sections = list(SMOKE_SECTIONS if args.smoke else SECTIONS)
    if args.only:
        args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in args.sections if s not in SECTIONS]
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def rewrite_report(json_path: Path, out: Path | None) -> int:
    """The markdown (and the goals) again from stored results, e.g. after changing the report's wording."""
    results = json.loads(json_path.read_text())
    results["goals"] = _clean(report.goals(results))
    if out:
        out.mkdir(parents=True, exist_ok=True)
    md_path = (out / "BENCHMARKS.md") if out else REPO / "BENCHMARKS.md"
    md_path.write_text(report.markdown(results))
    if out is None and json_path.resolve() == (REPO / "bench" / "latest.json").resolve():
        json_path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    print(report.console_summary(results), file=sys.stderr)
    print(f"bench: wrote {md_path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return rewrite_report(args.from_json, args.out)
    from bench import peers
    from bench.project import Workspace

    peers.torch_module()  # so that the BLAS report lists PyTorch's thread pools too
    committed = not args.smoke and not args.only and args.out is None
    out_dir = args.out or REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "mode": "smoke" if args.smoke else "real",
        "machine": machine.describe(),
        "sections": {},
    }
    workspace = Workspace(keep=args.keep_temp)
    started = time.perf_counter()
    try:
        for name in args.sections:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                result = _run_section(name, args.smoke, workspace)
                results["sections"][name] = {"status": "ok", "seconds": time.perf_counter() - t0, "result": result}
            except Exception as error:
                results["sections"][name] = {
                    "status": "error",
                    "seconds": time.perf_counter() - t0,
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc(),
                }
                print(f"bench: {name} FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            else:
                print(f"bench: {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        workspace.close()
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_at_end"] = machine.load()
    results["goals"] = report.goals(results)
    results = _clean(results)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = out_dir / f"bench-{stamp}{'-smoke' if args.smoke else ''}.json"
    text = json.dumps(results, indent=1, allow_nan=False)
    json_path.write_text(text + "\n")
    markdown = report.markdown(results)
    md_path = out_dir / "BENCHMARKS.md"
    md_path.write_text(markdown)
    written = [json_path, md_path]
    if committed:
        (REPO / "bench" / "latest.json").write_text(text + "\n")
        (REPO / "BENCHMARKS.md").write_text(markdown)
        written += [REPO / "bench" / "latest.json", REPO / "BENCHMARKS.md"]
    print(report.console_summary(results), file=sys.stderr)
    print("bench: wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    failed = [name for name, s in results["sections"].items() if s["status"] != "ok"]
    if failed:
        print(f"bench: could not run {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
