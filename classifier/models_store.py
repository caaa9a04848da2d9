"""Model directories on disk: written atomically, verified when loaded.

A model directory holds `model.joblib`, `card.json` (which records the artefact's SHA-256 and the
library versions it was built with) and `report/`. A directory is complete or absent: it is
built under a temporary name beside its destination and renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import joblib

MODEL_FILE, CARD_FILE, REPORT_DIR = "model.joblib", "card.json", "report"
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "PySastrawi")


class ModelError(RuntimeError):
    """A model directory that cannot be served: missing, corrupt, tampered with, or incompatible."""


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_dir(model, card: dict, out: Path | str, write_extras=None) -> Path:
    """Write model, card and extras (a callable given the temporary directory) to `out` atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        joblib.dump(model, tmp / MODEL_FILE, compress=3)
        if write_extras:
            write_extras(tmp)
        card = {**card, "artefact": {"file": MODEL_FILE, "sha256": sha256(tmp / MODEL_FILE)},
                "libraries": library_versions()}
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def read_card(directory: Path | str) -> dict:
    path = Path(directory) / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{directory}: no {CARD_FILE}; not a model directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: unreadable card ({error})") from None


def load_model(directory: Path | str):
    """Load and verify a model directory; return (model, card). Raises ModelError with the reason."""
    directory = Path(directory)
    card = read_card(directory)
    artefact = directory / MODEL_FILE
    if not artefact.is_file():
        raise ModelError(f"{directory}: no {MODEL_FILE}")
    expected = card.get("artefact", {}).get("sha256")
    if expected != sha256(artefact):
        raise ModelError(f"{artefact}: checksum does not match {CARD_FILE}; the file is corrupt or was replaced")
    built_with = card.get("libraries", {}).get("scikit-learn")
    installed = library_versions()["scikit-learn"]
    if built_with != installed:
        raise ModelError(f"{directory}: built with scikit-learn {built_with}, this process has {installed}; "
                         "retrain the model with the installed version")
    try:
        model = joblib.load(artefact)
    except Exception as error:  # a corrupt pickle can raise nearly anything
        raise ModelError(f"{artefact}: cannot be loaded ({type(error).__name__}: {error})") from None
    return model, card


class ServedModel:
    """A loaded model with its card and the version it is known by."""

    def __init__(self, model, card: dict, path: Path):
        self.model, self.card, self.path = model, card, Path(path)
        self.version = card.get("version") or card["artefact"]["sha256"][:12]


class ModelHolder:
    """The model a process serves. Loading is eager, so a broken model stops start-up with its reason."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self._served = ServedModel(*load_model(self.directory), self.directory)

    def current(self) -> ServedModel:
        return self._served
