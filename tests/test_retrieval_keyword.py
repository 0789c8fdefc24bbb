"""BM25 keyword ranking and reciprocal rank fusion."""

from __future__ import annotations

from ragtune.retrieval.keyword import BM25, reciprocal_rank_fusion, tokenize

TEXTS = [
    "The warranty on robots is 2 years from delivery.",
    "Battery packs are rated for 800 charge cycles.",
    "Express shipping costs $39 and takes 1 to 2 business days.",
    "Returns are accepted within 30 days; a restocking fee applies to opened products.",
]


def test_tokens_are_lowercase_words_and_numbers_without_stopwords():
    assert tokenize("What is the Price of the M4 Pro? $2,149!") == ["price", "m4", "pro", "2,149"]


def test_plural_and_singular_match():
    assert tokenize("batteries returns") == tokenize("battery return")


def test_the_chunk_sharing_rare_query_terms_ranks_first():
    index = BM25(TEXTS)
    assert index.search("how many charge cycles does a battery last", 2)[0][0] == 1
    assert index.search("restocking fee for opened products", 1)[0][0] == 3


def test_no_shared_term_means_no_result():
    assert BM25(TEXTS).search("zebra", 5) == []


def test_rrf_rewards_items_ranked_well_by_both_lists():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60)
    assert [item for item, _ in fused][:2] == ["b", "c"]
    assert fused[0][1] == 1 / 62 + 1 / 61
