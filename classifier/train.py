"""Train a routing model: `python -m classifier.train --data PATH --out DIR`.

PATH is a CSV file or a folder of CSV files with columns id,text,category,opd,created_at (other
names can be mapped with --text-column and friends). The newest --valid-fraction of rows (by
created_at; random with --seed when dates are missing) calibrates the confidences and sets the
review thresholds, then the model is refitted on everything. DIR receives model.joblib, card.json
and report/, atomically.

--opd-only PATH adds complaints labelled only with their OPD, such as a city's archive filed in its
own categories: they need text and opd (any category column is not read); they teach the OPD head,
and the category head leaves them out.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
import warnings
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from .cli import add_column_options, column_map, fail, load_registry_option, reason
from .dataset import UNLABELLED, drop_duplicates, fingerprint, load_labelled, split
from .errors import DataError
from .model import HEADS, RareLabelWarning, RoutingModel
from .models_store import ModelError, check_replaceable, new_version, save_model_dir
from .report import write_report
from .text import TextConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifier.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="labelled CSV file or folder of CSV files")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="model directory to write")
    target.add_argument("--models-dir", help="models root: write a new version under it (see classifier.models)")
    parser.add_argument("--opd-only", action="append", default=[], metavar="PATH",
                        help="CSV file or folder of complaints labelled only with their OPD (repeatable)")
    parser.add_argument("--corrections", action="store_true",
                        help="also train on operators' confirmations and overrides stored in LAKSA_DATABASE_URL")
    parser.add_argument("--config", help="JSON file of RoutingModel parameters (see card.json 'params')")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random split when rows have no dates")
    parser.add_argument("--valid-fraction", type=fraction, default=0.15,
                        help="share held out for calibration, between 0 and 1 (default 0.15)")
    parser.add_argument("--target-precision", type=float, help="precision of auto-routed complaints (default 0.95)")
    parser.add_argument("--no-refit", action="store_true", help="keep the model fitted without the validation rows")
    add_column_options(parser)
    return parser


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def model_from_config(path: str | None, target_precision: float | None) -> RoutingModel:
    params = read_config(path) if path else {}
    if "text_config" in params:
        params["text_config"] = TextConfig(**params["text_config"])
    if target_precision is not None:
        params["target_precision"] = target_precision
    return RoutingModel(**params)


def read_config(path: str) -> dict:
    """--config's parameters; a file that is not JSON, or a key RoutingModel does not take, is named."""
    try:
        params = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"not a readable JSON file ({error})", file=path) from None
    if not isinstance(params, dict) or not isinstance(params.get("text_config", {}), dict):
        raise DataError("expected a JSON object like card.json's 'params'", file=path)
    known, known_text = inspect.signature(RoutingModel).parameters, {field.name for field in fields(TextConfig)}
    unknown = ([key for key in params if key not in known]
               + [f"text_config.{key}" for key in params.get("text_config", {}) if key not in known_text])
    if unknown:
        raise DataError(f"unknown parameter(s) {', '.join(unknown)}; card.json's 'params' lists the known ones",
                        file=path)
    return params


def fit_on_frame(model: RoutingModel, frame, valid_fraction: float = 0.15, seed: int = 0, label_names=None,
                 refit: bool = True, progress=None):
    """Split `frame` (newest rows for validation) and fit `model`; return (model, train_rows, valid_rows, kind)."""
    train_rows, valid_rows, split_kind = split(frame, valid_fraction, seed)
    model.fit(train_rows["text"], train_rows["category"], train_rows["opd"],
              valid=(valid_rows["text"], valid_rows["category"], valid_rows["opd"]),
              label_names=label_names, refit=refit, progress=progress)
    return model, train_rows, valid_rows, split_kind


def train(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    registry = load_registry_option(args)
    version = new_version()
    out = Path(args.out) if args.out else Path(args.models_dir) / version
    check_replaceable(out)  # before the work, not after it
    with tqdm(total=5, desc="training", unit="step", file=sys.stderr, disable=None) as bar:
        bar.set_postfix_str("load data")
        frame = load_labelled(args.data, column_map(args), registry)
        opd_only = [load_labelled(path, {**column_map(args), "category": None}, registry, require_labels=("opd",))
                    for path in args.opd_only]
        frame = pd.concat([frame, *opd_only], ignore_index=True)
        corrections = 0
        if args.corrections:
            frame, corrections = with_corrections(frame, registry)
        frame, duplicates = drop_duplicates(frame)
        bar.update()
        model = model_from_config(args.config, args.target_precision)
        names = ({"category": {c: v.name for c, v in registry.categories.items()},
                  "opd": {c: v.name for c, v in registry.opds.items()}} if registry else None)

        def progress(message: str) -> None:
            bar.set_postfix_str(message)
            bar.update()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RareLabelWarning)
            model, train_rows, valid_rows, split_kind = fit_on_frame(
                model, frame, args.valid_fraction, args.seed, names, not args.no_refit, progress)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        validation = model.validation_predictions_
        card = {
            "version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "data": {"path": str(args.data), "sha256": fingerprint(frame), "rows": len(frame),
                     "duplicates_removed": duplicates, "operator_corrections": corrections,
                     "opd_only_paths": [str(path) for path in args.opd_only],
                     "opd_only_rows": int((frame["category"] == UNLABELLED).sum()),
                     "split": split_kind, "train_rows": len(train_rows),
                     "validation_rows": len(valid_rows), "seed": args.seed,
                     "counts": {head: frame.loc[frame[head] != UNLABELLED, head].value_counts().to_dict()
                                for head in HEADS}},
            **model.describe(),
            "training_seconds": round(time.perf_counter() - started, 1),
        }
        bar.set_postfix_str("write")
        save_model_dir(model, card, out, lambda tmp: write_report(
            tmp / "report", validation["classes"], validation["probs"], validation["targets"], model.thresholds_))
        bar.update()
    card["path"] = str(out)
    return card


def with_corrections(frame, registry):
    """Add the operators' effective labels from the service database; they win over older labels."""
    from .config import load_config
    from .corrections import load_corrections

    try:
        corrections = load_corrections(load_config()["LAKSA_DATABASE_URL"], registry)
    except ValueError as error:  # a malformed LAKSA_* setting
        raise DataError(str(error)) from None
    except SQLAlchemyError as error:
        raise DataError(f"cannot read operators' corrections ({reason(error)}); is LAKSA_DATABASE_URL the service's "
                        "database, and are its migrations applied (python -m classifier.manage db-upgrade)?") from None
    return pd.concat([frame, corrections], ignore_index=True), len(corrections)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        card = train(args)
    except (DataError, ModelError) as error:
        return fail(error)
    summary = {head: {k: round(v, 4) for k, v in card["validation"][head].items() if isinstance(v, float)}
               for head in HEADS}
    print(f"model {card['version']} written to {card['path']} ({card['data']['rows']} rows, "
          f"{card['training_seconds']} s)")
    print(json.dumps({"validation": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
