"""Every component's render function, called with sample objects under AppTest, draws without
an exception (as streamlit-extras tests all its components).

The render functions are found by introspection (every public ``render_*`` of components/*.py),
so a new component is collected here on its own; it needs a sample in ``SAMPLES`` (the test of a
function without one fails and says so). Samples are built from the real domain objects (the
answer, evaluation, decision, training and retrieval records) and must draw something.
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


def backend_statuses():
    """A model server that serves another model and lacks an adapter, a healthy one, one that is down, the
    in-process model; the data directory's store and a Chroma server that is down."""
    from ragtune.retrieval.types import StoreStatus
    from ragtune.runtime.base import BackendStatus, ServedAdapter
    adapters = [ServedAdapter(name="grounded-json", served=True),
                ServedAdapter(name="mine <b>", served=False,
                              why="not loaded by the server: restart `make serve-model`")]
    server = BackendStatus(kind="server", url="http://127.0.0.1:8080", healthy=True, model="Qwen <b>.gguf",
                           model_matches=False, adapters=adapters, slots_busy=3, slots_total=4)
    return {
        "mismatch": server,
        "healthy": server.model_copy(update={"model_matches": True, "adapters": adapters[:1], "slots_busy": 0}),
        "down": BackendStatus(kind="server", url="http://127.0.0.1:8080", healthy=False,
                              error="Connection refused ![x](http://evil/)"),
        "inprocess": BackendStatus(kind="inprocess", healthy=True, model="local:tiny", model_matches=True,
                                   slots_busy=1, slots_total=1),
        "local": StoreStatus(kind="local", healthy=True),
        "chroma-down": StoreStatus(kind="server", url="http://127.0.0.1:8000", healthy=False, error="refused"),
    }


@sample("backends.render_backends")
def _():
    from components.backends import render_backends
    s = backend_statuses()
    render_backends(s["mismatch"], s["chroma-down"], selected="SmolLM2", key="mismatch")
    render_backends(s["healthy"], s["local"], selected="SmolLM2", key="healthy")
    render_backends(s["down"], None, selected="SmolLM2", key="down")
    render_backends(s["inprocess"], s["local"], selected="SmolLM2", key="inprocess")
    render_backends(None, None, selected="SmolLM2", key="none")


@sample("backends.render_served_adapters")
def _():
    from components.backends import render_served_adapters
    s = backend_statuses()
    render_served_adapters(s["mismatch"], key="served")
    render_served_adapters(s["inprocess"], key="none")


@sample("backends.render_server_adapters")
def _():
    from components.backends import render_server_adapters
    s = backend_statuses()
    render_server_adapters(s["mismatch"], key="up")
    render_server_adapters(s["down"], key="down")


@sample("safe.render_untrusted_text")
def _():
    from components.safe import render_untrusted_text
    render_untrusted_text("![x](http://evil/) costs $5")
    render_untrusted_text("")


# -- sign-in -------------------------------------------------------------------------------------

@sample("signin.render_sign_in")
def _():
    from components.signin import render_sign_in
    render_sign_in(on_sign_in=lambda: None, key="sign_in")
    render_sign_in(on_sign_in=lambda: None, hint="Open the app at http://localhost:8501 ![x](http://evil/)",
                   key="sign_in_hint")


@sample("signin.render_auth_problem")
def _():
    from components.signin import render_auth_problem
    render_auth_problem("The proxy sent no identity <b>", key="auth")
    render_auth_problem("No 'email' claim", on_sign_out=lambda: None, key="auth_out")


@sample("signin.render_open_warning")
def _():
    from components.signin import render_open_warning
    render_open_warning("Anyone who can reach this app is an admin.", key="open")


@sample("signin.render_user")
def _():
    import streamlit as st

    from components.signin import render_user
    from ragtune.access import Principal
    with st.sidebar:
        render_user(Principal(email="ana@example.org", name="Ana *Lima*", is_admin=True), on_sign_out=lambda: None,
                    key="user")
        render_user(Principal(email="bo@example.org"), on_sign_out=None, key="proxied")


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
    render_workspace_manager("team", restorable_demo=None, expanded=True, key="viewer", can_write=False,
                             can_manage=False)


@sample("knowledge.render_role_note")
def _():
    from components.knowledge import render_role_note
    render_role_note("viewer", "team <b>", key="viewer")
    render_role_note("editor", "team", key="editor")
    render_role_note("owner", "team", key="owner")  # nothing to say


@sample("knowledge.render_workspace_summary")
def _():
    from components.knowledge import render_workspace_summary
    from ragtune.retrieval.types import WorkspaceInfo
    render_workspace_summary(WorkspaceInfo(name="team", n_documents=2, n_chunks=9), key="sum")


@sample("knowledge.render_stale_chunking")
def _():
    from components.knowledge import render_stale_chunking
    assert render_stale_chunking(2, 300, 40, key="stale") is False  # not clicked
    assert render_stale_chunking(0, 300, 40, key="fresh") is False  # nothing stale: nothing drawn


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


# -- the Access page ---------------------------------------------------------------------------

def access_overview():
    """Two users (one never signed in), a workspace with an owner and everyone as viewer, one with no member
    and one left over after a deletion."""
    from ragtune.access.overview import AccessOverview, UserAccess, WorkspaceAccess
    from ragtune.access.store import Membership, UserInfo
    ts = NOW.timestamp()
    users = [UserAccess(user=UserInfo(email="ana@x.org", name="Ana <b>", first_seen=ts, last_seen=ts,
                                      personal_workspace="ana"), roles={"ana": "owner"}),
             UserAccess(user=UserInfo(email="bob@x.org"), is_admin=True)]
    owner = Membership(email="ana@x.org", workspace="ana", role="owner", granted_by="ada@x.org", granted_at=ts)
    everyone = Membership(email="*", workspace="demo", role="viewer")
    return AccessOverview(auth_enabled=True, users=users, admins=["bob@x.org"], workspaces=[
        WorkspaceAccess(name="ana", members=[owner]), WorkspaceAccess(name="demo", members=[everyone]),
        WorkspaceAccess(name="empty"),
        WorkspaceAccess(name="gone", exists=False, members=[owner.model_copy(update={"workspace": "gone"})])])


def no_access():
    from ragtune.access.overview import AccessOverview
    return AccessOverview(auth_enabled=False, users=[], workspaces=[], admins=[])


@sample("access.render_users")
def _():
    from components.access import render_users
    render_users(access_overview(), key="users")
    render_users(no_access(), key="nobody")


@sample("access.render_workspaces")
def _():
    from components.access import render_workspaces
    render_workspaces(access_overview(), key="spaces")
    render_workspaces(no_access(), key="none")


@sample("access.render_grant_form")
def _():
    from components.access import render_grant_form
    assert render_grant_form(["ana", "demo"], key="grant") is None  # not submitted
    assert render_grant_form([], key="nowhere") is None


@sample("access.render_revoke")
def _():
    from components.access import render_revoke
    assert render_revoke(access_overview(), key="revoke") is None  # not confirmed


@sample("answer_card.render_answer_card")
def _():
    from components.answer_card import render_answer_card
    render_answer_card(log_entry(), key="card")
    render_answer_card(log_entry().model_copy(update={"route": route_taken(), "routing_ms": 80.0}), key="routed")


def route_taken(label: str | None = "billing"):
    """A routing mode's route: the router said a label (or noise: the default route), a fixed answer."""
    from ragtune.answer import RouteTaken
    from ragtune.economics import EconomicsConfig, query_cost
    cost = query_cost(compute_seconds=0.08, prompt_tokens=70, cached_prompt_tokens=0, completion_tokens=3,
                      uses_adapter=True, config=EconomicsConfig(), default_dollars_per_hour=0.1)
    return RouteTaken(router_adapter="ticket-router", raw_output=label or "*bold* ![x](http://evil/)", label=label,
                      route="billing-handoff", answered_by=None, timings=timings(), cost=cost)


@sample("answer_card.render_route_line")
def _():
    from components.answer_card import render_route_line
    render_route_line(route_taken(), key="route")
    render_route_line(route_taken(None), key="fallback")


# -- the decision wizard -----------------------------------------------------------------------

def recommendation():
    """What the wizard recommends for a workload that needs both facts and a format."""
    from ragtune.decision.answers import Frequency, WizardAnswers
    from ragtune.decision.recommend import recommend

    return recommend(WizardAnswers(name="Support bot", facts=True, change=Frequency.WEEKLY, cite=True,
                                   strict_format=True, prompt_tokens=6000, few_shot=30))


@sample("decision.render_question")
def _():
    from components.decision import render_question
    from ragtune.decision.answers import WizardAnswers
    from ragtune.decision.questions import questions_for_step

    answers = WizardAnswers()
    kinds = set()
    for step in range(1, 6):
        for question in questions_for_step(step):
            kinds.add(question.kind)
            render_question(question, getattr(answers, question.id), key=f"q.{question.id}",
                            on_change=lambda *_: None)
    assert kinds == {"bool", "choice", "text", "int", "float"}, kinds  # every kind of widget drawn


@sample("decision.render_step")
def _():
    from components.decision import render_step
    from ragtune.decision.answers import WizardAnswers
    from ragtune.decision.questions import STEPS, questions_for_step

    changed: list[str] = []
    last = STEPS[-1]  # the step with advanced (folded) questions
    render_step(last, questions_for_step(last.number), WizardAnswers(), total=len(STEPS), key="step",
                on_change=changed.append)


@sample("decision.render_step_nav")
def _():
    from components.decision import render_step_nav

    steps: list[int] = []
    render_step_nav(1, total=5, go_to=steps.append, key="first")
    render_step_nav(5, total=5, go_to=steps.append, key="last")


@sample("decision.render_recommendation")
def _():
    from components.decision import render_recommendation
    render_recommendation(recommendation(), key="rec")


@sample("decision.render_cost_summary")
def _():
    from components.decision import render_cost_summary
    from ragtune.decision.answers import WizardAnswers
    from ragtune.decision.recommend import recommend

    render_cost_summary(recommendation().costs, key="costs")  # prompt vs adapter, break-even
    routed = recommend(WizardAnswers(routing=True, strict_format=True, syntax_only=True,
                                     retries=True)).costs  # grammar + router, assumptions
    assert routed.assumptions and routed.option("router") is not None
    render_cost_summary(routed, key="routed")


@sample("decision.render_break_even_chart")
def _():
    from components.decision import render_break_even_chart
    from ragtune.decision.answers import WizardAnswers
    from ragtune.decision.economics import answer_costs

    render_break_even_chart(recommendation().costs.break_even, key="pays")
    never = answer_costs(WizardAnswers(requests_per_day=1, training_cost=10_000_000.0))
    assert never.break_even_month is None
    render_break_even_chart(never, key="never", tuned="classifier")


@sample("decision.render_architecture")
def _():
    from components.decision import render_architecture
    render_architecture(recommendation(), key="arch")


@sample("decision.render_lab_modes")
def _():
    from components.decision import render_lab_modes
    rec = recommendation()
    render_lab_modes(rec.lab_modes, rec.recommended_mode, key="modes")


@sample("decision.render_lab_link")
def _():
    from components.decision import render_lab_link
    from ragtune.decision.params import lab_query

    rec = recommendation()
    render_lab_link(rec, PROJECT_ROOT / "app_pages" / "lab.py", lab_query(rec), key="link")


@sample("decision.render_record_share")
def _():
    from components.decision import render_record_share
    from ragtune.decision.answers import WizardAnswers
    from ragtune.decision.record import record_file_stem, record_json, record_markdown, share_query

    answers, rec = WizardAnswers(name="Support bot"), recommendation()
    calls: list[str] = []
    render_record_share(record_markdown(answers, rec), record_json(answers, rec),
                        link="http://localhost:8501/decide" + share_query(answers), stem=record_file_stem(answers),
                        key="share", edit=lambda: calls.append("edit"), restart=lambda: calls.append("restart"))


# -- the Benchmark ----------------------------------------------------------------------------

def eval_results():
    """Two modes' scored answers to three demo questions (right, wrong, stale on v2, an error)."""
    from ragtune.evaluation.scoring import error_result, score_output
    from ragtune.evaluation.sets import EvalItem, demo_eval_set
    from ragtune.modes import BUILTIN_MODES

    modes = {m.id: m for m in BUILTIN_MODES}
    cases = demo_eval_set().cases[:3]
    results = []
    for case in cases:
        item = EvalItem(case=case, version="v1")
        gold = case.gold("v1")[0] if case.gold("v1") else "I don't know."
        results.append(score_output(item, modes["rag"], text=gold, parse_status="ok", parsed_answer=gold,
                                    cited=[f"{d}#0" for d in case.doc_ids], total_ms=900.0, prompt_tokens=400,
                                    completion_tokens=20, local_usd=1e-5, api_usd=3e-5))
        results.append(score_output(item, modes["base"], text="It is 42 <b>.", parse_status="free_text",
                                    total_ms=300.0, prompt_tokens=80, completion_tokens=12, local_usd=4e-6,
                                    api_usd=1e-5))
    results.append(error_result(EvalItem(case=cases[0], version="v2"), modes["lora"],
                                "The adapter 'grounded-json' is missing: train it on the Adapters page."))
    return results


def eval_run(status: str = "complete"):
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.evaluation.store import EvalRun, EvalRunInfo, RunSettings

    results = eval_results()
    info = EvalRunInfo(id=f"run-{status}", created_at=NOW, status=status, set_name="demo",
                       model_id="local:tiny", mode_ids=["rag", "base", "lora"], workspaces={"v1": "demo", "v2": None},
                       settings=RunSettings(), n_items=3, n_results=len(results))
    return EvalRun(info=info, cases=demo_eval_set().cases[:3], results=results)


@sample("evaluation.render_set_picker")
def _():
    from components.evaluation import render_set_picker
    from ragtune.evaluation.sets import demo_eval_set

    demo = demo_eval_set()
    assert render_set_picker(demo, key="set") is demo


@sample("evaluation.render_run_form")
def _():
    from components.evaluation import render_run_form
    from ragtune.modes import BUILTIN_MODES

    assert render_run_form(list(BUILTIN_MODES), ["demo", "team"], default_modes=("base", "rag"),
                           default_workspace="demo", ready=True, key="run") is None  # not pressed
    render_run_form(list(BUILTIN_MODES), [], default_modes=[], default_workspace="demo", ready=False, key="empty")


@sample("evaluation.render_claims_form")
def _():
    from components.evaluation import render_claims_form
    assert render_claims_form(key="claims") is None


@sample("evaluation.render_run")
def _():
    from components.evaluation import render_run
    assert render_run(eval_run(), key="done")
    render_run(eval_run("cancelled"), key="cancelled")


@sample("evaluation.render_scoreboard")
def _():
    from components.evaluation import render_scoreboard
    render_scoreboard(eval_run().scoreboard(), key="board")


@sample("evaluation.render_charts")
def _():
    from components.evaluation import render_charts
    run = eval_run()
    render_charts(run.scoreboard(), run.results, cost="local", key="local")
    render_charts(run.scoreboard(), run.results, cost="api", key="api")


@sample("evaluation.render_drilldown")
def _():
    from components.evaluation import question_choices, render_drilldown
    run = eval_run()
    for n, choice in enumerate(question_choices(run)):
        render_drilldown(run, choice, key=f"drill{n}")
    render_drilldown(run, "no-such-case@v1", key="none")


@sample("evaluation.render_comparison")
def _():
    from components.evaluation import render_comparison
    render_comparison(eval_run(), eval_run("cancelled"), key="cmp")


@sample("evaluation.render_claims")
def _():
    from components.evaluation import render_claims
    from ragtune.evaluation.report import build_claims

    claims = build_claims(eval_results())
    assert claims
    render_claims(claims, key="claims")


@sample("evaluation.render_problems")
def _():
    from components.evaluation import render_problems
    from ragtune.errors import EvalSetError
    from ragtune.evaluation.sets import parse_eval_set

    try:
        parse_eval_set('{"id": "q1", "question": "Why?"}\nnot json\n{"question": 3}\n', name="bad.jsonl")
    except EvalSetError as exc:
        problems = exc.problems
    assert problems
    render_problems(problems, key="bad")


# -- the Lab ----------------------------------------------------------------------------------

def lab_answers():
    from tests.test_store import answer
    return [answer("rag"), answer("rag+lora", adapter="grounded-json")]


@sample("lab.render_mode_header")
def _():
    from components.lab import render_mode_header
    from ragtune.modes import BUILTIN_MODES, Mode

    render_mode_header(BUILTIN_MODES[0], key="builtin")
    render_mode_header(Mode(id="mine", label="My *mode*", description="![x](http://evil/)"), key="mine")


@sample("lab.render_lab_controls")
def _():
    from components.lab import render_lab_controls
    from ragtune.lab import demo_questions
    from ragtune.modes import BUILTIN_MODES

    question, modes, workspace = render_lab_controls(demo_questions(), list(BUILTIN_MODES), ["demo", "team"],
                                                     "demo", key="lab")
    assert (question, modes, workspace) == ("", [], "demo")
    render_lab_controls([], list(BUILTIN_MODES), [], "demo", key="bare")


@sample("lab.render_live_comparison")
def _():
    from components.lab import render_live_comparison
    from ragtune.lab import Failed, Finished, Started, Token
    from ragtune.modes import BUILTIN_MODES

    answer, failing = lab_answers()[0], BUILTIN_MODES[2]

    def events():  # a generator, as ragtune.lab.compare is (drawing closes it)
        yield Started(mode=answer.mode, index=0, total=2, model_busy=True)
        yield Token(mode=answer.mode, text="It costs ")
        yield Token(mode=answer.mode, text="$1,249 <b>.")
        yield Finished(mode=answer.mode, answer=answer)
        yield Started(mode=failing, index=1, total=2)
        yield Failed(mode=failing, error="The adapter 'grounded-json' is missing: train it on the Adapters page.",
                     index=1)

    ended = render_live_comparison(events(), 2, key="live")
    assert [type(e).__name__ for e in ended] == ["Finished", "Failed"]


@sample("lab.render_comparison_charts")
def _():
    from components.lab import render_comparison_charts
    render_comparison_charts(lab_answers(), key="charts")
    render_comparison_charts([], key="none")


@sample("lab.render_mode_form")
def _():
    from components.lab import render_mode_form
    assert render_mode_form(["grounded-json", "knowledge-baked"], key="mode") is None


@sample("lab.render_cost_settings")
def _():
    from components.lab import render_cost_settings
    from ragtune.economics import EconomicsConfig

    assert render_cost_settings(EconomicsConfig(), default_rate=0.1, key="costs") is None


def lab_comparison(stored: bool = False):
    from ragtune.lab import Failed, Finished
    from ragtune.lab_share import LabComparison
    from ragtune.modes import BUILTIN_MODES

    fresh, logged = lab_answers()[0], log_entry()
    first = logged if stored else Finished(mode=fresh.mode, answer=fresh, not_judged="not judged: the document "
                                           "changed after the gold answer was written (guide)")
    return LabComparison(question="How long is the warranty? ![x](http://evil/)", workspace="team",
                         mode_ids=["rag", "lora"], run_id="0123456789ab", stored=stored,
                         results=[first, Failed(mode=BUILTIN_MODES[2], error="No adapter <b>.")],
                         note="Added the *Knowledge LoRA* column.")


@sample("lab_results.render_comparison")
def _():
    from components.lab_results import render_comparison
    render_comparison(lab_comparison(), key="fresh")
    render_comparison(lab_comparison(stored=True), key="stored")


@sample("lab_results.render_mode_result")
def _():
    from components.lab_results import render_mode_result
    from ragtune.lab import Failed, Finished
    from ragtune.modes import BUILTIN_MODES

    fresh = lab_answers()[0]
    render_mode_result(Finished(mode=fresh.mode, answer=fresh, not_judged="not judged: <b>edited</b>"), key="done")
    render_mode_result(Failed(mode=BUILTIN_MODES[2], error="No adapter ![x](http://evil/)."), key="failed")


@sample("lab_results.render_take_away")
def _():
    from components.lab_results import render_take_away
    render_take_away(lab_comparison(), base_url="http://localhost:8501/lab", key="share")
    render_take_away(lab_comparison(stored=True), base_url=None, key="share-stored")


@sample("lab_results.render_link_notes")
def _():
    from components.lab_results import render_link_notes
    from ragtune.lab_share import LabLink, LinkReading, StoredComparison

    reading = LinkReading(link=LabLink(question="Q", modes=["rag"], run="0123456789ab"),
                          problems=["The link's workspace '<b>' does not exist here: pick one."],
                          unknown_modes=["![x](http://evil/)"])
    assert render_link_notes(reading, StoredComparison(status="shown", message="Stored.",
                                                       comparison=lab_comparison(stored=True)), key="shown") is False
    render_link_notes(reading, StoredComparison(status="gone", message="Gone."), key="gone")
    render_link_notes(reading, None, key="none")


@sample("lab_results.render_freshness_offer")
def _():
    from components.lab_results import render_freshness_offer
    from ragtune.lab import FreshnessOffer

    offer = FreshnessOffer(workspace="demo", current="v1", target="v2", label="Switch the documents to "
                           "version 2 and ask again", caution="For everyone on this server.")
    assert render_freshness_offer(offer, key="fresh") is False


# -- the Adapters page ------------------------------------------------------------------------

@sample("adapters.render_adapter_card")
def _():
    from components.adapters import render_adapter_card
    from ragtune.adapters import AdapterFile
    from ragtune.training.card import load_card

    shipped = PROJECT_ROOT / "models" / "adapters" / "grounded-json.gguf"
    card = load_card(shipped)  # the shipped adapter's own card: loss curve, evaluation, speed cost
    assert card is not None and card.loss_curve and card.evaluation
    render_adapter_card(AdapterFile(name="grounded-json", path=shipped, origin="shipped", size_bytes=9_400_000),
                        card, fits=None, key="shipped")
    uploaded = AdapterFile(name="mine <b>", path=Path("mine.gguf"), origin="user", size_bytes=1_000_000)
    render_adapter_card(uploaded, None, fits="its tensors are for 576-wide weights, the model's are 64", key="up")
    bare = card.model_copy(update={"speed": None, "evaluation": [], "loss_curve": [], "rationale": "", "notes": ""})
    render_adapter_card(uploaded, bare, fits=None, key="bare")


@sample("adapters.render_job")
def _():
    from components.adapters import render_job
    from ragtune.training.card import LossPoint
    from ragtune.training.jobs import JobState

    losses = [LossPoint(step=i, loss=3.0 - i / 10, elapsed_s=2.0 * i) for i in range(1, 13)]
    job = JobState(id="20250102-030405-codes", name="codes", base_model_id="local:tiny", status="training",
                   step=12, total_steps=60, loss=1.8, elapsed_s=24.0, eta_s=96.0, losses=losses, message="Training.")
    assert job.active
    render_job(job, key="training")
    render_job(job.model_copy(update={"status": "starting", "step": 0, "loss": None, "eta_s": None, "losses": []}),
               key="starting")
    render_job(job.model_copy(update={"status": "done", "message": "codes.gguf installed"}), key="done")
    render_job(job.model_copy(update={"status": "cancelled", "message": ""}), key="cancelled")
    render_job(job.model_copy(update={"status": "failed", "error": "The training process ended unexpectedly."}),
               key="failed", log="step 11\nTraceback (most recent call last):\n**MemoryError** <b>x</b>")


@sample("adapters.render_train_options")
def _():
    from components.adapters import render_train_options
    from ragtune.training.options import TrainOptions

    values = render_train_options(TrainOptions(rank=8, alpha=16.0), key="train")
    assert values["rank"] == 8 and values["target_modules"]


@sample("adapters.render_try")
def _():
    from components.adapters import render_try
    render_try(completion(), completion().model_copy(update={"text": ""}), base_note="the tiny model",
               adapter_note="grounded-json at scale 1.0", key="try")


# -- home and tour -----------------------------------------------------------------------------

def showcases():
    from tests.test_showcases import sample as showcase_sample
    shows = showcase_sample("local:tiny")
    return shows.model_copy(update={"prompt_tokens": {"rag+fewshot": 1290, "rag+lora": 243},
                                    "routes": {"documents": "What does the P1 cost? <b>"}})


@sample("home.render_intro")
def _():
    from components.home import render_intro
    render_intro()


@sample("home.render_doors")
def _():
    from components.home import render_doors
    render_doors(key="doors")  # run on its own: plain links stand in for page links


@sample("home.render_status")
def _():
    from components.home import render_status
    from ragtune.status import DocumentsStatus, HomeStatus

    render_status(HomeStatus(model_id="local:tiny", model_detail="llama · F16 · 8 MB", adapters=["grounded-json"],
                             missing_demo_adapters=["ticket-router"],
                             documents=DocumentsStatus(workspaces={"demo": (25, 130), "<b>": (1, 2)},
                                                       demo_workspace="demo", demo_version="v2"),
                             measured="claims report run r1"), key="status")
    render_status(HomeStatus(model_id="x", model_error="No model <b>.", documents=DocumentsStatus(error="damaged")),
                  key="broken")
    render_status(HomeStatus(model_id="x", documents=DocumentsStatus()), key="empty")


@sample("tour.render_step_header")
def _():
    from components.tour import render_step_header
    from ragtune.tour import TOUR
    render_step_header(TOUR[0], len(TOUR), key="head")


@sample("tour.render_navigation")
def _():
    from components.tour import render_navigation
    from ragtune.tour import TOUR
    assert render_navigation(TOUR[1], len(TOUR), key="middle") is None
    render_navigation(TOUR[-1], len(TOUR), key="last")


@sample("tour.render_measured")
def _():
    from components.tour import render_measured
    from ragtune.showcases import thesis
    from ragtune.tour import TOUR
    labels = {"rag": "RAG", "base": "Base"}
    shows = showcases()
    render_measured(TOUR[0], thesis("facts"), shows, labels, asked=shows.get("facts").best.case_id, key="measured")
    render_measured(TOUR[0], thesis("facts"), None, labels, key="unmeasured")


@sample("tour.render_look_for")
def _():
    from components.tour import render_look_for
    from ragtune.tour import TOUR
    render_look_for(TOUR[0], key="look")


@sample("tour.render_question")
def _():
    from components.tour import render_question
    from ragtune.evaluation.sets import demo_eval_set
    cases = {c.id: c for c in demo_eval_set().cases}
    render_question(cases["a13"], key="answerable")
    render_question(cases["u03"], key="unanswerable")


@sample("tour.render_live_check")
def _():
    from components.tour import render_live_check
    from ragtune.showcases import Outcome, Prediction
    render_live_check([Outcome(prediction=Prediction(mode="rag", metric="correct"), held=True),
                       Outcome(prediction=Prediction(mode="base", metric="correct", expected=False), held=False),
                       Outcome(prediction=Prediction(mode="lora", metric="stale", version="v2"), held=None)],
                      {"rag": "RAG"}, version="v2", key="check")


@sample("tour.render_notes")
def _():
    from components.tour import render_notes
    from ragtune.tour import TOUR
    render_notes(TOUR[3], key="notes")


@sample("tour_steps.render_results")
def _():
    from components.tour_steps import render_results
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.lab import Failed, Finished
    from ragtune.modes import BUILTIN_MODES
    from ragtune.showcases import thesis

    fresh = lab_answers()[0]
    case = next(c for c in demo_eval_set().cases if c.id == "c03")
    results = [("v1", Finished(mode=fresh.mode, answer=fresh)), ("v1", Failed(mode=BUILTIN_MODES[5], error="No <b>.")),
               ("v2", Finished(mode=fresh.mode, answer=fresh))]
    render_results(results, case, thesis("freshness"), {"rag": "RAG"}, key="results")


@sample("tour_steps.render_economics")
def _():
    from components.tour_steps import render_economics
    render_economics(showcases(), key="measured")
    render_economics(None, key="seed")


@sample("tour_steps.render_routing_examples")
def _():
    from components.tour_steps import render_routing_examples
    from ragtune.lab import Failed, Finished
    from ragtune.modes import BUILTIN_MODES

    routed = lab_answers()[0].model_copy(update={"route": route_taken()})
    route = next(m for m in BUILTIN_MODES if m.id == "route")
    examples = {"documents": "What does the P1 cost? <b>", "billing-handoff": "Refund me $5 <b>"}
    answers = {"documents": Finished(mode=route, answer=routed),
               "billing-handoff": Failed(mode=route, error="The adapter 'ticket-router' is missing <b>.")}
    render_routing_examples(examples, answers, showcases(), key="routes")
    render_routing_examples(examples, {}, None, key="unmeasured")


# -- the multi-tenant demo ------------------------------------------------------------------------

def tenant_comparison():
    """Ana answered (citing her own tenant's document), Ben was refused his own workspace."""
    from ragtune.answer import Citation
    from ragtune.evaluation.scoring import judge_answer
    from ragtune.evaluation.sets import tenant_eval_set
    from ragtune.tenant_ask import TenantAnswer, TenantComparison, shared_mode, tenant_case
    from ragtune.tenants import tenant

    north, south = tenant("north"), tenant("south")
    question = "What is the price of a Mowbot M2?"
    case = tenant_case(tenant_eval_set(), question, north)
    answer = lab_answers()[1].model_copy(update={"citations": [
        Citation(chunk_id="northgate-price-list#1", status="retrieved", number=1, text="Mowbot M2: £849 <b>")]})
    ana = TenantAnswer(tenant=north, role="viewer", refused={south.workspace: "ana may not read it <b>"},
                       answer=answer, case=case, judgement=judge_answer(case, "v1", answer),
                       own_docs=["northgate-price-list"])
    ben = TenantAnswer(tenant=south, role=None, denied="ben@south.example may not read workspace *tenant-south*",
                       readable=[north.workspace], case=tenant_case(tenant_eval_set(), question, south))
    return TenantComparison(question=question + " ![x](http://evil/)", mode=shared_mode(), answers=[ana, ben])


def tenant_demo(*, rates: bool = True, missing: tuple[str, ...] = ()):
    from ragtune.tenant_ask import TenantDemo, TenantsDone, measured_rates, tenant_questions

    def ask(question: str):
        yield TenantsDone(comparison=tenant_comparison())

    measured = measured_rates(None, "smollm2-135m-instruct-q4_1") if rates else []
    return TenantDemo(ask=ask, questions=tenant_questions(), missing=list(missing), setup=lambda: None,
                      rates=measured)


@sample("tenants.render_tenant_comparison")
def _():
    from components.tenants import render_tenant_comparison
    render_tenant_comparison(tenant_comparison(), key="tenants")


@sample("tenants.render_tenant_live")
def _():
    from components.tenants import render_tenant_live
    from ragtune.tenant_ask import PersonaAnswered, PersonaStarted, PersonaToken, TenantsDone

    done = tenant_comparison()

    def events():
        for index, answered in enumerate(done.answers):
            yield PersonaStarted(tenant=answered.tenant, index=index, total=2)
            yield PersonaToken(index=index, text="![x](http://evil/) £849")
            yield PersonaAnswered(index=index, answer=answered)
        yield TenantsDone(comparison=done)

    assert render_tenant_live(events(), [a.tenant for a in done.answers], key="live") == done


@sample("tenants.render_tenant_measured")
def _():
    from components.tenants import render_tenant_measured
    render_tenant_measured(tenant_demo(), key="measured")
    render_tenant_measured(tenant_demo(rates=False), key="unmeasured")


@sample("tenants.render_two_tenants")
def _():
    from components.tenants import render_two_tenants
    render_two_tenants(tenant_demo(), measured=True, key="ready")
    render_two_tenants(tenant_demo(missing=("tenant-north",)), key="missing")


@sample("tenants.render_lab_preset")
def _():
    from components.tenants import render_lab_preset
    assert render_lab_preset("tenants", key="linked") == "tenants"
    assert render_lab_preset("<b>", key="bad") == "modes"


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
    assert n_elements(at.main) + n_elements(at.sidebar) > 0, f"{name} drew nothing with its sample"


def n_elements(node) -> int:
    """Elements and blocks under ``node`` of an AppTest tree."""
    return sum(1 + n_elements(child) for child in getattr(node, "children", {}).values())


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
