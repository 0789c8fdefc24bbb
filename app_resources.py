"""The app's shared, process-wide resources (``st.cache_resource`` factories).

Pages import these instead of building their own, so one process holds one copy
of the settings, the model and every store. Nothing here contains business logic:
each factory calls into :mod:`ragtune` and caches the result.
"""

from __future__ import annotations

import streamlit as st

from ragtune.config import Settings, load_settings


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    """The settings, read once per process (raises ConfigError when invalid)."""
    settings = load_settings()
    settings.ensure_data_dir()
    return settings
