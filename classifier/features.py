"""Features of a complaint: TF-IDF over stemmed word n-grams and over character n-grams.

Fitting uses scikit-learn's vectorizers. Serving (`encode`) uses their fitted vocabularies and idf
weights directly and returns each text's non-zero columns and values: the same numbers as their
`transform`, without building sparse matrices or validating input, which cost more than the
prediction itself for the single text of a /predict call.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from .text import TextNormalizer

NO_COLUMNS = np.zeros(0, np.intp)  # intp: the index type np.take uses without converting


class Terms(NamedTuple):
    """One text's TF-IDF row in one feature block: its non-zero columns and their values."""
    columns: np.ndarray
    values: np.ndarray


class Features:
    """Cleans each text once, then builds word and (optionally) character TF-IDF blocks."""

    def __init__(self, normalizer: TextNormalizer, word_ngrams: tuple[int, int], char_ngrams: tuple[int, int] | None,
                 min_df: int):
        self.normalizer = normalizer
        self.word = TfidfVectorizer(tokenizer=self._tokens, preprocessor=None, lowercase=False, token_pattern=None,
                                    ngram_range=word_ngrams, min_df=min_df, sublinear_tf=True, dtype=np.float32)
        self.char = None if char_ngrams is None else TfidfVectorizer(
            analyzer="char_wb", lowercase=False, ngram_range=char_ngrams, min_df=max(min_df, 2), sublinear_tf=True,
            max_features=200_000, dtype=np.float32)

    def _tokens(self, cleaned: str) -> list[str]:
        stem = self.normalizer.stem
        return [stem(word) for word in cleaned.split()]

    def fit_transform(self, texts) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        cleaned = [self.normalizer.clean(t) for t in texts]
        self.normalizer.remember({word for doc in cleaned for word in doc.split()})
        words = self.word.fit_transform(cleaned)
        return words, (self.char.fit_transform(cleaned) if self.char else None)

    def encode(self, texts) -> list[tuple[Terms, Terms | None]]:
        """Each text's word terms and character terms (None without a character block)."""
        analyzer, vocabulary, word_idf = self.word.build_analyzer(), self.word.vocabulary_, self.word.idf_
        char_columns = self._char_columns() if self.char else None
        encoded = []
        for text in texts:
            cleaned = self.normalizer.clean(text)
            words = _tfidf([j for j in map(vocabulary.get, analyzer(cleaned)) if j is not None], word_idf)
            chars = None
            if char_columns:
                # char_wb n-grams never cross a word boundary, so a text's n-grams are its words'
                # n-grams: computed once per word and cached.
                chars = _tfidf(np.concatenate([NO_COLUMNS, *map(char_columns, cleaned.split())]), self.char.idf_)
            encoded.append((words, chars))
        return encoded

    def warm_up(self) -> None:
        """Compute the character n-gram columns of every word seen in training, so that the first
        requests after a start (or in every freshly forked worker) find them cached."""
        if self.char:
            columns = self._char_columns()
            for word in self.normalizer.known_stems:
                columns(word)

    def _char_columns(self):
        if getattr(self, "_char_cache", None) is None:
            analyzer, vocabulary = self.char.build_analyzer(), self.char.vocabulary_

            @functools.lru_cache(maxsize=100_000)
            def columns(word: str) -> np.ndarray:
                return np.fromiter((j for j in map(vocabulary.get, analyzer(word)) if j is not None), np.intp)

            self._char_cache = columns
        return self._char_cache

    def __getstate__(self):
        return {**self.__dict__, "_char_cache": None}


def _tfidf(columns, idf: np.ndarray) -> Terms:
    """A sublinear TF-IDF row, L2-normalised, as TfidfVectorizer(sublinear_tf=True).transform computes
    it, from the vocabulary column of each of the text's terms (repeated as often as they occur)."""
    columns, counts = np.unique(np.asarray(columns, np.intp), return_counts=True)
    values = (1.0 + np.log(counts)) * idf[columns]
    norm = np.sqrt(values @ values)
    return Terms(columns, values / norm if norm else values)


def stack(words, chars, use_chars: bool):
    return sp.hstack([words, chars], format="csr") if use_chars and chars is not None else words
