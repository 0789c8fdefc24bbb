"""The routing mode: the seed's combined pattern, run.

User -> intent classifier (a fine-tuned adapter) -> route -> response. A routing mode
(:attr:`ragtune.modes.Mode.router`) answers a query in two steps:

1. **routing**: the classifier adapter (``ticket-router``) reads the query in the prompt it was
   trained on (:func:`ragtune.prompts.router_messages`, the mode's labels in order) and emits one
   label, greedily; an output that is not exactly a known label takes the router's default route.
   Its time is its own stage (``routing_ms``), its tokens and compute are counted in the answer's
   cost, and the answer records what it said (:class:`~ragtune.answer.RouteTaken`).
2. **the route**: another mode answers (RAG + LoRA for a product question, the base model for
   small talk), streamed like any mode; or the route's fixed answer is given at once (a hand-off,
   no model call).

:meth:`ragtune.pipeline.Pipeline.stream` dispatches here for a routing mode, so the Lab, the CLI,
the query log and the evaluation run routing modes like any other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ragtune.answer import Answer, AnswerTimings, ParseReport, RouteTaken
from ragtune.economics import CostBreakdown, query_cost
from ragtune.errors import InputError, ModeError, ModeUnavailableError, WorkspaceError
from ragtune.modes import BUILTIN_MODES, Mode, ModeStore, Route, Router
from ragtune.prompts import parse_label, router_messages
from ragtune.runtime.base import AdapterUse, CompletionResult, GenerationOptions

if TYPE_CHECKING:
    from ragtune.pipeline import AnswerStream, Pipeline

_BUILTIN = {m.id: m for m in BUILTIN_MODES}


@dataclass(frozen=True)
class Decision:
    """What the routing step decided: the router's output, the label it is (None: no known label),
    the route and the mode that answers on it (None: the route's fixed answer), and the step's
    time (wall time to the route's start, less the wait for the model)."""

    router: Router
    result: CompletionResult
    adapters: list[AdapterUse]
    label: str | None
    route: Route
    target: Mode | None
    routing_ms: float


def router_adapters(pipeline: Pipeline, mode: Mode) -> list[AdapterUse]:
    """The classifier adapter of a routing mode, loaded; every route's mode is checked too, so a
    routing mode is unavailable when any of its routes could not answer.

    Raises:
        ModeUnavailableError: the router's adapter, or an adapter a route needs, is missing or
            does not fit the loaded model.
        ModeError: a route names an unknown mode or a routing mode.
    """
    router = _router_of(mode)
    adapters = pipeline.adapter_for(Mode(id=mode.id, label=mode.label, adapter=router.adapter))
    for route in router.routes:
        target = route_mode(pipeline, mode, route)
        if target is not None:
            try:
                pipeline.adapter_for(target)
            except ModeUnavailableError as exc:
                raise ModeUnavailableError(f"Mode '{mode.label}', route '{route.name}': {exc}") from exc
    return adapters


def route_mode(pipeline: Pipeline, mode: Mode, route: Route) -> Mode | None:
    """The mode a route answers with (None: a fixed answer). A built-in id is looked up first, so
    a damaged modes file cannot stop a route to a built-in mode.

    Raises:
        ModeError: the id is unknown, or the mode routes again (recursion).
    """
    if route.answer is not None:
        return None
    target = route.mode
    if target is None:
        assert route.mode_id is not None  # the Route validator: exactly one target
        target = _BUILTIN.get(route.mode_id)
        if target is None:
            try:
                target = ModeStore(pipeline.settings.modes_file).get(route.mode_id)
            except ModeError as exc:
                raise ModeError(f"Mode '{mode.label}', route '{route.name}': {exc}") from exc
    if target.router is not None:
        raise ModeError(f"Mode '{mode.label}', route '{route.name}' goes to the routing mode '{target.id}': "
                        "routing would recurse.")
    return target


def classify(pipeline: Pipeline, query: str, mode: Mode, *, with_adapter: bool = True
             ) -> tuple[CompletionResult, str | None, list[AdapterUse]]:
    """The router's output for a query, the known label it is (None: not one), and the adapters
    it ran with. ``with_adapter=False`` asks the base model with the same prompt (the baseline the
    routing evaluation compares against).

    Raises:
        InputError: the query is empty (or too long for the model's context).
        ModeUnavailableError: the router's adapter is missing or does not fit.
    """
    router = _router_of(mode)
    query = query.strip()
    if not query:
        raise InputError("The question is empty: type a question first.")
    adapters = pipeline.adapter_for(Mode(id=mode.id, label=mode.label, adapter=router.adapter)) if with_adapter else []
    labels = list(router.labels)
    # Greedy, whatever the Lab's temperature: a route must not depend on a sampling draw.
    options = GenerationOptions(max_tokens=router.max_tokens, temperature=0.0, seed=pipeline.settings.seed)
    result = pipeline.runtime.chat(router_messages(query, labels), adapters=adapters, options=options)
    return result, parse_label(result.text, labels), adapters


def decide(pipeline: Pipeline, query: str, mode: Mode) -> Decision:
    """Run the classifier on the query and pick the route.

    Raises:
        InputError: the query is empty (or too long for the model's context).
        ModeUnavailableError: the router's adapter is missing or does not fit.
        ModeError: the route leads to an unknown or a routing mode.
    """
    started = time.perf_counter()
    result, label, adapters = classify(pipeline, query, mode)
    router = _router_of(mode)
    route = router.route_for(label)
    target = route_mode(pipeline, mode, route)
    # The stage is wall time up to the route's start, less the wait for the model (its own stage).
    routing_ms = (time.perf_counter() - started) * 1000.0 - result.timings.queue_wait_ms
    return Decision(router, result, adapters, label, route, target, round(max(routing_ms, 0.0), 3))


def _router_of(mode: Mode) -> Router:
    if mode.router is None:
        raise ModeError(f"Mode '{mode.label}' is not a routing mode.")
    return mode.router


class RoutedStream:
    """A routing mode's answer as it streams: the route's text (or its fixed answer at once);
    :meth:`answer` returns the finished answer with the route recorded."""

    def __init__(self, pipeline: Pipeline, query: str, mode: Mode, workspace: str | None,
                 decision: Decision, inner: AnswerStream | None) -> None:
        self.pipeline = pipeline
        self.query = query.strip()
        self.mode = mode
        self.workspace = workspace or None
        self.decision = decision
        self._inner = inner
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._inner is not None:
            yield from self._inner
        else:
            yield self.decision.route.answer or ""

    def answer(self) -> Answer:
        """Finish the route (if not yet read) and return the answer."""
        if self._answer is None:
            inner = self._inner.answer() if self._inner is not None else self._fixed_answer()
            self._answer = _with_route(self.pipeline, self.mode, self.decision, inner)
        return self._answer

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def _fixed_answer(self) -> Answer:
        d = self.decision
        return Answer(
            query=self.query, mode=self.mode, workspace=self.workspace, model_id=d.result.model_id, adapter=None,
            adapters_applied=[], text=d.route.answer or "", finish_reason="stop",
            parse=ParseReport(status="free_text", detail=f"the fixed answer of route '{d.route.name}'"),
            retrieved=[], citations=[], timings=AnswerTimings(), cost=_router_cost(self.pipeline, d),
            created_at=datetime.now(timezone.utc),
        )


def stream_routed(pipeline: Pipeline, query: str, mode: Mode, workspace: str | None) -> RoutedStream:
    """Classify the query, then start its route (what :meth:`Pipeline.stream` does for a routing mode).

    Raises:
        InputError: empty query.
        ModeUnavailableError: the router's adapter or the route's needs (adapter, workspace) are missing.
        ModeError: the route leads to an unknown or a routing mode.
        WorkspaceError: the route retrieves from a workspace that does not exist.
    """
    decision = decide(pipeline, query, mode)
    inner = None
    if decision.target is not None:
        where = f"Mode '{mode.label}' routed the query to '{decision.route.name}'"
        try:
            inner = pipeline.stream(query, decision.target, workspace)
        except ModeUnavailableError as exc:
            raise ModeUnavailableError(f"{where}, which cannot run: {exc}") from exc
        except WorkspaceError as exc:
            raise WorkspaceError(f"{where}, which cannot run: {exc}") from exc
    return RoutedStream(pipeline, query, mode, workspace, decision, inner)


def _router_cost(pipeline: Pipeline, d: Decision) -> CostBreakdown:
    t = d.result.timings
    return query_cost(
        compute_seconds=d.routing_ms / 1000.0, prompt_tokens=t.prompt_tokens,
        cached_prompt_tokens=t.cached_prompt_tokens, completion_tokens=t.completion_tokens, uses_adapter=True,
        config=pipeline.economics, default_dollars_per_hour=pipeline.settings.compute_dollars_per_hour,
    )


def _with_route(pipeline: Pipeline, mode: Mode, d: Decision, inner: Answer) -> Answer:
    """The route's answer as the routing mode's: the routing stage added to its timings, the
    router's tokens and compute to its cost, and the route recorded."""
    r, t = d.result.timings, inner.timings
    before = d.routing_ms + r.queue_wait_ms  # everything the query spent before its route started
    timings = AnswerTimings(**{
        **t.model_dump(),
        "queue_wait_ms": t.queue_wait_ms + r.queue_wait_ms,
        "routing_ms": d.routing_ms,
        "ttft_ms": t.ttft_ms + before,
        "total_ms": t.total_ms + before,
    })
    economics = pipeline.economics
    cost = query_cost(
        compute_seconds=timings.compute_ms / 1000.0, prompt_tokens=t.prompt_tokens + r.prompt_tokens,
        cached_prompt_tokens=t.cached_prompt_tokens + r.cached_prompt_tokens,
        completion_tokens=t.completion_tokens + r.completion_tokens, uses_adapter=True, config=economics,
        default_dollars_per_hour=pipeline.settings.compute_dollars_per_hour,
    )
    # Each adapter was trained once: the router's training and the route's adapter's, if any.
    cost = cost.model_copy(update={"one_time_usd": economics.training_cost_usd * (1 + bool(inner.adapter))})
    route = RouteTaken(
        router_adapter=d.router.adapter, raw_output=d.result.text, label=d.label, route=d.route.name,
        answered_by=d.target, timings=r, cost=_router_cost(pipeline, d),
    )
    return inner.model_copy(update={"mode": mode, "timings": timings, "cost": cost, "route": route})
