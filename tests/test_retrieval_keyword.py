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


def test_scores_are_bit_identical_whatever_the_process_hash_seed():
    """Summing a query's terms in a set's order (which changes with PYTHONHASHSEED) changes the last
    bits of the scores and so how exact ties break: the generated training data once differed
    between a CI process and the committed file. The terms are summed in query order."""
    import os
    import subprocess
    import sys

    from ragtune.config import PROJECT_ROOT

    code = (
        "from ragtune.retrieval.keyword import BM25\n"
        "docs = [' '.join(f'w{(i * 7 + j * 3) % 23} w{(i + j) % 17}' for j in range(i % 9 + 3)) for i in range(40)]\n"
        "print(repr(BM25(docs).search('w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12', 40)))\n"
    )
    outputs = set()
    for seed in ("0", "1", "2", "3"):  # with a set's order, each of these gave other scores
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
