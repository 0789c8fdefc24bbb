"""Home: what ragtune is, the thesis, three ways in, and what the app has to work with right now."""

from __future__ import annotations

import streamlit as st

from app_resources import get_registry, get_runtime, get_scoped_catalog, get_scoped_knowledge_base, get_settings
from components.home import render_doors, render_intro, render_status
from components.safe import errors_shown
from ragtune.errors import RagtuneError
from ragtune.showcases import ShowcaseStore
from ragtune.status import documents_status, home_status


def home() -> None:
    settings = get_settings()
    render_intro()
    render_doors(key="home_door")
    st.subheader("Right now", anchor=False)
    model_id = st.session_state.get("model_id") or get_registry().default_id()
    runtime, runtime_error = None, ""
    try:
        runtime = get_runtime(model_id)  # loading it here warms the model for the tour and the Lab
    except RagtuneError as exc:
        runtime_error = str(exc)
    try:
        documents = documents_status(get_scoped_knowledge_base(), settings.demo_workspace)  # what the user may read
    except RagtuneError as exc:
        documents = documents_status(None, settings.demo_workspace, kb_error=str(exc))
    status = home_status(model_id, runtime=runtime, runtime_error=runtime_error, catalog=get_scoped_catalog(),
                         documents=documents, showcases=ShowcaseStore(settings.data_dir))
    render_status(status, key="home_status")


st.title("ragtune")
with errors_shown("the Home page"):
    home()
