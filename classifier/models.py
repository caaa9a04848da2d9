"""Model versions for the data team: `python -m classifier.models COMMAND` (models root: --models-dir).

  list                      versions with their key figures; * marks the promoted one
  promote VERSION|latest    serve VERSION (latest: the newest trained), if it is not worse than the serving model on the fixed
                            evaluation set (--eval-data, --tolerance); --force skips the gate
  rollback                  serve again the version promoted before the current one

Train a new version with `python -m classifier.train --data data/labelled --models-dir models`.
A running service switches to a newly promoted version within LAKSA_MODEL_POLL_SECONDS.
"""
from __future__ import annotations

import argparse
import sys

from .cli import fail, print_table
from .config import ROOT
from .dataset import load_labelled
from .errors import DataError
from .models_store import ModelError, list_versions, load_model, promote, promoted_version, rollback
from .report import compare, evaluate

EVAL_DATA = ROOT / "data" / "evaluation"


def list_command(root: str) -> int:
    current = promoted_version(root)
    rows = []
    for version, card in list_versions(root):
        validation = card.get("validation", {}).get("opd", {})
        rows.append(["*" if version == current else "", version, card.get("created_at", ""),
                     card.get("data", {}).get("rows", ""), validation.get("accuracy"), validation.get("macro_f1"),
                     validation.get("auto_route_coverage"), validation.get("auto_route_precision")])
    if not rows:
        print(f"no model versions under {root}")
        return 0
    print_table(["", "version", "created", "rows", "opd acc (valid)", "opd macro-F1", "auto-route cov",
                 "auto-route prec"], rows)
    return 0


def promote_command(root: str, version: str, eval_data: str, tolerance: float, force: bool) -> int:
    version = version.rstrip("/")  # as a shell completes a folder name
    if version == "latest":
        versions = list_versions(root)
        if not versions:
            raise ModelError(f"{root}: no trained version to promote")
        version = versions[-1][0]
    serving_version = promoted_version(root)
    if serving_version and serving_version != version and not force:
        candidate, _ = load_model(f"{root}/{version}")
        serving, _ = load_model(f"{root}/{serving_version}")
        frame = load_labelled(eval_data, require_labels=())  # as classifier.evaluate reads it
        frame = frame[frame["opd"] != ""]  # the gate compares OPD figures
        if frame.empty:
            raise DataError("no row has an OPD to compare the models on", file=eval_data)
        passed, rows = compare(evaluate(candidate, frame), evaluate(serving, frame), tolerance)
        print(f"Evaluation set: {eval_data} ({len(frame)} rows); tolerance {tolerance}")
        print_table(["figure", f"serving {serving_version}", f"candidate {version}", "change", "gate"], rows)
        if not passed:
            print(f"error: {version} is worse than {serving_version} beyond the tolerance; not promoted "
                  "(--force to promote anyway)", file=sys.stderr)
            return 3
    promote(root, version, note="forced" if force else "")  # refuses a version that does not load
    print(f"promoted {version} (was {serving_version or 'none'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.models", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--models-dir", default=str(ROOT / "models"), help="models root (default: models/)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list")
    promote_parser = commands.add_parser("promote")
    promote_parser.add_argument("version")
    promote_parser.add_argument("--eval-data", default=str(EVAL_DATA), help="fixed evaluation set (CSV or folder)")
    promote_parser.add_argument("--tolerance", type=float, default=0.01,
                                help="largest allowed loss of OPD macro-F1, auto-route coverage or precision")
    promote_parser.add_argument("--force", action="store_true", help="promote without the gate")
    commands.add_parser("rollback")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return list_command(args.models_dir)
        if args.command == "promote":
            return promote_command(args.models_dir, args.version, args.eval_data, args.tolerance, args.force)
        print(f"rolled back to {rollback(args.models_dir)}")
        return 0
    except (ModelError, DataError) as error:
        return fail(error)


if __name__ == "__main__":
    sys.exit(main())
