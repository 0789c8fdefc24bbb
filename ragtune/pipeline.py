"""The pipeline: (query, mode, workspace) -> :class:`Answer`.

One query goes through these steps (see ARCHITECTURE.md, "The data flow of one query"):

1. retrieval, if the mode retrieves: the workspace's top-k chunks      [retrieval ms]
2. the prompt of the mode's style, chunks numbered for citation (:mod:`ragtune.prompts`)
3. the runtime: queue for the model, switch to exactly the mode's adapter set, stream tokens
   until the answer ends: the cap of its shape (:mod:`ragtune.answer_caps`), the end of its
   JSON object, or a loop (:mod:`ragtune.runtime.stops`); a constrained mode's grammar comes
   from this query's schema (citations only of the retrieved chunks)
4. parsing: a JSON answer is checked against the schema; a failure is reported with its
   reason (cut off by the token limit, not JSON, schema violation, unknown citation), never
   hidden
5. citations resolved to chunks: the ones shown in the prompt, real chunks of the workspace
   the model never saw, ids that exist nowhere, or unverified ones (the knowledge base
   could not be reached: that is not evidence of an invented id)
6. costs (:mod:`ragtune.economics`)

The records it produces (:class:`~ragtune.answer.Answer` and its parts) live in :mod:`ragtune.answer`.

:meth:`Pipeline.stream` returns an :class:`AnswerStream` to iterate for the text as it is
generated; :meth:`AnswerStream.answer` then gives the finished :class:`Answer`. A routing mode
(the seed's combined pattern) is run by :mod:`ragtune.routing`: its classifier first, then its route.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from ragtune.answer import Answer, AnswerTimings, Citation, ParseReport, RetrievedChunk
from ragtune.answer_caps import answer_cap, answer_caps
from ragtune.economics import EconomicsConfig, query_cost
from ragtune.errors import AdapterError, AdapterNotServedError, InputError, ModeUnavailableError, RagtuneError, WorkspaceError
from ragtune.fewshot import fewshot_messages
from ragtune.modes import Mode
from ragtune.prompts import (
    CHUNK_ID_PATTERN,
    ContextChunk,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
    plain_messages,
)
from ragtune.retrieval.context import without_overlaps
from ragtune.routing import RoutedStream, router_adapters, stream_routed
from ragtune.runtime.base import AdapterUse, ChatMessage, Completion, CompletionResult, GenerationOptions
from ragtune.runtime.stops import FinishReason, RepetitionRule

if TYPE_CHECKING:
    from ragtune.adapters import AdapterCatalog
    from ragtune.config import Settings
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.runtime.base import Runtime


class PreparedQuery(BaseModel):
    """Everything decided before generation: chunks, messages, adapter, options."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    query: str
    mode: Mode
    workspace: str | None
    retrieved: list[RetrievedChunk]
    retrieval_ms: float
    messages: list[ChatMessage]
    adapters: list[AdapterUse]
    options: GenerationOptions


class AnswerStream:
    """Text pieces as they are generated; :meth:`answer` returns the finished answer."""

    def __init__(self, pipeline: Pipeline, prepared: PreparedQuery, completion: Completion,
                 started: float) -> None:
        self.pipeline = pipeline
        self.prepared = prepared
        self._completion = completion
        self._started = started
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._completion

    def answer(self) -> Answer:
        """Finish the stream (if not yet read) and return the answer."""
        if self._answer is None:
            self._answer = self.pipeline.finish(self.prepared, self._completion.consume())
        return self._answer

    def close(self) -> None:
        self._completion.close()


def _loose_citations(text: str) -> list[str]:
    """Citation ids from JSON that failed the schema (so they can still be checked)."""
    try:
        data = json.loads(text.strip())
    except (ValueError, RecursionError):  # not JSON, or hostile JSON (too deep, huge integer)
        return []
    cited = data.get("citations") if isinstance(data, dict) else None
    if not isinstance(cited, list):
        return []
    return [c for c in cited if isinstance(c, str)][:20]


class Pipeline:
    """Runs modes on one runtime and knowledge base.

    Args:
        runtime: the loaded model.
        kb: the knowledge base retrieval modes search (None: retrieval modes are unavailable).
        catalog: where adapter names are resolved.
        settings: defaults (answer length, temperature, seed, $/hour).
        economics: the cost settings (defaults when None).
    """

    def __init__(
        self,
        runtime: Runtime,
        kb: KnowledgeBase | None,
        catalog: AdapterCatalog,
        settings: Settings,
        economics: EconomicsConfig | None = None,
    ) -> None:
        self.runtime = runtime
        self.kb = kb
        self.catalog = catalog
        self.settings = settings
        self.economics = economics or EconomicsConfig()

    # -- before generation ---------------------------------------------------------------
    def adapter_for(self, mode: Mode) -> list[AdapterUse]:
        """The adapter set the mode asks for, resolved and checked against the loaded model.

        Raises:
            ModeUnavailableError: the adapter is not installed or does not fit the model (for a
                routing mode: its router's, or one a route needs).
        """
        if mode.router is not None:
            return router_adapters(self, mode)
        if not mode.adapter:
            return []
        try:
            # The adapter of that name shipped for the loaded model (each model has its own set).
            path = self.catalog.for_model(self.runtime.model_id).resolve(mode.adapter)
        except AdapterError as exc:
            if mode.adapter in self.catalog.taken_names():  # shipped, but for another model
                raise ModeUnavailableError(
                    f"Mode '{mode.label}' needs the adapter '{mode.adapter}', which ragtune ships for another "
                    f"model, not for {self.runtime.model_id} (an adapter fits only the model it was trained on). "
                    f"Load that model, train one for this model on the Adapters page (`python -m ragtune train "
                    f"--base {self.runtime.model_id}`), or pick another mode."
                ) from exc
            raise ModeUnavailableError(
                f"Mode '{mode.label}' needs the adapter '{mode.adapter}', which is not installed "
                f"({exc}) Train it on the Adapters page or with `python -m ragtune train`, or "
                "pick another mode."
            ) from exc
        try:
            self.runtime.load_adapter(path, name=mode.adapter)
        except AdapterNotServedError as exc:  # the model server lacks it: never answered without it
            raise ModeUnavailableError(f"Mode '{mode.label}' is unavailable: {exc}") from exc
        except AdapterError as exc:
            raise ModeUnavailableError(
                f"Mode '{mode.label}': the adapter '{mode.adapter}' does not fit the loaded model "
                f"{self.runtime.model_id}: {exc}"
            ) from exc
        return [AdapterUse(path=path, scale=mode.adapter_scale)]

    def retrieve(self, query: str, mode: Mode, workspace: str | None) -> tuple[list[RetrievedChunk], float]:
        """The chunks the mode shows the model, and how long the search took (ms)."""
        if not mode.retrieval:
            return [], 0.0
        if self.kb is None or not workspace:
            raise ModeUnavailableError(
                f"Mode '{mode.label}' retrieves, but no workspace is chosen: pick or create one "
                "on the Knowledge page."
            )
        started = time.perf_counter()
        result = self.kb.search(workspace, query, mode=mode.search, k=mode.k)
        took = (time.perf_counter() - started) * 1000.0
        # Neighbouring chunks share their overlap: the prompt shows those characters once.
        scores = {hit.chunk.chunk_id: hit.score for hit in result.hits}
        shown = without_overlaps([hit.chunk for hit in result.hits])
        chunks = [
            RetrievedChunk(
                number=i, chunk_id=chunk.chunk_id, doc_id=chunk.doc_id, title=chunk.title,
                section=chunk.section, version=chunk.version, score=scores[chunk.chunk_id], text=chunk.text,
                prompt_text="" if text == chunk.text else text,
            )
            for i, (chunk, text) in enumerate(shown, start=1)
        ]
        return chunks, round(took, 3)

    def messages_for(self, query: str, mode: Mode, chunks: list[RetrievedChunk]) -> list[ChatMessage]:
        """The conversation the mode sends (built by :mod:`ragtune.prompts`, as in training)."""
        if mode.prompt == "plain":
            return plain_messages(query)
        try:
            context = [ContextChunk(chunk_id=c.chunk_id, text=c.shown, title=c.title) for c in chunks]
        except ValidationError as exc:
            raise InputError(f"A retrieved chunk id cannot be cited: {exc}") from exc
        if mode.prompt == "fewshot":
            return fewshot_messages(query, context)
        return grounded_messages(query, context)

    def options_for(self, mode: Mode, chunks: list[RetrievedChunk]) -> GenerationOptions:
        """How the mode's answer is generated and where it ends: the cap of its answer's shape
        (:mod:`ragtune.answer_caps`; a JSON-asking mode whose output is not JSON gets a free-text
        answer's), the end of its JSON object when it asks for one, a loop
        (:class:`~ragtune.runtime.stops.RepetitionRule`), and for a constrained mode the grammar
        of this query's schema (its citations limited to ``chunks``)."""
        caps = answer_caps(self.runtime)
        # A JSON-asking mode whose output turns out to be free text is capped as free text.
        free_text = None if mode.max_tokens or not mode.expects_json else min(caps.plain_answer,
                                                                                 self.settings.max_tokens)
        return GenerationOptions(
            max_tokens=answer_cap(mode, caps, self.settings),
            temperature=self.settings.temperature,
            seed=self.settings.seed,
            json_schema=grounded_json_schema([c.chunk_id for c in chunks]) if mode.constrained else None,
            stop_at_json_end=mode.expects_json,
            free_text_max_tokens=free_text,
            repetition=RepetitionRule(),
        )

    def prepare(self, query: str, mode: Mode, workspace: str | None) -> PreparedQuery:
        """Retrieve, build the prompt, resolve the adapter (errors surface here, before streaming).

        Raises:
            InputError: empty query.
            ModeUnavailableError: missing adapter or workspace.
            WorkspaceError: the workspace does not exist.
        """
        query = query.strip()
        if not query:
            raise InputError("The question is empty: type a question first.")
        adapters = self.adapter_for(mode)
        try:
            retrieved, retrieval_ms = self.retrieve(query, mode, workspace)
        except WorkspaceError as exc:
            raise WorkspaceError(f"Mode '{mode.label}' cannot retrieve: {exc}") from exc
        messages = self.messages_for(query, mode, retrieved)  # first: it refuses an id that cannot be cited
        return PreparedQuery(
            query=query, mode=mode, workspace=workspace or None, retrieved=retrieved,
            retrieval_ms=retrieval_ms, messages=messages, adapters=adapters,
            options=self.options_for(mode, retrieved),
        )

    # -- generation ----------------------------------------------------------------------
    def stream(self, query: str, mode: Mode, workspace: str | None) -> AnswerStream | RoutedStream:
        """Start answering; iterate the result for text, then call ``answer()``."""
        if mode.router is not None:
            return stream_routed(self, query, mode, workspace)
        started = time.perf_counter()
        prepared = self.prepare(query, mode, workspace)
        completion = self.runtime.stream_chat(prepared.messages, adapters=prepared.adapters,
                                              options=prepared.options)
        return AnswerStream(self, prepared, completion, started)

    def run(self, query: str, mode: Mode, workspace: str | None) -> Answer:
        """Answer to the end."""
        return self.stream(query, mode, workspace).answer()

    # -- after generation ----------------------------------------------------------------
    def finish(self, prepared: PreparedQuery, result: CompletionResult) -> Answer:
        """The answer from a finished completion: parsed, citations resolved, costed."""
        mode = prepared.mode
        text, finish_reason, runtime_timings = result.text, result.finish_reason, result.timings
        timings = AnswerTimings(
            **{**runtime_timings.model_dump(),
               "ttft_ms": runtime_timings.ttft_ms + prepared.retrieval_ms,
               "total_ms": runtime_timings.total_ms + prepared.retrieval_ms},
            retrieval_ms=prepared.retrieval_ms,
        )
        parse = self._parse(text, finish_reason, prepared)
        cited = list(parse.parsed.citations) if parse.parsed is not None else _loose_citations(text)
        citations = [self._resolve(cid, prepared) for cid in dict.fromkeys(cited)]
        cost = query_cost(
            compute_seconds=timings.compute_ms / 1000.0,
            prompt_tokens=timings.prompt_tokens,
            cached_prompt_tokens=timings.cached_prompt_tokens,
            completion_tokens=timings.completion_tokens,
            uses_adapter=bool(prepared.adapters),
            config=self.economics,
            default_dollars_per_hour=self.settings.compute_dollars_per_hour,
        )
        return Answer(
            query=prepared.query, mode=mode, workspace=prepared.workspace, model_id=result.model_id,
            adapter=mode.adapter if prepared.adapters else None, adapters_applied=list(result.adapters),
            text=text, finish_reason=finish_reason, parse=parse, retrieved=prepared.retrieved,
            citations=citations, timings=timings, cost=cost, created_at=datetime.now(timezone.utc),
        )

    @staticmethod
    def _parse(text: str, finish_reason: FinishReason, prepared: PreparedQuery) -> ParseReport:
        if not prepared.mode.expects_json:
            return ParseReport(status="free_text", detail="no format was asked for")
        verdict = parse_grounded(text, finish_reason=finish_reason,
                                 allowed_ids=[c.chunk_id for c in prepared.retrieved])
        return ParseReport(status=verdict.status, detail=verdict.detail, parsed=verdict.answer)

    def _resolve(self, chunk_id: str, prepared: PreparedQuery) -> Citation:
        for chunk in prepared.retrieved:
            if chunk.chunk_id == chunk_id:
                return Citation(chunk_id=chunk_id, status="retrieved", number=chunk.number,
                                title=chunk.title, text=chunk.text)
        if not prepared.workspace or not re.match(CHUNK_ID_PATTERN, chunk_id):
            return Citation(chunk_id=chunk_id, status="unknown")
        if self.kb is None:
            return Citation(chunk_id=chunk_id, status="unverified")  # no knowledge base to look in
        doc_id, _, n = chunk_id.rpartition("#")
        try:
            chunks = self.kb.chunks(prepared.workspace, doc_id)
        except InputError:
            return Citation(chunk_id=chunk_id, status="unknown")  # no such document: invented
        except RagtuneError:
            # The store could not be read (damaged, unreachable): the id may well be real.
            return Citation(chunk_id=chunk_id, status="unverified")
        for chunk in chunks:
            if chunk.n == int(n):
                return Citation(chunk_id=chunk_id, status="not_retrieved", title=chunk.title, text=chunk.text)
        return Citation(chunk_id=chunk_id, status="unknown")
