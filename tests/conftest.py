"""Shared fixtures: every test writes to its own data directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import llama_server  # noqa: F401 - a session fixture: real llama-server on loopback


_DERIVED: dict[str, Path] = {}


def _default_model_file(factory: pytest.TempPathFactory) -> Path | None:
    """The default model's file when the registry derives it (re-quantized into a data directory),
    made once per session: each test's fresh data directory gets a hard link to it instead of
    re-quantizing (a few seconds each); None when the default is an installed file."""
    if "default" not in _DERIVED:
        from ragtune.config import Settings
        from ragtune.models import DerivedSource, ModelRegistry

        settings = Settings(data_dir=factory.mktemp("derived-models"))
        registry = ModelRegistry(settings)
        spec = registry.get(settings.model)
        if not isinstance(spec.source, DerivedSource):
            return None
        _DERIVED["default"] = registry.derive(spec)
    return _DERIVED["default"]


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point RAGTUNE_DATA_DIR at a fresh temp directory and forget cached resources."""
    path = tmp_path_factory.mktemp("ragtune-data")
    derived = _default_model_file(tmp_path_factory)
    if derived is not None:
        (path / "models").mkdir()
        try:
            os.link(derived, path / "models" / derived.name)
        except OSError:  # another file system: the test derives its own copy when it loads the model
            pass
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(path))
    for name in ("RAGTUNE_CHROMA_URL", "RAGTUNE_CHROMA_HEADERS"):  # a test chooses its store itself
        monkeypatch.delenv(name, raising=False)
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield path
    st.cache_resource.clear()
    st.cache_data.clear()


# --- real GGUF files, written once per test session ------------------------------------


@pytest.fixture(scope="session")
def gguf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gguf")


@pytest.fixture(scope="session")
def tiny_model(gguf_dir: Path) -> Path:
    """A ~8 MB random-weight llama model with the default model's tokenizer and template."""
    from tests.factories import write_tiny_model

    return write_tiny_model(gguf_dir / "tiny.gguf")


@pytest.fixture(scope="session")
def zero_lora(gguf_dir: Path) -> Path:
    from tests.factories import write_lora

    return write_lora(gguf_dir / "zero.gguf", zero_b=True)


@pytest.fixture(scope="session")
def random_lora(gguf_dir: Path) -> Path:
    from tests.factories import write_lora

    return write_lora(gguf_dir / "random.gguf", seed=7)


@pytest.fixture(scope="session")
def second_lora(gguf_dir: Path) -> Path:
    from tests.factories import write_lora

    return write_lora(gguf_dir / "second.gguf", seed=11, targets=("attn_k", "ffn_down"))


@pytest.fixture()
def tiny_env(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the tiny model the configured model (RAGTUNE_MODEL_PATH)."""
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(tiny_model))
    return tiny_model


TEAM_DOCS: list[tuple[str, bytes]] = [
    ("poolpilot.md", b"# Poolpilot P1\n\nThe Poolpilot P1 pool robot costs $1,249.\n"),
    ("warranty.md", b"# Warranty\n\nEvery robot has a two-year warranty.\n"),
]


@pytest.fixture()
def team_workspace(tiny_env: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
                   ) -> Callable[..., Path]:
    """Set up a page or CLI test on the tiny model: call it with the token cap (and the documents,
    TEAM_DOCS by default) to get no demo workspace, one thread, and a workspace 'team' on real
    chromadb holding the documents; it returns the data directory."""

    def make(*, max_tokens: int, docs: list[tuple[str, bytes]] = TEAM_DOCS) -> Path:
        from ragtune.config import load_settings
        from ragtune.retrieval.embeddings import shared_embedding_function
        from ragtune.retrieval.knowledge import KnowledgeBase

        monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
        monkeypatch.setenv("RAGTUNE_MAX_TOKENS", str(max_tokens))
        # One thread: two spin-waiting threads crawl on a busy 2-core machine.
        monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
        kb = KnowledgeBase.from_settings(load_settings(), shared_embedding_function())
        kb.create_workspace("team")
        assert kb.ingest_bytes("team", docs).ok
        kb.manifest.close()
        return data_dir

    return make


@pytest.fixture(scope="module")
def tiny_runtime(tiny_model: Path) -> Iterator[object]:
    """One loaded tiny model shared by a test module (loading is what we avoid repeating)."""
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    runtime = LlamaCppRuntime(
        tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=1024, n_threads=2
    )
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def looping_model(gguf_dir: Path) -> Path:
    """A tiny model that loops: block weights near zero, so each position's own embedding dominates
    the next-token choice and greedy decoding falls into a cycle within a few tokens (the shapes
    are the tiny model's: its adapters fit)."""
    from tests.factories import TinyConfig, write_tiny_model

    return write_tiny_model(gguf_dir / "looping.gguf", config=TinyConfig(weight_std=0.13), seed=1)


@pytest.fixture(scope="module")
def looping_runtime(looping_model: Path) -> Iterator[object]:
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    runtime = LlamaCppRuntime(
        looping_model, summary=check_model_file(looping_model), model_id="looping", n_ctx=1024, n_threads=1
    )
    yield runtime
    runtime.close()


# --- real servers on loopback (tests/servers.py), started once per session when a test asks ----------
from tests.servers import chroma_server, chroma_url, knowledge_store  # noqa: E402,F401
