"""OPDs and categories as data: `data/registry/opds.csv` and `data/registry/categories.csv`.

Adding an OPD or a category, or changing a category's usual OPD, is an edit of these files
followed by retraining; no code knows any OPD by name.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError

REGISTRY_DIR = Path(__file__).resolve().parent.parent / "data" / "registry"


@dataclass(frozen=True)
class Opd:
    code: str
    name: str
    handles: str


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    usual_opd: str


@dataclass(frozen=True)
class Registry:
    opds: dict[str, Opd]
    categories: dict[str, Category]
    directory: Path = field(default=REGISTRY_DIR, compare=False)  # where it was read from, for messages

    def opd_name(self, code: str) -> str:
        opd = self.opds.get(code)
        return opd.name if opd else code

    def category_name(self, code: str) -> str:
        category = self.categories.get(code)
        return category.name if category else code


def _read(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:  # spreadsheets save a BOM
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"missing column(s) {', '.join(missing)}", file=str(path), row=1)
            rows = []
            for row_number, row in enumerate(reader, start=2):
                values = {c: (row.get(c) or "").strip() for c in columns}
                empty = [c for c in columns if not values[c]]
                if empty:
                    raise DataError("empty value", file=str(path), row=row_number, column=empty[0])
                rows.append((row_number, values))
            return rows
    except FileNotFoundError:
        raise DataError("registry file not found", file=str(path)) from None
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text", file=str(path)) from None


def load_registry(directory: Path | str = REGISTRY_DIR) -> Registry:
    directory = Path(directory)
    opds: dict[str, Opd] = {}
    for row_number, row in _read(directory / "opds.csv", ("code", "name", "handles")):
        if row["code"] in opds:
            raise DataError(f"duplicate OPD code {row['code']!r}", str(directory / "opds.csv"), row_number, "code")
        opds[row["code"]] = Opd(**row)
    categories: dict[str, Category] = {}
    path = directory / "categories.csv"
    for row_number, row in _read(path, ("code", "name", "usual_opd")):
        if row["code"] in categories:
            raise DataError(f"duplicate category code {row['code']!r}", str(path), row_number, "code")
        if row["usual_opd"] not in opds:
            raise DataError(f"usual_opd {row['usual_opd']!r} is not in opds.csv", str(path), row_number, "usual_opd")
        categories[row["code"]] = Category(**row)
    return Registry(opds=opds, categories=categories, directory=directory)
