"""Every component's render function, called with sample objects under AppTest, draws without
an exception (as streamlit-extras tests all its components).

The render functions are found by introspection (every public ``render_*`` of components/*.py),
so a new component is collected here on its own; it needs a sample in ``SAMPLES`` (the test of a
function without one fails and says so).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT

COMPONENTS = sorted(p.stem for p in (PROJECT_ROOT / "components").glob("*.py") if p.stem != "__init__")
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SAMPLES: dict[str, Callable[[], None]] = {}


def render_functions() -> list[str]:
    """``module.render_x`` for every public render function defined in components/."""
    found = []
    for stem in COMPONENTS:
        module = importlib.import_module(f"components.{stem}")
        found += [f"{stem}.{name}" for name, fn in inspect.getmembers(module, inspect.isfunction)
                  if name.startswith("render_") and fn.__module__ == module.__name__]
    return found


def sample(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        SAMPLES[name] = fn
        return fn
    return register


# -- sample objects ----------------------------------------------------------------------------

def timings():
    from ragtune.runtime.base import Timings
    return Timings(queue_wait_ms=3, prompt_eval_ms=40, generation_ms=200, total_ms=243, ttft_ms=45,
                   prompt_tokens=120, cached_prompt_tokens=20, completion_tokens=30, tokens_per_s=150)


def completion():
    from ragtune.runtime.base import CompletionResult
    return CompletionResult(text="The **warranty** is 2 years. ![x](http://evil/)", finish_reason="length",
                            model_id="local:tiny", timings=timings())


def chunk(n: int = 0):
    from ragtune.retrieval.types import Chunk
    return Chunk(chunk_id=f"guide#{n}", doc_id="guide", n=n, title="Mower guide", source="docs/guide.md",
                 section="Battery", version=2, updated_at=NOW, start=0, end=40,
                 text="The battery lasts 70 minutes. $450 <b>")


def search_result():
    from ragtune.retrieval.types import SearchHit, SearchResult
    hits = [SearchHit(rank=1, score=0.03, chunk=chunk(0), vector_score=0.8, keyword_score=2.1)]
    return SearchResult(workspace="team", query="battery", mode="hybrid", k=4, hits=hits, took_ms=12.0)


def document():
    from ragtune.retrieval.types import DocumentInfo
    return DocumentInfo(doc_id="guide", title="Mower guide", source="docs/guide.md", version=2, updated_at=NOW,
                        n_chunks=3, n_chars=400, sha256="0" * 64)


def ingest_report():
    from ragtune.retrieval.types import FileResult, IngestReport
    return IngestReport(workspace="team", files=[
        FileResult(name="guide.md", path="docs/guide.md", status="replaced", doc_id="guide", version=2, n_chunks=3),
        FileResult(name="bad.pdf", status="failed", error="bad.pdf: not a PDF."),
    ])


def model_spec():
    from ragtune.models import ModelSpec, PathSource
    return ModelSpec(id="local:tiny", name="Tiny *model*", source=PathSource(path=Path("tiny.gguf")), license="apache-2.0",
                     origin="tests/factories.py")


def gguf_summary():
    from ragtune.gguf.summary import GGUFSummary
    return GGUFSummary(path=Path("tiny.gguf"), size_bytes=2_000_000, file_type="model", architecture="llama",
                       tensors={"token_embd.weight": (64, 400)}, tensor_dtypes={"token_embd.weight": "F16"},
                       context_length=512, quantization="F16")


def log_entry():
    from ragtune.store import LogEntry
    return LogEntry(
        id=7, created_at=NOW, source="lab", run_id="r1", query="How long is the warranty?", mode_id="rag",
        mode_label="RAG", workspace="demo", model_id="local:tiny", adapter="", adapter_scale=1.0,
        retrieved_ids=["guide#0"], answer='{"answer": "2 years"}', display_answer="2 years",
        finish_reason="stop", parse_status="ok", parse_detail="",
        citations=[{"chunk_id": "guide#0", "status": "retrieved"}], retrieval_ms=5, queue_wait_ms=1,
        adapter_switch_ms=0, prompt_eval_ms=40, ttft_ms=45, generation_ms=200, total_ms=246,
        prompt_tokens=120, cached_prompt_tokens=20, completion_tokens=30, tokens_per_s=150,
        local_cost_usd=0.000012, api_model="gpt-4o-mini", api_cost_usd=0.00003, amortized_usd=0.0,
    )


# -- one sample per render function ------------------------------------------------------------

@sample("timings.render_timings")
def _():
    from components.timings import render_timings
    render_timings(timings(), key="t")


@sample("model_info.render_model_card")
def _():
    from components.model_info import render_model_card
    render_model_card(model_spec(), gguf_summary(), n_ctx=512, key="card")


@sample("sidebar.render_sidebar")
def _():
    from components.sidebar import LoadedModel, render_sidebar
    from ragtune.models import ModelStatus
    statuses = [ModelStatus(spec=model_spec(), path=Path("tiny.gguf"), available=True),
                ModelStatus(spec=model_spec().model_copy(update={"id": "big", "name": "Big"}), path=None,
                            available=False, hint="Run `make run`.")]
    render_sidebar(statuses, default_id="local:tiny", load=lambda _id: LoadedModel(model_spec(), gguf_summary(), 512),
                   add_local=lambda path: model_spec())


@sample("safe.render_untrusted_text")
def _():
    from components.safe import render_untrusted_text
    render_untrusted_text("![x](http://evil/) costs $5")
    render_untrusted_text("")


@sample("sidebar.render_added_models")
def _():
    from components.sidebar import render_added_models
    render_added_models([model_spec()], remove_local=lambda model_id: None)


@sample("decision.render_progress")
def _():
    _two_progress_steps()


@sample("format.render_format_badge")
def _():
    from components.format import render_format_badge
    render_format_badge("ok")
    render_format_badge("a status no one knows")


@sample("chat.render_exchange")
def _():
    from components.chat import render_exchange
    render_exchange("What is the warranty?", completion(), key="ex")


@sample("chat.render_answer_footer")
def _():
    from components.chat import render_answer_footer
    render_answer_footer(completion(), key="foot")


@sample("knowledge.render_workspace_manager")
def _():
    from components.knowledge import render_workspace_manager
    render_workspace_manager("team", restorable_demo="demo", expanded=True, key="kn")


@sample("knowledge.render_workspace_summary")
def _():
    from components.knowledge import render_workspace_summary
    from ragtune.retrieval.types import WorkspaceInfo
    render_workspace_summary(WorkspaceInfo(name="team", n_documents=2, n_chunks=9), key="sum")


@sample("knowledge.render_ingest_report")
def _():
    from components.knowledge import render_ingest_report
    render_ingest_report(ingest_report(), key="rep")


@sample("knowledge.render_document_table")
def _():
    from components.knowledge import render_document_table
    render_document_table([document()], key="docs")
    render_document_table([], key="none")


@sample("knowledge.render_document_picker")
def _():
    from components.knowledge import render_document_picker
    assert render_document_picker([document()], key="doc").doc_id == "guide"


@sample("knowledge.render_chunks")
def _():
    from components.knowledge import render_chunks
    render_chunks([chunk(0), chunk(1)], key="chunks")


@sample("knowledge.render_search_result")
def _():
    from components.knowledge import render_search_result
    render_search_result(search_result(), key="res")


@sample("knowledge.render_search_form")
def _():
    from components.knowledge import render_search_form
    assert render_search_form("hybrid", key="kn") is None  # a blank query asks for nothing


@sample("knowledge.render_demo_switch")
def _():
    from components.knowledge import render_demo_switch
    assert render_demo_switch("v1", key="demo") is None


@sample("knowledge.render_upload_limit")
def _():
    from components.knowledge import render_upload_limit
    assert render_upload_limit(200, 50) == 50


@sample("knowledge.render_uploader")
def _():
    from components.knowledge import render_uploader
    assert render_uploader(20, key="up") == ([], False)


@sample("knowledge.render_ingest_progress")
def _():
    from components.knowledge import render_ingest_progress
    report = ingest_report()

    def ingest(progress):
        for i, result in enumerate(report.files, start=1):
            progress(i, len(report.files), result)
        return report

    assert render_ingest_progress(ingest, n_files=2) is report


@sample("history.render_entry")
def _():
    from components.history import render_entry
    render_entry(log_entry(), key="entry")


@sample("history.render_log_table")
def _():
    from components.history import render_log_table
    assert render_log_table([log_entry()], key="log") is None


@sample("history.render_history_charts")
def _():
    from components.history import render_history_charts
    render_history_charts([log_entry(), log_entry().model_copy(update={"id": 8, "mode_id": "base"})], key="hc")
    render_history_charts([], key="empty")


@sample("answer_card.render_answer_card")
def _():
    from components.answer_card import render_answer_card
    render_answer_card(log_entry(), key="card")


# -- the contract ------------------------------------------------------------------------------

def run_sample(name: str) -> None:
    """The AppTest script: draw one sample."""
    from tests.test_components_contract import SAMPLES

    SAMPLES[name]()


@pytest.mark.parametrize("name", render_functions())
def test_every_render_function_draws_its_sample_without_an_exception(name, data_dir):
    assert name in SAMPLES, f"{name} has no sample: add one to SAMPLES in {Path(__file__).name}"
    at = AppTest.from_function(run_sample, args=(name,), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]


def test_render_progress_keys_its_container():
    """render_progress used to ignore its key: two steps on one page must be told apart."""
    at = AppTest.from_function(_two_progress_steps, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    keys = {getattr(c.proto, "id", "") for c in at.main.children.values()}
    assert any("step-one" in k for k in keys) and any("step-two" in k for k in keys), keys


def _two_progress_steps() -> None:
    from components.decision import render_progress
    from ragtune.decision.questions import STEPS

    render_progress(STEPS[0], total=len(STEPS), key="step-one")
    render_progress(STEPS[1], total=len(STEPS), key="step-two")
