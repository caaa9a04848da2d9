"""Route a CSV of complaints: `python -m classifier.predict --model DIR --data PATH --out OUT.csv`.

Writes one row per input row, in input order: id, category, category_confidence, opd, opd_name,
opd_confidence, needs_review, alternatives and reasons (both JSON). Without --out, routes the texts
given with --text and prints JSON.
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from .cli import add_column_options, column_map, fail
from .dataset import load_labelled
from .errors import DataError
from .models_store import ModelError, load_model, resolve_model_dir


def prediction_rows(ids, predictions) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": id_, "category": p.category.label, "category_confidence": p.category.confidence,
        "opd": p.opd.label, "opd_name": p.opd.name, "opd_confidence": p.opd.confidence,
        "needs_review": p.needs_review,
        "alternatives": json.dumps({"category": p.category.alternatives, "opd": p.opd.alternatives}, ensure_ascii=False),
        "reasons": json.dumps(p.reasons, ensure_ascii=False)} for id_, p in zip(ids, predictions)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory, or a models root (its promoted version)")
    parser.add_argument("--data", help="CSV file or folder with at least a text column")
    parser.add_argument("--out", help="CSV file to write")
    parser.add_argument("--text", action="append", default=[], help="a complaint to route (repeatable)")
    add_column_options(parser)
    args = parser.parse_args(argv)
    if bool(args.data) == bool(args.text) or (args.data and not args.out):
        parser.error("give either --data PATH --out OUT.csv, or one or more --text")
    try:
        model, card = load_model(resolve_model_dir(args.model))
        if args.text:
            for text, prediction in zip(args.text, model.predict(args.text)):
                print(json.dumps({"text": text, **prediction.to_dict()}, ensure_ascii=False, indent=2))
            return 0
        frame = load_labelled(args.data, column_map(args), registry=None, require_labels=())
    except (DataError, ModelError) as error:
        return fail(error)
    prediction_rows(frame["id"], model.predict(frame["text"])).to_csv(args.out, index=False)
    print(f"{len(frame)} rows routed to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
