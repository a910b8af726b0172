"""`dlnet-runs`: look after the runs in a tracking store.

    dlnet-runs reap [--store URI] [--experiment dlnet]
    dlnet-runs sync FOLDER... [--store URI]

`reap` ends FAILED, with the reason, every run left RUNNING by a process that died without a
word (SIGKILL, a lost machine): on this host, a run whose process is gone; on any host, a
run whose heartbeat is older than 30 minutes. dlnet also does this each time a run starts
against a store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlnet import exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlnet-runs", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    reap = commands.add_parser("reap", help="end FAILED the runs whose process died")
    reap.add_argument("--store", help="tracking URI (default: the project's store)")
    reap.add_argument("--experiment", default="dlnet", help="the MLflow experiment (default: dlnet)")
    sync = commands.add_parser("sync", help="send runs saved while their store was down")
    sync.add_argument("folders", nargs="+", type=Path, metavar="FOLDER", help="a run's saved folder (…/run)")
    sync.add_argument("--store", help="tracking URI (default: the one the run was meant for)")
    args = parser.parse_args(argv)

    from dlnet import tracking
    from dlnet.lineage import project_root

    if args.command == "sync":
        return _sync(args.folders, args.store)
    uri = tracking.store_uri(project_root(), args.store)
    try:
        experiment_id = tracking.ensure_experiment(uri, args.experiment, reap=False)
        ended = tracking.reap_dead_runs(uri, experiment_id)
    except tracking.TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return exits.TRACKING_FAILED
    for run_id, reason in ended:
        print(f"ended run {run_id} FAILED: {reason}")
    print(f"{len(ended)} run(s) ended; the other RUNNING runs' processes are alive.")
    return exits.FINISHED


def _sync(folders: list[Path], store: str | None) -> int:
    from dlnet import results, tracking
    from dlnet.lineage import project_root

    for folder in folders:
        if not (folder / "run.json").is_file():
            print(f"error: {folder}: no run.json here; expected the folder of a saved run (…/run)", file=sys.stderr)
            return exits.BAD_INPUT
        uri = store or results.read_json(folder / "run.json").get("store") or tracking.store_uri(project_root())
        try:
            run_id = tracking.send_saved_run(uri, folder)
        except tracking.TrackingError as error:
            print(f"error: {error}", file=sys.stderr)
            return exits.TRACKING_FAILED
        print(f"sent {folder} to {uri}: run {run_id}")
    return exits.FINISHED


if __name__ == "__main__":
    sys.exit(main())
