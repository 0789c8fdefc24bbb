"""Shared fixtures: every test writes to its own data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point RAGTUNE_DATA_DIR at a fresh temp directory and forget cached resources."""
    path = tmp_path_factory.mktemp("ragtune-data")
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(path))
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
