"""The multi-tenant demo's views: the same question asked as two users, side by side (the Tour's "Different
users, different facts" step and the Lab's "Two tenants" preset): the question, each persona's column as it
answers, the permission lines, the shared format, the live check and the measured rates."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING

import streamlit as st

from components.answer_card import render_answer_card
from components.safe import CURSOR, Redraws, escape_markdown, inline_code
from ragtune.errors import RagtuneError
from ragtune.lab import MAX_QUESTION_CHARS, check_question
from ragtune.tenant_ask import (PersonaAnswered, PersonaStarted, PersonaToken, TenantsDone, measure_command,
                                shared_mode)

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from ragtune.tenant_ask import TenantAnswer, TenantCheck, TenantComparison, TenantDemo, TenantEvent
    from ragtune.tenants import Tenant

MARKS = {True: ":green[:material/check:]", False: ":red[:material/close:]", None: ":gray[:material/remove:]"}


def _render_persona_head(t: Tenant) -> None:
    st.subheader(escape_markdown(f"{t.persona.name} · {t.short}"), anchor=False)
    st.caption(escape_markdown(f"{t.persona.email} · workspace {t.workspace} · {t.name}, {t.region} "
                               f"(prices in {t.currency})"))


def _render_persona_answer(a: TenantAnswer, *, key: str) -> None:
    """One persona's column below its head: why there is no answer, or the answer card."""
    if a.denied or a.withheld:
        st.error(escape_markdown(a.denied or a.withheld), icon=":material/block:")
    elif a.error or a.answer is None:
        st.error(escape_markdown(a.error or "No answer."))
    else:
        render_answer_card(a.answer, verdict=a.judgement, not_judged=a.not_judged, key=key)


def _render_checks(checks: Sequence[TenantCheck], *, key: str) -> None:
    """The live check: each line ✓ or ✗ (or – when not judged) with its evidence."""
    judged = [c for c in checks if c.held is not None]
    held = sum(c.held is True for c in judged)
    with st.container(border=True, key=key):
        st.markdown(f":material/checklist: **On this run: {held} of {len(judged)} checks held**")
        for c in checks:
            st.markdown(f"{MARKS[c.held]} {escape_markdown(c.text)}", help=escape_markdown(c.detail) or None)
        if held < len(judged):
            st.caption("A check that did not hold is shown as it is: the measured rate says how often the model "
                       "gets each tenant's fact.")


def _render_shared(comparison: TenantComparison, *, key: str) -> None:
    check = comparison.shared_format()
    with st.container(key=key):
        st.markdown(f":material/share: **Behaviour shared, knowledge separated.** "
                    f"{escape_markdown(check.text)}: {escape_markdown(check.detail)}.")


def render_tenant_comparison(comparison: TenantComparison, *, key: str) -> None:
    """A finished two-tenant run: a column per persona (their answer card, or why they were not asked),
    the shared-format line, then the live check."""
    st.markdown(f"**Asked as each user:** {escape_markdown(comparison.question)}")
    for column, a in zip(st.columns(len(comparison.answers)), comparison.answers):
        with column, st.container(border=True, key=f"{key}_{a.tenant.id}"):
            _render_persona_head(a.tenant)
            _render_persona_answer(a, key=f"{key}_{a.tenant.id}_card")
    _render_shared(comparison, key=f"{key}_shared")
    _render_checks(comparison.checks(), key=f"{key}_check")


def render_tenant_live(events: Generator[TenantEvent, None, None], tenants: Sequence[Tenant], *,
                       key: str) -> TenantComparison | None:
    """Stream a two-tenant run (:func:`ragtune.tenant_ask.ask_as_tenants`) into a column per persona under a
    progress bar ("User 1 of 2: Ana in tenant-north"), each column's answer card as it ends, then the shared
    line and the live check. Returns the finished comparison (None: stopped early). The events are closed
    when drawing stops (a rerun, the page left), which frees the model."""
    bar = st.progress(0.0, text=f"Asking as {len(tenants)} users…")
    columns = st.columns(len(tenants))
    slots: dict[int, DeltaGenerator] = {}
    texts: dict[int, str] = {}
    redraws = Redraws()
    with closing(events):
        for event in events:
            if isinstance(event, PersonaStarted):
                bar.progress(event.index / event.total, text=escape_markdown(
                    f"User {event.index + 1} of {event.total}: {event.tenant.persona.name} in "
                    f"{event.tenant.workspace}"))
                with columns[event.index], st.container(border=True, key=f"{key}_{event.tenant.id}"):
                    _render_persona_head(event.tenant)
                    slots[event.index] = st.empty()
            elif isinstance(event, PersonaToken):
                texts[event.index] = texts.get(event.index, "") + event.text
                if redraws.due(event.index):
                    slots[event.index].markdown(escape_markdown(texts[event.index]) + CURSOR)  # the model's text: inert
            elif isinstance(event, PersonaAnswered):
                with slots[event.index].container():
                    _render_persona_answer(event.answer, key=f"{key}_{event.answer.tenant.id}_card")
            elif isinstance(event, TenantsDone):
                bar.progress(1.0, text=f"{len(tenants)} of {len(tenants)} users answered.")
                _render_shared(event.comparison, key=f"{key}_shared")
                _render_checks(event.comparison.checks(), key=f"{key}_check")
                return event.comparison
    return None


def render_tenant_measured(demo: TenantDemo, *, key: str) -> None:
    """The rates measured over the whole tenant set, per tenant (the shared adapter's and, for comparison,
    retrieval alone), with n and the run they come from; how to measure a tenant not measured yet; and how
    typical the question asked first is."""
    labels = {"rag+lora": "RAG + LoRA (the shared adapter)", "rag": "RAG alone (no adapter)"}
    with st.container(border=True, key=key):
        st.markdown(":material/fact_check: **Measured over the whole tenant set**")
        for t in demo.tenants:
            mine = [r for r in demo.rates if r.workspace == t.workspace]
            for rate in mine:
                st.markdown("- " + escape_markdown(rate.text(labels.get(rate.mode_id, rate.mode_id))))
            if mine:
                st.caption(escape_markdown(f"From {mine[0].provenance()}."))
            else:
                st.caption(f"{escape_markdown(t.workspace)}: not measured on this model yet — "
                           f"{inline_code(measure_command(t.workspace))}")
        if demo.rates:
            clear = demo.showcase[1]
            st.caption(f"The question offered first was chosen by measurement: every user got their own tenant's "
                       f"answer on {clear} of the {len(demo.questions)} questions in the measured runs"
                       + (": a clear example, not a typical one." if clear else ", so expect a ✗."))


def render_two_tenants(demo: TenantDemo, *, measured: bool = False, key: str) -> None:
    """The two-tenant run as a whole: a tenant question to pick (the measured showcase first) or one's own, "Ask
    as both users", the run live, and, later, the finished comparison (kept in ``st.session_state[key +
    "_shown"]``); with tenant workspaces missing, it says so instead, with a button that sets them up (when the
    user may). ``measured``: the measured rates first (:func:`render_tenant_measured`). The widgets' keys are
    ``{key}_pick``, ``_question``, ``_run`` (and ``_setup``)."""
    if measured:
        render_tenant_measured(demo, key=f"{key}_measured")
    if demo.missing:
        st.info(escape_markdown(f"The tenant workspaces are not set up here ({', '.join(demo.missing)}): the demo "
                                "is turned off (RAGTUNE_DEMO_TENANTS, RAGTUNE_DEMO_WORKSPACE) or they were deleted.")
                + ("" if demo.setup else " An admin can set them up again here."), icon=":material/group_off:")
        if demo.setup is not None and st.button("Set up the tenant workspaces", key=f"{key}_setup",
                                                icon=":material/group_add:"):
            with st.spinner("Ingesting the tenants' documents (the missing workspaces only)…"):
                demo.setup()
            st.rerun()
        return
    if f"{key}_question" not in st.session_state:
        st.session_state[f"{key}_question"] = st.session_state[f"{key}_pick"] = demo.showcase[0]

    def use_pick() -> None:
        if picked := st.session_state.get(f"{key}_pick"):
            st.session_state[f"{key}_question"] = picked

    st.selectbox("Tenant demo question (each tenant has its own answer)", ["", *demo.questions], key=f"{key}_pick",
                 on_change=use_pick, format_func=lambda q: q or "(your own question)")
    question = st.text_area(f"Question (up to {MAX_QUESTION_CHARS:,} characters)", key=f"{key}_question",
                            height=68)
    mode = shared_mode()
    names = " and ".join(t.persona.name for t in demo.tenants)
    st.caption(escape_markdown(f"Asked as {names}, each in their own workspace, in one shared mode: {mode.label} "
                               f"({mode.summary()})."))
    if st.button("Ask as both users", key=f"{key}_run", type="primary", icon=":material/group:"):
        try:
            question = check_question(question)
        except RagtuneError as exc:  # an empty or over-long question: said before anything runs
            st.error(escape_markdown(str(exc)))
            return
        st.session_state[f"{key}_shown"] = render_tenant_live(demo.ask(question), demo.tenants, key=f"{key}_live")
        return
    if (shown := st.session_state.get(f"{key}_shown")) is not None:
        render_tenant_comparison(shown, key=f"{key}_shown")


PRESETS = {"modes": "Modes side by side", "tenants": "Two tenants: one question, two users"}


def render_lab_preset(asked: object, *, key: str) -> str:
    """The Lab's preset: modes side by side (the usual comparison) or the two-tenant run; ``asked``: the link's
    ``preset`` value (``?preset=tenants`` opens the Lab on the two tenants), honoured on first view only."""
    if key not in st.session_state:
        st.session_state[key] = asked if asked in PRESETS else "modes"
    chosen = st.segmented_control("Compare", list(PRESETS), format_func=PRESETS.__getitem__, required=True,
                                  key=key)
    return chosen or "modes"
