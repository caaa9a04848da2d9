"""Loading and validating labelled complaint CSVs; de-duplication; time and random splits."""
from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .registry import Registry
from .spreadsheet import unguard
from .text import mask_personal

COLUMNS = ("id", "text", "category", "opd", "created_at")
LABELS = ("category", "opd")
UNLABELLED = ""  # an empty label: the row does not carry it (e.g. OPD-only rows have no category)
CORRECTION_SOURCE = "corrections:"  # how the `source` of an operator's correction begins


def csv_files(path: Path | str) -> list[Path]:
    """A CSV file, or the CSV files directly inside a folder, in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.csv") if p.is_file())
        if not files:
            raise DataError("folder holds no .csv file", file=str(path))
        return files
    if not path.is_file():
        raise DataError("no such file or folder", file=str(path))
    return [path]


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte 0x{raw[error.start]:02x}); save the file as UTF-8",
                        file=str(path), row=line) from None
    header, *rows = _records(text, path)
    return pd.DataFrame(rows, columns=header, dtype=str)


def _records(text: str, path: Path) -> list[list[str]]:
    """The header and rows of a CSV text, read once. A row with more or fewer fields than the header is
    refused: pandas padded a short row with empty values, and read a comma at the end of every row as
    an index column that shifted the others."""
    records = (fields for fields in csv.reader(io.StringIO(text)) if fields)  # blank lines are not rows
    header = next(records, None)
    if header is None:
        raise DataError("empty file: no header row", file=str(path))
    if len(header) == 1 and ";" in header[0]:  # what a spreadsheet with Indonesian settings saves
        raise DataError("the header is separated by ';', not ','; save the file as comma-separated CSV",
                        file=str(path), row=1)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"column(s) {', '.join(repeated)} appear more than once in the header", file=str(path), row=1)
    out, row = [header], 1
    try:
        for row, fields in enumerate(records, start=2):
            if len(fields) != len(header):
                raise DataError(f"{len(fields)} fields where the header has {len(header)}", file=str(path), row=row)
            out.append(fields)
    except csv.Error as error:  # e.g. a line break inside a field that is not quoted
        raise DataError(f"not a readable CSV ({error}); quote fields that hold line breaks", file=str(path),
                        row=row + 1) from None
    return out


def load_labelled(path: Path | str, columns: dict[str, str] | None = None, registry: Registry | None = None,
                  require_labels: tuple[str, ...] = LABELS) -> pd.DataFrame:
    """Read and validate one CSV or a folder of them into columns id,text,category,opd,created_at.

    `columns` maps our column names to the file's (e.g. {"text": "isi_laporan"}); a name mapped to
    None is not read (left empty). Labels in `require_labels` must be present and non-empty; other
    label columns may be absent or empty (an evaluation file may carry only OPDs). With a registry,
    OPD and category codes must exist in it.
    Every row keeps `source` ("file:row") so that later errors can point at it.
    """
    columns = {name: (columns or {}).get(name, name) for name in COLUMNS}
    frames = {file: _validate(_read_csv(file), file, columns, registry, require_labels) for file in csv_files(path)}
    if not any(len(frame) for frame in frames.values()):
        raise DataError("no data rows", file=str(path))
    for file in (file for file, frame in frames.items() if frame.empty):  # e.g. an export of no corrections
        print(f"warning: file {file}: no data rows", file=sys.stderr)
    return pd.concat([frame for frame in frames.values() if len(frame)], ignore_index=True)


def _validate(frame: pd.DataFrame, file: Path, columns: dict[str, str], registry: Registry | None,
              require_labels: tuple[str, ...]) -> pd.DataFrame:
    required = ["text", *require_labels]
    missing = [columns[name] for name in required if columns[name] not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}",
                        file=str(file), row=1)
    out = pd.DataFrame({name: frame[source].str.strip() if source in frame.columns else ""
                        for name, source in columns.items()})
    out["text"] = out["text"].map(unguard)  # a text exported for spreadsheets, e.g. by export-corrections
    rows = np.arange(len(out)) + 2  # the header is row 1
    for name in required:
        empty = out[name] == ""
        if empty.any():
            raise DataError("empty value", file=str(file), row=int(rows[empty.to_numpy().argmax()]), column=columns[name])
    if registry is not None:
        for name, known in (("opd", registry.opds), ("category", registry.categories)):
            unknown = (out[name] != "") & ~out[name].isin(list(known))
            if unknown.any():
                index = int(unknown.to_numpy().argmax())
                raise DataError(f"{name} {out[name].iloc[index]!r} is not in the registry ({registry.directory})",
                                file=str(file), row=int(rows[index]), column=columns[name])
    out["created_at"] = _parse_times(out["created_at"], file, rows, columns["created_at"])
    if (out["id"] == "").all():
        out["id"] = [f"{file.stem}-{row}" for row in rows]
    out["source"] = [f"{file}:{row}" for row in rows]
    return out


def _parse_times(values: pd.Series, file: Path, rows: np.ndarray, column: str) -> pd.Series:
    # ISO 8601 only: other forms are ambiguous (is 05/07/2024 May or July?) and were read both ways in one column.
    parsed = pd.to_datetime(values.where(values != ""), errors="coerce", format="ISO8601", utc=True)
    bad = parsed.isna() & (values != "")
    if bad.any():
        index = int(bad.to_numpy().argmax())
        raise DataError(f"not an ISO 8601 date/time: {values.iloc[index]!r}; expected e.g. 2024-07-05 or "
                        "2024-07-05T08:30:00", file=str(file), row=int(rows[index]), column=column)
    return parsed


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one row per text (case and spacing ignored): the latest by created_at, then by position.

    Later labels win, so a correction made by an operator replaces an older label for the same text;
    a label the latest row lacks (an OPD-only row has no category) is the latest one an older row gave,
    except in an operator's correction, which judged both labels (its category may have been retired).
    Texts are compared masked, as the service stores them: a correction of a letter that holds a phone
    number is the same text as the labelled row it came from.
    """
    key = frame["text"].map(mask_personal).str.lower().str.split().str.join(" ")
    order = frame.assign(_key=key, _pos=np.arange(len(frame))).sort_values(["created_at", "_pos"], na_position="first")
    decided = order["source"].str.startswith(CORRECTION_SOURCE)
    for label in LABELS:
        given = order[label].mask(order[label] == UNLABELLED)
        order[label] = given.groupby(order["_key"]).ffill().fillna(UNLABELLED).where(~decided, order[label])
    kept = order.drop_duplicates("_key", keep="last").sort_values("_pos").drop(columns=["_key", "_pos"])
    return kept.reset_index(drop=True), len(frame) - len(kept)


def split(frame: pd.DataFrame, valid_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Hold out the latest `valid_fraction` by created_at, or a seeded random share when there are no dates.

    Rows without a category (OPD-only rows) are held out in that share apart from the others, so
    that both heads have validation rows whichever kind of row is newer; each kind is split by time
    when all its rows are dated (an undated archive leaves the labelled rows' split by time). The
    kind of split is "time", "random", or for mixed kinds e.g. "time; OPD-only rows: random".
    """
    parts, kinds = [], {}
    for opd_only, group in frame.groupby(frame["category"] == UNLABELLED, sort=False):
        dated = group["created_at"].notna()
        rows = "OPD-only rows" if opd_only else "rows"
        if dated.any() and not dated.all():
            print(f"warning: {int((~dated).sum())} of {len(group)} {rows} have no created_at; their validation "
                  "rows are drawn at random instead of the newest", file=sys.stderr)
        parts.append(_hold_out(group, valid_fraction, dated.all(), seed))
        kinds[rows] = "time" if dated.all() else "random"
    if len(set(kinds.values())) == 1:
        kind = next(iter(kinds.values()))
    else:
        kind = f"{kinds['rows']}; OPD-only rows: {kinds['OPD-only rows']}"
    return pd.concat([train for train, _ in parts]), pd.concat([valid for _, valid in parts]), kind


def _hold_out(frame: pd.DataFrame, valid_fraction: float, by_time: bool, seed: int):
    n_valid = max(1, int(round(len(frame) * valid_fraction)))
    if by_time:
        ordered = frame.sort_values("created_at", kind="stable")
        return ordered.iloc[:-n_valid], ordered.iloc[-n_valid:]
    shuffled = frame.sample(frac=1.0, random_state=seed)
    return shuffled.iloc[n_valid:], shuffled.iloc[:n_valid]


def fingerprint(frame: pd.DataFrame) -> str:
    """A SHA-256 over texts and labels, recorded in the model card to identify the training data."""
    digest = hashlib.sha256()
    for row in frame[["text", "category", "opd"]].itertuples(index=False):
        digest.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def near_duplicates(texts: list[str], threshold: float = 0.8, chunk: int = 1000) -> list[tuple[int, int, float]]:
    """Pairs of texts whose character 3-5-gram TF-IDF cosine similarity exceeds `threshold`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).fit_transform(texts)
    pairs = []
    for start in range(0, matrix.shape[0], chunk):
        block = (matrix[start:start + chunk] @ matrix.T).tocoo()
        for i, j, value in zip(block.row + start, block.col, block.data):
            if i < j and value > threshold:
                pairs.append((int(i), int(j), float(value)))
    return pairs
