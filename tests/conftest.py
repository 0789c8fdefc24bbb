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
