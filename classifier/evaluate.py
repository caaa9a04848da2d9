"""Evaluate a model on labelled data: `python -m classifier.evaluate --model DIR --data PATH --json`.

Prints one JSON object {"n": N, "opd": {...}, "category": {...}}; each head has accuracy,
macro_f1, weighted_f1, top3_accuracy, ece, auto_route_coverage and auto_route_precision. Labels
the model never saw count as errors; a head whose column is empty in PATH is null.
"""
from __future__ import annotations

import argparse
import json
import sys

from .cli import add_column_options, column_map, fail
from .dataset import load_labelled
from .errors import DataError
from .models_store import ModelError, load_model, resolve_model_dir
from .report import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory, or a models root (its promoted version)")
    parser.add_argument("--data", required=True, help="labelled CSV file or folder")
    parser.add_argument("--json", action="store_true", help="print only the JSON object (default: indented)")
    add_column_options(parser)
    args = parser.parse_args(argv)
    try:
        model, _ = load_model(resolve_model_dir(args.model))
        frame = load_labelled(args.data, column_map(args), registry=None, require_labels=())
    except (DataError, ModelError) as error:
        return fail(error)
    result = evaluate(model, frame)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
