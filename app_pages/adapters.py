"""Adapters: the LoRA adapters with their cards, a quick try, upload, delete, and training."""

from __future__ import annotations

import streamlit as st

from app_resources import get_catalog, get_runtime, get_settings
from pydantic import ValidationError

from components.adapters import render_adapter_card, render_job, render_try
from components.safe import error_message, errors_shown, escape_markdown
from ragtune.errors import InputError, RagtuneError
from ragtune.gguf_files import check_adapter_file
from ragtune.runtime import AdapterUse
from ragtune.training.card import delete_card, load_card
from ragtune.training.deps import INSTALL_HINT, missing_training_packages
from ragtune.training.jobs import TrainingJobs
from ragtune.training.options import ALL_TARGETS, TrainOptions
from ragtune.training.tryout import STYLE_LABELS, style_for, try_messages, try_options, verdict

EXAMPLE_CONTEXT = "mowbot-m2-specifications#1: The Mowbot M2 costs $899 and mows up to 1,200 m².\nwarranty-policy#0: Tidewell robots have a two-year warranty."


def fit_problem(path, runtime) -> str | None:
    try:
        check_adapter_file(path, runtime.summary)
    except RagtuneError as exc:
        return str(exc)
    return None


def library(runtime) -> None:
    catalog = get_catalog()
    entries = catalog.list()
    if not entries:
        st.info("No adapters yet: upload one below or train one.", icon=":material/info:")
    for entry in entries:
        render_adapter_card(entry, load_card(entry.path), fits=fit_problem(entry.path, runtime), key=f"ad_card_{entry.name}")
        if entry.origin != "user":
            continue
        if st.session_state.get("ad_confirm") == entry.name:
            st.warning(f"Delete '{escape_markdown(entry.name)}' and its card? This cannot be undone.",
                       icon=":material/warning:")
            yes, no = st.columns(2)
            if yes.button("Yes, delete it", key=f"ad_yes_{entry.name}", type="primary"):
                try:
                    catalog.remove(entry.name)
                    delete_card(entry.path)
                except RagtuneError as exc:
                    st.error(str(exc))
                st.session_state.pop("ad_confirm", None)
                st.rerun()
            if no.button("Keep it", key=f"ad_no_{entry.name}"):
                st.session_state.pop("ad_confirm", None)
                st.rerun()
        elif st.button(f"Delete {entry.name}", key=f"ad_delete_{entry.name}", icon=":material/delete:"):
            st.session_state["ad_confirm"] = entry.name
            st.rerun()


def try_box(runtime) -> None:
    fitting = {e.name: e for e in get_catalog().list() if fit_problem(e.path, runtime) is None}
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
    text = st.text_area("Input", "How much does the Mowbot M2 cost?", key="ad_try_input", max_chars=4000)
    if not st.button("Compare", key="ad_try_run", icon=":material/compare:"):
        return
    try:
        messages = try_messages(style, text, context=context)
        options = try_options(style)
        with st.spinner("Generating with and without the adapter…"):
            base = runtime.chat(messages, options=options)
            adapted = runtime.chat(messages, adapters=[AdapterUse(path=entry.path)], options=options)
        render_try(base, adapted, base_note=verdict(style, base, context=context),
                   adapter_note=verdict(style, adapted, context=context), key="ad_try_out")
    except RagtuneError as exc:
        st.error(str(exc))


def upload(runtime) -> None:
    file = st.file_uploader("A GGUF LoRA adapter", type=["gguf"], key="ad_upload")
    name = st.text_input("Name", value=file.name.removesuffix(".gguf") if file else "", key="ad_upload_name")
    if st.button("Check and add", key="ad_upload_save", disabled=file is None):
        try:  # the catalog stores the file only once every check has passed
            entry = get_catalog().add(name or file.name, file.getvalue(), base=runtime.summary)
            st.success(f"Added '{escape_markdown(entry.name)}': it fits {escape_markdown(runtime.model_id)}.")
        except (RagtuneError, ValidationError) as exc:  # nothing is stored: the file failed a check
            st.error(f"Rejected: {error_message(exc)}")


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
    d = TrainOptions()
    c1, c2, c3, c4 = st.columns(4)
    rank = c1.number_input("Rank", 1, 128, d.rank, key="ad_train_rank")
    alpha = c2.number_input("Alpha", 1.0, 512.0, d.alpha, key="ad_train_alpha")
    steps = c3.number_input("Steps", 1, 10_000, 60, key="ad_train_steps")
    batch = c4.number_input("Batch", 1, 64, 4, key="ad_train_batch")
    lr = c1.number_input("Learning rate", 1e-6, 0.1, 1e-3, format="%.5f", key="ad_train_lr")
    max_length = c2.number_input("Max tokens", 32, 4096, 512, key="ad_train_maxlen")
    targets = c3.multiselect("Modules", list(ALL_TARGETS), list(ALL_TARGETS), key="ad_train_targets")
    seed = c4.number_input("Seed", 0, 2**31 - 1, d.seed, key="ad_train_seed")
    if st.button("Start training", key="ad_train_start", type="primary", disabled=data is None or not name):
        try:
            options = TrainOptions(rank=rank, alpha=alpha, steps=steps, batch_size=batch, learning_rate=lr,
                                   max_length=max_length, target_modules=targets or list(ALL_TARGETS), seed=seed)
            job = TrainingJobs(get_settings()).start(name=name, base_model_id=runtime.model_id, data=data.getvalue(),
                                                    data_name=data.name, options=options)
            st.success(f"Started '{escape_markdown(job.name)}': {job.total_steps} steps. Progress shows below.")
        except ValidationError as exc:  # the field and the rule, never pydantic's own text
            st.error(str(InputError.from_validation(exc, what="Invalid hyperparameters")))
        except (RagtuneError, ValueError) as exc:
            st.error(escape_markdown(str(exc)))


def jobs_panel() -> None:
    with errors_shown("the training jobs panel"):  # a fragment reruns on its own, outside the page's guard
        _jobs_panel()


def _jobs_panel() -> None:
    jobs = TrainingJobs(get_settings())
    states = jobs.list()
    if not states:
        return
    st.subheader("Training jobs")
    for job in states:
        render_job(job, key=f"ad_job_{job.id}")
        if job.active and st.button("Cancel", key=f"ad_cancel_{job.id}", icon=":material/cancel:"):
            jobs.cancel(job.id)
            st.toast("Cancelling: it stops before its next step.")
        if not job.active and st.button("Remove from the list", key=f"ad_forget_{job.id}"):
            jobs.forget(job.id)
            st.rerun()


def adapters_page() -> None:
    try:
        runtime = get_runtime()
    except RagtuneError as exc:
        st.error(str(exc))
        return
    tab_list, tab_try, tab_add, tab_train = st.tabs(["Adapters", "Try", "Upload", "Train"])
    with tab_list:
        library(runtime)
    with tab_try:
        try_box(runtime)
    with tab_add:
        upload(runtime)
    with tab_train:
        train_form(runtime)
        active = any(job.active for job in TrainingJobs(get_settings()).list())
        st.fragment(jobs_panel, run_every=2.0 if active else None)()


st.title("Adapters")
st.caption("LoRA adapters change how the model behaves: their cards say what each was trained on, how well it "
           "works and what it costs in speed. Try one, add one, or train one from your own examples.")
with errors_shown("the Adapters page"):
    adapters_page()
