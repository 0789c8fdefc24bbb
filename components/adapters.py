"""Adapter cards, training-job progress and side-by-side tries, drawn from domain objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from components.format import PLOTLY_CONFIG
from components.safe import escape_markdown, inline_code
from ragtune.training.options import ALL_TARGETS

if TYPE_CHECKING:
    from ragtune.adapters import AdapterFile
    from ragtune.runtime import CompletionResult
    from ragtune.training.card import AdapterCard, LossPoint
    from ragtune.training.jobs import JobState
    from ragtune.training.options import TrainOptions


def loss_figure(points: list[LossPoint], *, height: int = 220) -> go.Figure:
    """Training loss per step, with a moving average (single steps are noisy at small batches)."""
    steps = [p.step for p in points]
    losses = [p.loss for p in points]
    window = max(1, len(points) // 10)
    smooth = [sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1]) for i in range(len(losses))]
    fig = go.Figure()
    fig.add_scatter(x=steps, y=losses, mode="lines", name="loss", line={"color": "#90caf9", "width": 1})
    fig.add_scatter(x=steps, y=smooth, mode="lines", name=f"mean of {window}", line={"color": "#1565c0", "width": 2})
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="step", yaxis_title="loss",
        legend={"orientation": "h", "y": 1.1},
    )
    return fig


def sharing_label(entry: AdapterFile) -> str:
    """Who may use an adapter: ``shipped`` and ``shared`` (an admin's) ones are everyone's, a ``personal`` one
    only its owner's (and the admins')."""
    if entry.origin == "shipped":
        return "shipped"
    return f"personal: {entry.owner}" if entry.owner else "shared"


def render_adapter_card(entry: AdapterFile, card: AdapterCard | None, *, fits: str | None, key: str) -> None:
    """One adapter: who may use it (shipped, shared, personal), size, fit with the loaded model and, when it has a
    card, how it was trained (base, data, hyperparameters, loss curve), how well it works and what it costs."""
    with st.container(border=True, key=key):
        st.markdown(f"**{escape_markdown(entry.name)}** · {escape_markdown(sharing_label(entry))} · "
                    f"{entry.size_bytes / 1e6:.1f} MB on disk")
        if fits is None:
            st.caption(":material/check_circle: fits the loaded model")
        else:
            st.warning(f"Does not fit the loaded model: {escape_markdown(fits)}", icon=":material/block:")
        if card is None:
            st.caption("No model card (an uploaded file): nothing is known about how it was trained.")
            return
        if card.description:
            st.caption(escape_markdown(card.description))
        o = card.options
        cols = st.columns(4)
        cols[0].metric("Examples", card.n_examples, help=f"{card.data_file}, sha256 {card.data_sha256[:12]}…")
        cols[1].metric("LoRA", f"r{o.rank} · {len(o.target_modules)} modules", help=", ".join(o.target_modules))
        cols[2].metric("Training time", f"{card.training_seconds / 60:.1f} min", help=f"on {card.device}" + (f", {card.machine.describe()}" if card.machine else ""))
        if card.speed is not None:
            cols[3].metric(
                "Generation speed", f"{card.speed.adapter_tokens_per_s:.0f} tok/s",
                delta=f"{-card.speed.cost_percent:.0f}% vs base", delta_color="normal",
                help=f"Base model: {card.speed.base_tokens_per_s:.0f} tok/s on the same prompts.",
            )
        else:
            cols[3].metric("Generation speed", "not measured")
        st.caption(
            f"Base `{card.base_model_id}` ({card.architecture}, sha256 {card.base_sha256[:12]}…) · alpha {o.alpha:g} · "
            f"batch {o.batch_size} · lr {o.learning_rate:g} · {len(card.loss_curve)} steps · max length {o.max_length}"
            + (f" · last {o.last_layers} layers" if o.last_layers else "")
        )
        left, right = st.columns([3, 2])
        if card.loss_curve:
            left.plotly_chart(loss_figure(card.loss_curve), config=PLOTLY_CONFIG, key=f"{key}-loss")
        if card.evaluation:
            rows = [
                {"metric": m.name, "adapter": f"{m.value:g}{m.unit}",
                 "base model": "" if m.baseline is None else f"{m.baseline:g}{m.unit}",
                 "n": "" if m.n is None else str(m.n), "note": m.note}
                for m in card.evaluation
            ]
            right.dataframe(rows, hide_index=True, key=f"{key}-eval")
        else:
            right.caption("No evaluation recorded.")
        if card.rationale or card.notes:
            with st.expander("Why this rank and these modules", icon=":material/tune:"):
                st.markdown(card.rationale or "")
                st.caption(card.notes)


def render_job(job: JobState, *, key: str, log: str = "") -> None:
    """A training job: status, progress with loss and time left, the live loss curve, errors,
    and for a failed job the end of its worker's ``log`` (shown as text, never as Markdown)."""
    with st.container(border=True, key=key):
        st.markdown(f"**{escape_markdown(job.name)}** on {inline_code(job.base_model_id)} · {job.status}")
        if job.active:
            eta = f", about {job.eta_s / 60:.1f} min left" if job.eta_s is not None else ""
            loss = f", loss {job.loss:.3f}" if job.loss is not None else ""
            st.progress(job.fraction, text=escape_markdown(f"Step {job.step} of {job.total_steps}{loss}{eta}. "
                                                           f"{job.message}"))
        elif job.status == "done":
            st.success(f"Done: {escape_markdown(job.message)}. It is in the list above and in the lab.",
                       icon=":material/check:")
        elif job.status == "cancelled":
            st.info(escape_markdown(job.message) or "Cancelled.", icon=":material/cancel:")
        else:
            st.error(escape_markdown(job.error or "Failed."))
            if log:
                with st.expander("log", icon=":material/description:"):
                    st.code(log, language=None, wrap_lines=True)
        if job.losses:
            st.plotly_chart(loss_figure(job.losses, height=180), config=PLOTLY_CONFIG, key=f"{key}-loss")


def render_train_options(defaults: TrainOptions, *, key: str) -> dict[str, object]:
    """The hyperparameter inputs of the training form; returns their values by option name."""
    c1, c2, c3, c4 = st.columns(4)
    return {
        "rank": c1.number_input("Rank", 1, 128, defaults.rank, key=f"{key}_rank"),
        "alpha": c2.number_input("Alpha", 1.0, 512.0, defaults.alpha, key=f"{key}_alpha"),
        "steps": c3.number_input("Steps", 1, 10_000, 60, key=f"{key}_steps"),
        "batch_size": c4.number_input("Batch", 1, 64, 4, key=f"{key}_batch"),
        "learning_rate": c1.number_input("Learning rate", 1e-6, 0.1, 1e-3, format="%.5f", key=f"{key}_lr"),
        "max_length": c2.number_input("Max tokens", 32, 4096, 512, key=f"{key}_maxlen"),
        "target_modules": c3.multiselect("Modules", list(ALL_TARGETS), list(ALL_TARGETS), key=f"{key}_targets")
        or list(ALL_TARGETS),
        "seed": c4.number_input("Seed", 0, 2**31 - 1, defaults.seed, key=f"{key}_seed"),
    }


def render_try(base: CompletionResult, adapted: CompletionResult, *, base_note: str, adapter_note: str, key: str) -> None:
    """The same input answered by the base model and with the adapter, side by side."""
    left, right = st.columns(2)
    for column, title, result, note in (
        (left, "Base model", base, base_note),
        (right, "With the adapter", adapted, adapter_note),
    ):
        with column.container(border=True, key=f"{key}-{title[:4]}"):
            st.markdown(f"**{title}**")
            st.code(result.text or "(empty)", language=None, wrap_lines=True)
            st.caption(f"{note} · {result.timings.tokens_per_s:.0f} tok/s · {result.timings.total_ms:.0f} ms")
