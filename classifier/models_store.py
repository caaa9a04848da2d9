"""Model directories on disk: written atomically, verified when loaded.

A model directory holds `model.joblib`, `card.json` (which records the artefact's SHA-256 and the
library versions it was built with) and `report/`. A directory is complete or absent: it is
built under a temporary name beside its destination and renamed into place.
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import joblib

MODEL_FILE, CARD_FILE, REPORT_DIR = "model.joblib", "card.json", "report"
LOG = logging.getLogger(__name__)
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


def check_replaceable(out: Path | str) -> None:
    """Refuse an `out` whose replacement would lose work or switch the service ungated: anything but an
    absent or empty folder or a model directory, and the version its models root serves."""
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not (out / CARD_FILE).is_file():
        raise ModelError(f"{out} exists and is not a model directory (a models root? then use --models-dir); "
                         "nothing was replaced")
    if promoted_version(out.parent) == out.name:
        raise ModelError(f"{out} is the version {out.parent} serves; train into a new directory and promote it")


def save_model_dir(model, card: dict, out: Path | str, write_extras=None) -> Path:
    """Write model, card and extras (a callable given the temporary directory) to `out` atomically."""
    out = Path(out)
    check_replaceable(out)
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


# ------------------------------------------------------------------ versions under a models root
# models/<version>/ holds one model directory per training run; models/PROMOTED names the one
# the service serves; models/HISTORY.jsonl records every promotion, so a rollback knows where to go.
PROMOTED_FILE, HISTORY_FILE = "PROMOTED", "HISTORY.jsonl"


def new_version() -> str:
    """A sortable, unique version id: UTC time of training plus a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


def list_versions(root: Path | str) -> list[tuple[str, dict]]:
    """(version, card) of every complete model directory under `root`, oldest first by training time
    (a folder copied in by hand under another name keeps its place)."""
    root = Path(root)
    versions = []
    for path in root.iterdir() if root.is_dir() else []:
        if path.is_dir() and not path.name.startswith(".") and (path / CARD_FILE).is_file():
            try:
                versions.append((path.name, read_card(path)))
            except ModelError:
                continue
    return sorted(versions, key=lambda version: (str(version[1].get("created_at", "")), version[0]))


def promoted_version(root: Path | str) -> str | None:
    try:
        return (Path(root) / PROMOTED_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def promote(root: Path | str, version: str, note: str = "") -> None:
    """Make `version` the served model (after checking it loads) and record it in the history."""
    root = Path(root)
    load_model(root / version)  # refuse a model the service would refuse
    previous = promoted_version(root)
    _write_atomically(root / PROMOTED_FILE, version + "\n")
    entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "version": version,
             "previous": previous, "note": note}
    with open(root / HISTORY_FILE, "a", encoding="utf-8") as history:
        history.write(json.dumps(entry) + "\n")


ROLLBACK_NOTE = "rollback from "


def rollback(root: Path | str) -> str:
    """Promote again the version promoted before the current one; return it.

    Repeated rollbacks walk back through the promotions (C, then B, then A), not to and fro.
    """
    root = Path(root)
    current = promoted_version(root)
    served = _promotions_in_force(root)
    if served and served[-1] == current:
        served.pop()
    if not served:
        raise ModelError(f"{root}: no version was promoted before {current or 'none'} "
                         f"(see {HISTORY_FILE}); nothing to roll back to")
    promote(root, served[-1], note=f"{ROLLBACK_NOTE}{current}")
    return served[-1]


def _promotions_in_force(root: Path) -> list[str]:
    """The promoted versions, oldest first, less those a later rollback undid."""
    try:
        lines = (root / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    served: list[str] = []
    for entry in map(json.loads, filter(str.strip, lines)):  # a blank line (an editor's) is not an entry
        if entry.get("note", "").startswith(ROLLBACK_NOTE):  # undoes the promotions after its version
            while served and served[-1] != entry["version"]:
                served.pop()
        if not served or served[-1] != entry["version"]:
            served.append(entry["version"])
    return served


def resolve_model_dir(path: Path | str) -> Path:
    """A model directory itself, or the promoted version of a models root."""
    path = Path(path)
    if (path / CARD_FILE).is_file():
        return path
    version = promoted_version(path)
    if version is None:
        raise ModelError(f"{path}: neither a model directory nor a models root with a {PROMOTED_FILE} file; "
                         "train one with `make model`")
    return path / version


class ServedModel:
    """A loaded model with its card and the version it is known by."""

    def __init__(self, model, card: dict, path: Path):
        self.model, self.card, self.path = model, card, Path(path)
        self.version = card.get("version") or card["artefact"]["sha256"][:12]
        model.warm_up()  # before it serves (and, preloaded, before gunicorn forks its workers)


class ModelHolder:
    """The model a process serves, switched without a restart when another version is promoted.

    Loading at start-up is eager, so a broken model stops start-up with its reason. Afterwards,
    at most every `poll_seconds` a request looks whether PROMOTED changed; the new version loads
    in a background thread while requests keep using the current one, and replaces it only once
    it has loaded and passed its checks. A version that fails is logged, and tried again only once
    its files change (a copy that was incomplete when PROMOTED arrived, as a synced volume delivers it).
    """

    def __init__(self, path: Path | str, poll_seconds: float = 2.0, on_switch=None):
        self.path, self.poll_seconds, self.on_switch = Path(path), poll_seconds, on_switch
        directory = resolve_model_dir(self.path)
        self._serve(ServedModel(*load_model(directory), directory))
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._loading = None
        self.refused: dict[str, tuple] = {}  # version -> its files' state when it was refused

    def current(self) -> ServedModel:
        self._maybe_switch()
        return self._served

    def _maybe_switch(self) -> None:
        now = time.monotonic()
        if now < self._next_check or not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = now + self.poll_seconds
            if self._loading is not None and self._loading.is_alive():
                return
            try:
                target = resolve_model_dir(self.path)
            except ModelError:
                return
            if target.name == self._served.path.name or self.refused.get(target.name) == _files_state(target):
                return
            self._loading = threading.Thread(target=self._load, args=(target,), daemon=True)
            self._loading.start()
        finally:
            self._lock.release()

    def _load(self, directory: Path) -> None:
        state = _files_state(directory)  # before loading: a copy still being written changes it after
        try:
            served = ServedModel(*load_model(directory), directory)
        except ModelError as error:
            self.refused[directory.name] = state
            LOG.error("refused model %s, keeping %s: %s", directory.name, self._served.version, error)
            return
        self._serve(served)
        if self.on_switch:
            self.on_switch(served)

    def _serve(self, served: ServedModel) -> None:
        self._served = served
        # The model's ~200k Python objects live as long as it is served: moved out of the garbage
        # collector's reach, they no longer make each full collection a 100 ms pause in some
        # request, and forked workers keep sharing their memory pages. The model served before was
        # frozen too: thawed first, it is collected (left frozen, each switch kept ~13 MiB more).
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def _files_state(directory: Path) -> tuple:
    """Size and modification time of a model directory's files (None for a missing one)."""
    state = []
    for name in (CARD_FILE, MODEL_FILE):
        try:
            stat = (directory / name).stat()
            state.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            state.append(None)
    return tuple(state)
