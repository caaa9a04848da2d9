"""CSV cells that a spreadsheet would run as a formula (CSV injection, CWE-1236).

A citizen's text such as `=HYPERLINK("http://…")` becomes a live formula when an export is opened
in Excel or LibreOffice, and so does any part after a `;`, where a spreadsheet with Indonesian
settings splits a line (quotes do not stop it: it splits `"a","b;=X"` into `a,"b` and `=X"`).
Each such start gets an apostrophe, which spreadsheets read as "this is text". `unguard` takes
exactly those apostrophes off again, so an exported file trains as it was stored.
"""
from __future__ import annotations

import re

# A start (of the cell, or after ";") followed by a formula character, after any apostrophes that
# are already there: one more is added, so that `unguard` can tell ours from the citizen's.
_FORMULA_START = r"(?='*[=+\-@\t\r])"
_START = re.compile(r"(^|;)" + _FORMULA_START)
_GUARDED = re.compile(r"(^|;)'" + _FORMULA_START)


def guard(value):
    """`value` with an apostrophe before each part a spreadsheet would read as a formula."""
    return _START.sub(r"\1'", value) if isinstance(value, str) else value


def unguard(text: str) -> str:
    """The text `guard` was given."""
    return _GUARDED.sub(r"\1", text)
