"""Adapters: the LoRA adapters with their cards, a quick try, upload, delete, and training. A user's uploads and
trained adapters are personal (theirs and the admins'), an admin's are shared; shipped ones are everyone's."""

from __future__ import annotations

import streamlit as st

from app_resources import get_backend_status, get_runtime, get_scoped_catalog, get_settings, session_scope
from components.adapters import render_adapter_card, render_job, render_train_options, render_try, sharing_label
from components.backends import render_server_adapters
from components.format import confirm_button
from components.safe import errors_shown, escape_markdown
from ragtune.adapters import fit_problem
from ragtune.errors import RagtuneError
from ragtune.training.card import load_card
from ragtune.training.deps import INSTALL_HINT, missing_training_packages
from ragtune.training.options import TrainOptions
from ragtune.training.tryout import EXAMPLE_CONTEXT, EXAMPLE_INPUT, STYLE_LABELS, style_for, try_adapter


def library(runtime) -> None:
    catalog, admin = get_scoped_catalog(), session_scope().is_admin
    entries = catalog.list()
    if not entries:
        st.info("No adapters yet: upload one below or train one.", icon=":material/info:")
    for entry in entries:
        # An admin lists every user's personal adapters: two users' may share a name.
        ident = entry.name + (f"-{entry.owner}" if entry.owner else "")
        render_adapter_card(entry, load_card(entry.path), fits=fit_problem(entry.path, runtime.summary),
                            key=f"ad_card_{ident}")
        # Deleting a shared adapter is an admin's; a personal one its owner's (or an admin's).
        deletable = entry.origin == "user" and (admin or bool(entry.owner))
        question = escape_markdown(f"Delete '{entry.name}' ({sharing_label(entry)}) and its card? "
                                   "This cannot be undone.")
        if deletable and confirm_button(f"Delete {entry.name}", question, key=f"ad_delete_{ident}"):
            try:
                catalog.remove(entry.name, owner=entry.owner or None)  # the file and its card together, or nothing
                st.rerun()
            except RagtuneError as exc:
                st.error(str(exc))


def try_box(runtime) -> None:
    fitting = {f"{e.name} ({sharing_label(e)})": e for e in get_scoped_catalog().list()
               if fit_problem(e.path, runtime.summary) is None}
    if not fitting:
        st.caption("No adapter fits the loaded model yet.")
        return
    name = st.selectbox("Adapter", list(fitting), key="ad_try_adapter")
    entry = fitting[name]
    default = style_for(load_card(entry.path))
    style = st.selectbox("Prompt (as the adapter was trained)", list(STYLE_LABELS), index=list(STYLE_LABELS).index(default),
                         format_func=STYLE_LABELS.get, key=f"ad_try_style_{name}")
    context = ""
    if style == "grounded":
        context = st.text_area("Context chunks, one a line: `doc-id#n: text`", EXAMPLE_CONTEXT, key="ad_try_context")
    text = st.text_area("Input", EXAMPLE_INPUT, key="ad_try_input", max_chars=4000)
    if not st.button("Compare", key="ad_try_run", icon=":material/compare:"):
        return
    try:
        with st.spinner("Generating with and without the adapter…"):
            outcome = try_adapter(runtime, entry.path, style, text, context=context)
        render_try(outcome.base, outcome.adapted, base_note=outcome.base_note, adapter_note=outcome.adapter_note,
                   key="ad_try_out")
    except RagtuneError as exc:
        st.error(str(exc))


def upload(runtime) -> None:
    file = st.file_uploader("A GGUF LoRA adapter", type=["gguf"], key="ad_upload")
    name = st.text_input("Name", value=file.name.removesuffix(".gguf") if file else "", key="ad_upload_name")
    if st.button("Check and add", key="ad_upload_save", disabled=file is None):
        try:  # the catalog stores the file only once every check has passed
            entry = get_scoped_catalog().add(name or file.name, file.getvalue(), base=runtime.summary)
            st.success(f"Added '{escape_markdown(entry.name)}' ({escape_markdown(sharing_label(entry))}): it fits "
                       f"{escape_markdown(runtime.model_id)}.")
        except RagtuneError as exc:  # nothing is stored: the file failed a check
            st.error(f"Rejected: {exc}")


def train_form(runtime) -> None:
    missing = missing_training_packages()
    if missing:
        st.info(f"Training needs the optional packages {', '.join(missing)}. Install them with `{INSTALL_HINT}` "
                "and restart the app.", icon=":material/download:")
        return
    st.caption(f"Trains a LoRA for the loaded model `{runtime.model_id}` in a background process: it keeps "
               'going if you leave the page. One JSONL line per example: `{"messages": [{"role": "user", '
               '"content": …}, {"role": "assistant", "content": …}]}`.')
    data = st.file_uploader("Training examples (JSONL)", type=["jsonl"], key="ad_train_file")
    name = st.text_input("Adapter name", key="ad_train_name", placeholder="my-adapter")
    values = render_train_options(TrainOptions(), key="ad_train")
    if st.button("Start training", key="ad_train_start", type="primary", disabled=data is None or not name):
        try:
            options = TrainOptions.checked(values)  # the field and the rule, never pydantic's own text
            jobs = session_scope().training_jobs(get_settings())  # the job, and its adapter, are the user's
            job = jobs.start(name=name, base_model_id=runtime.model_id, data=data.getvalue(), data_name=data.name,
                             options=options)
            st.success(f"Started '{escape_markdown(job.name)}': {job.total_steps} steps. Progress shows below.")
        except RagtuneError as exc:
            st.error(escape_markdown(str(exc)))


def jobs_panel() -> None:
    with errors_shown("the training jobs panel"):  # a fragment reruns on its own, outside the page's guard
        jobs = session_scope().training_jobs(get_settings())  # the user's own (an admin: everyone's)
        states = jobs.list()
        if states:
            st.subheader("Training jobs")
        for job in states:
            render_job(job, key=f"ad_job_{job.id}", log=jobs.log_tail(job.id) if job.status == "failed" else "")
            if job.active and st.button("Cancel", key=f"ad_cancel_{job.id}", icon=":material/cancel:"):
                jobs.cancel(job.id)
                st.toast("Cancelling: it stops before its next step.")
            if not job.active and st.button("Remove from the list", key=f"ad_forget_{job.id}"):
                jobs.forget(job.id)
                st.rerun()


def adapters_page() -> None:
    runtime = get_runtime()  # a model that fails to load is shown by the page's guard
    status = get_backend_status(runtime.model_id)
    if status is not None and status.kind == "server":  # a new adapter reaches the server when it restarts
        render_server_adapters(status, key="ad_server")
    tab_list, tab_try, tab_add, tab_train = st.tabs(["Adapters", "Try", "Upload", "Train"])
    with tab_list:
        library(runtime)
    with tab_try:
        try_box(runtime)
    with tab_add:
        upload(runtime)
    with tab_train:
        train_form(runtime)
        active = any(job.active for job in session_scope().training_jobs(get_settings()).list())
        st.fragment(jobs_panel, run_every=2.0 if active else None)()


st.title("Adapters")
st.caption("LoRA adapters change how the model behaves: their cards say what each was trained on, how well it "
           "works and what it costs in speed. Try one, add one, or train one from your own examples.")
with errors_shown("the Adapters page"):
    adapters_page()
