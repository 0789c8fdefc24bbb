"""Keyword search (Okapi BM25) and reciprocal rank fusion.

Small on purpose: a workspace's chunks fit in memory, the index is rebuilt only
when the workspace changes, and the tokenizer is the same for chunks and queries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence

# Possessive: nothing after the pattern can make it give characters back, so say so (linear on any text).
_TOKEN = re.compile(r"[a-z0-9]++(?:[.,][0-9]++)*+")
# Words too common to carry meaning in a question; numbers and names are kept.
STOPWORDS = frozenset(
    """a an the and or of to in on at for by with from as is are was were be been being do does
    did what which who whom whose when where why how this that these those it its i we you they
    he she them our your their my me us can could should would will shall may might must has have
    had not no if then than so there here into about over under per any all each""".split()
)


def _stem(token: str) -> str:
    # A light suffix strip: "returns" ~ "return", "batteries" ~ "battery". Enough for BM25 recall.
    if len(token) > 4 and not token[0].isdigit():
        for suffix, repl in (("ies", "y"), ("sses", "ss"), ("s", "")):
            if token.endswith(suffix) and not token.endswith("ss"):
                return token[: -len(suffix)] + repl
    return token


def tokenize(text: str) -> list[str]:
    """Lowercase word and number tokens without stopwords, lightly stemmed."""
    return [_stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25:
    """Okapi BM25 over a fixed list of texts.

    Args:
        texts: the documents (chunks) to index; results refer to their positions.
        k1: term-frequency saturation.
        b: length normalisation.
    """

    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._tfs = [Counter(tokenize(t)) for t in texts]
        self._lengths = [sum(tf.values()) for tf in self._tfs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        df: Counter[str] = Counter()
        for tf in self._tfs:
            df.update(tf.keys())
        n = len(self._tfs)
        self._idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}
        self._postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self._tfs):
            for term in tf:
                self._postings.setdefault(term, []).append(i)

    def __len__(self) -> int:
        return len(self._tfs)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (position, score) pairs with a positive score, best first."""
        scores: dict[int, float] = {}
        # Query terms in their first-occurrence order, never a set's: a set's order changes with
        # the process's hash seed, and summing floats in another order can break exact ties another way.
        for term in dict.fromkeys(tokenize(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for i in self._postings[term]:
                tf = self._tfs[i][term]
                norm = 1 - self.b + self.b * self._lengths[i] / (self._avg or 1.0)
                scores[i] = scores.get(i, 0.0) + idf * tf * (self.k1 + 1) / (tf + self.k1 * norm)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return ranked[:k]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], *, k: int = 60
) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists: each item scores ``sum(1 / (k + rank))`` over the lists it is in.

    Returns (item, fused score) pairs, best first; ties keep first-seen order.
    """
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])
