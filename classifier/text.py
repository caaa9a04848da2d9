"""Indonesian complaint text normalisation: masking, slang, tokenisation, Sastrawi stemming.

Every step is switchable through `TextConfig` so that the ablation benchmark can measure what
each one is worth. The slang dictionary and the stem overrides are data files under
`data/lexicon/`, loaded once here.
"""
from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

LEXICON_DIR = Path(__file__).resolve().parent.parent / "data" / "lexicon"

# Masks are plain letter tokens so that they survive tokenisation and become features.
URL_TOKEN, EMAIL_TOKEN, PHONE_TOKEN, NIK_TOKEN, NUMBER_TOKEN = "xurlx", "xemailx", "xtelpx", "xnikx", "xnomorx"

# A run of name characters is matched only from its start (the look-behinds): tried from every
# position inside a long run, as a citizen's text can make it, each pattern took quadratic time.
_URL = re.compile(r"(?:https?://|www\.)\S+|(?<![\w-])[\w-]+\.(?:com|id|co\.id|go\.id|net|org)(?:/\S*)?\b",
                  re.IGNORECASE)
_AT_SIGNS = "@\uff20"  # and the full-width one of Asian keyboards
_EMAIL = re.compile(rf"(?<![\w.+-])[\w.+-]+\s?[{_AT_SIGNS}]\s?[\w-]+(?:\.[\w-]+)+")
# Written in disguise against scrapers: budi(at)gmail(dot)com, budi [at] gmail.com.
_BRACKETED_AT = re.compile(r"[(\[]\s*at\s*[)\]]", re.IGNORECASE)
_DISGUISED_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+\s*[(\[]\s*at\s*[)\]]\s*[\w-]+(?:\s*(?:[(\[]\s*dot\s*[)\]]|\.)\s*[\w-]+)+",
                              re.IGNORECASE)
# Between groups of digits: a dash (en and em dashes too), dot or slash, spaced or not, or one or two spaces.
_SEP = r"(?:\s?[-\u2013\u2014./]\s?|\s{1,2})"
# The country code as people write it: +62, 62, (+62), +62 (0).
_COUNTRY = r"(?:\(\+?62\)|\+?62(?:\s?\(0\))?)"
# Mobiles: the country code or 0, then 8 and 8-12 more digits. Landlines: 0 or the country code, an
# area code of 1-3 digits (021, 0274; sometimes in brackets), then 6-8 digits.
_PHONE = re.compile(rf"(?<!\d)(?:(?:{_COUNTRY}|0){_SEP}?\(?8\d{{1,3}}\)?(?:{_SEP}?\d{{2,4}}){{2,4}}"
                    rf"|(?:\(?0|{_COUNTRY}{_SEP}?\(?)[2-79]\d{{0,2}}\)?{_SEP}?\d{{3,4}}{_SEP}?\d{{3,4}})(?!\d)")


def _grouped(name: str, first: int, second: int, *more: int) -> str:
    """Groups of digits of these sizes joined by one separator throughout, and not followed by another
    group: a date and a time ("22-11-2026 08.30-10.00") mix separators and are no identity number."""
    later = "".join(rf"(?P={name})\d{{{size}}}" for size in more)
    return rf"\d{{{first}}}(?P<{name}>{_SEP})\d{{{second}}}{later}(?!(?P={name})\d)"


# NIK and KK: 16 digits, whole or in the groups people use (3671 0123 4567 0001, 367101.230456.0001,
# 36.71.01.230456.0001).
_NIK = re.compile(r"(?<!\d)(?:\d{16}|" + "|".join(
    _grouped(f"s{n}", *sizes) for n, sizes in enumerate([(4, 4, 4, 4), (6, 6, 4), (2, 2, 2, 6, 4)])) + r")(?!\d)")
# Tax numbers, grouped as printed: the NPWP (12.345.678.9-012.345) and a property's NOP
# (35.78.140.006.015-0323.0), which names its owner. Written whole, they are long numbers.
_TAX_NUMBER = re.compile(rf"(?<!\d)(?:\d{{2}}\.\d{{3}}\.\d{{3}}\.\d[.-]\d{{3}}\.\d{{3}}"
                         rf"|\d{{2}}{_SEP}?\d{{2}}(?:{_SEP}?\d{{3}}){{3}}{_SEP}?\d{{4}}{_SEP}?\d)(?!\d)")
_LONG_NUMBER = re.compile(r"(?<!\d)\d{6,}(?!\d)")
# A number read out digit by digit ("nol delapan satu dua ...", as a voice or chat channel writes it):
# eight digit words or more, so that "dua tiga hari" and other counts stay, and digits in figures
# left to the patterns above ("gang 1, 2, 3, 4, 5, 6, 7, 8" lists lanes).
_DIGIT = r"(?:nol|kosong|satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan)"
# The look-ahead on the words' first letters halves the time on a text without one.
_SPELLED_NUMBER = re.compile(rf"\b(?=[deklnst]){_DIGIT}(?:[\s,.-]{{1,3}}{_DIGIT}){{7,}}\b", re.IGNORECASE)
# A bank account after its word, whatever its grouping: "rek BNI 0123 4567 89".
_ACCOUNT = re.compile(r"(\b(?:no\.?\s*)?rek(?:ening)?\b\.?[^\d\n]{0,20})\d(?:[\s.-]?\d){5,}", re.IGNORECASE)
# Cheap tests that let most texts skip the costlier patterns above.
_MAYBE_URL = re.compile(r"://|www\.|\.(?:com|id|net|org)\b", re.IGNORECASE)
_SIX_DIGITS = re.compile(r"\d(?:[\s.()/\u2013\u2014-]{0,3}\d){5}")  # six digits, grouped or not
# Masks already applied by an upstream export, such as "[TELP]" or "[NIK]".
_PRE_MASKED = {"[email]": EMAIL_TOKEN, "[telp]": PHONE_TOKEN, "[nik]": NIK_TOKEN, "[nomor]": NUMBER_TOKEN,
               "[url]": URL_TOKEN}
_PRE_MASKED_RE = re.compile("|".join(re.escape(k) for k in _PRE_MASKED))
_REPEATS = re.compile(r"([a-z])\1{2,}")
_TOKEN = re.compile(r"[a-z]+|\d+")
_REDUPLICATION = re.compile(r"\b([a-z]{2,})(?:-\1|2)\b")  # jalan-jalan, rumah2 -> jalan, rumah


@dataclass(frozen=True)
class TextConfig:
    """Which normalisation steps run.

    Defaults follow the ablation on real complaints (`python -m benchmarks.ablation`, README):
    the slang dictionary, stemming (for the category head) and dropping bare numbers help;
    NFKC, collapsing repeated letters and folding reduplication made no measurable difference,
    so they are off. Masking stays on whatever it measures: stored texts and features must not
    carry personal numbers.
    """

    unicode_nfkc: bool = False
    mask_personal: bool = True
    collapse_repeats: bool = False
    reduplication: bool = False
    slang: bool = True
    stem: bool = True
    drop_numbers: bool = True
    stem_cache_size: int = 200_000


def load_pairs(path: Path) -> dict[str, str]:
    """Read a two-column lexicon CSV (header row, key then value) into a dict."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        return {row[0].strip().lower(): row[1].strip().lower() for row in rows if len(row) >= 2 and row[0].strip()}


def mask_personal(text: str) -> str:
    """Replace URLs, e-mails, phone numbers, NIKs and other long numbers by mask tokens.

    Used both for features and for what the service stores, so a stored text never holds them.
    """
    if any(sign in text for sign in _AT_SIGNS):
        text = _EMAIL.sub(f" {EMAIL_TOKEN} ", text)  # before URLs: "warga@gmail.com" holds a domain
    if _BRACKETED_AT.search(text):
        text = _DISGUISED_EMAIL.sub(f" {EMAIL_TOKEN} ", text)
    if _MAYBE_URL.search(text):
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if _SIX_DIGITS.search(text):
        text = _TAX_NUMBER.sub(f" {NUMBER_TOKEN} ", text)  # first: a grouped number holds shorter ones
        text = _NIK.sub(f" {NIK_TOKEN} ", text)  # before phones: a grouped NIK can look like one
        text = _PHONE.sub(f" {PHONE_TOKEN} ", text)
        text = _ACCOUNT.sub(rf"\1 {NUMBER_TOKEN} ", text)
        text = _LONG_NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    return _SPELLED_NUMBER.sub(f" {NUMBER_TOKEN} ", text)


def mask_personal_values(value):
    """`mask_personal` on every key, string and whole number of a JSON value: the metadata an intake
    system stores beside a complaint can hold the citizen's phone number or NIK too, even as a key
    (`{"081234567890": "pelapor"}`)."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            masked[_unused_key(masked, mask_personal_values(key))] = mask_personal_values(item)
        return masked
    if isinstance(value, list):
        return [mask_personal_values(item) for item in value]
    if isinstance(value, float) and value.is_integer():  # how some encoders write a phone: 6281234567890.0
        written = str(int(value))
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        written = str(value)
    else:
        return value
    masked = mask_personal(written).strip()
    return value if masked == written.strip() else masked


def _unused_key(taken: dict, key: str) -> str:
    """`key`, numbered when masking made it equal to an earlier one (two phone numbers as keys), so
    that no value is dropped."""
    name, n = key, 1
    while name in taken:
        n += 1
        name = f"{key} ({n})"
    return name


class TextNormalizer:
    """Turns a raw complaint into a cleaned string (`clean`) and stemmed tokens (`tokens`).

    Picklable: the stemmer and its bounded cache are rebuilt after loading.
    """

    def __init__(self, config: TextConfig | None = None, lexicon_dir: Path | None = None):
        self.config = config or TextConfig()
        lexicon_dir = Path(lexicon_dir or LEXICON_DIR)
        self.slang = load_pairs(lexicon_dir / "slang.csv") if self.config.slang else {}
        self.stem_overrides = load_pairs(lexicon_dir / "stem_overrides.csv") if self.config.stem else {}
        self.known_stems: dict[str, str] = {}  # the training vocabulary's stems, saved with the model
        self._build_stemmer()

    def _build_stemmer(self) -> None:
        if not self.config.stem:
            self._cached_stem = lambda word: word
            return
        from Sastrawi.Dictionary.ArrayDictionary import ArrayDictionary
        from Sastrawi.Stemmer.Stemmer import Stemmer
        from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

        # The dictionary-backed Stemmer itself, not the factory's CachedStemmer, whose cache grows
        # without bound; `stem_word` skips the per-call text normalisation we already did.
        stemmer = Stemmer(ArrayDictionary(StemmerFactory().get_words()))
        overrides = self.stem_overrides

        @functools.lru_cache(maxsize=self.config.stem_cache_size)
        def stem(word: str) -> str:
            return overrides.get(word) or stemmer.stem_word(word) or word

        self._cached_stem = stem

    def remember(self, words) -> None:
        """Keep the stems of `words` (the training vocabulary) in the model, so that a freshly
        started service does not pay Sastrawi's cost for words it has seen in training."""
        self.known_stems.update((word, self._cached_stem(word)) for word in words if word not in self.known_stems)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_cached_stem", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build_stemmer()

    def clean(self, text: str) -> str:
        """Normalised, masked, lowercased text with slang expanded; not stemmed."""
        return " ".join(self._words(text))

    def tokens(self, text: str) -> list[str]:
        """Stemmed tokens of `text`, for word n-gram features and for explanations."""
        return [self.stem(word) for word in self._words(text)]

    def stem(self, word: str) -> str:
        return self.known_stems.get(word) or self._cached_stem(word)

    def _words(self, text: str) -> list[str]:
        config = self.config
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        if config.unicode_nfkc:
            text = unicodedata.normalize("NFKC", text)
        text = text.lower()
        if config.mask_personal:
            text = _PRE_MASKED_RE.sub(lambda m: f" {_PRE_MASKED[m.group(0)]} ", text)
            text = mask_personal(text)
        if config.collapse_repeats:
            text = _REPEATS.sub(r"\1", text)
        if config.reduplication:
            text = _REDUPLICATION.sub(r"\1", text)
        words = []
        for token in _TOKEN.findall(text):
            if config.drop_numbers and token.isdigit():
                continue
            expanded = self.slang.get(token)
            if expanded:
                words.extend(expanded.split())
            else:
                words.append(token)
        return words

    def describe(self) -> dict:
        return {**asdict(self.config), "slang_entries": len(self.slang), "stem_overrides": len(self.stem_overrides)}
