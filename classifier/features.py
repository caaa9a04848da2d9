"""Features of a complaint: TF-IDF over stemmed word n-grams and over character n-grams.

Fitting uses scikit-learn's vectorizers. Transforming uses their fitted vocabularies and idf
weights directly: the same numbers, without the input validation that costs about a millisecond
per call and dominated the latency of a single /predict.
"""
from __future__ import annotations

import functools
from collections import Counter
from itertools import chain

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from .text import TextNormalizer


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

    def transform(self, texts) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
        cleaned = [self.normalizer.clean(t) for t in texts]
        analyzer, vocabulary = self.word.build_analyzer(), self.word.vocabulary_
        words = _tfidf(cleaned, lambda doc: (j for j in map(vocabulary.get, analyzer(doc)) if j is not None),
                       self.word.idf_)
        if not self.char:
            return words, None
        # char_wb n-grams never cross a word boundary, so a text's n-grams are its words' n-grams:
        # computed once per word and cached.
        char_columns = self._char_columns()
        return words, _tfidf(cleaned, lambda doc: chain.from_iterable(map(char_columns, doc.split())), self.char.idf_)

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
            def columns(word: str) -> tuple[int, ...]:
                return tuple(j for j in map(vocabulary.get, analyzer(word)) if j is not None)

            self._char_cache = columns
        return self._char_cache

    def __getstate__(self):
        return {**self.__dict__, "_char_cache": None}


def _tfidf(docs: list[str], columns_of, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF rows, L2-normalised, as TfidfVectorizer(sublinear_tf=True).transform computes
    them; `columns_of(doc)` yields the vocabulary column of each of the document's terms."""
    indptr, indices, values = [0], [], []
    for doc in docs:
        counts = Counter(columns_of(doc))
        columns = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[columns]
        norm = np.sqrt(weights @ weights)
        indices.append(columns)
        values.append(weights / norm if norm else weights)
        indptr.append(indptr[-1] + len(columns))
    return sp.csr_matrix((np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32),
                          np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
                         shape=(len(docs), len(idf)))


def stack(words, chars, use_chars: bool):
    return sp.hstack([words, chars], format="csr") if use_chars and chars is not None else words
