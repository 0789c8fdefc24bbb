"""The guided tour: one step per thesis of the seed, each shown live and measured.

A presenter opens ``/tour?step=N`` (or ``?step=<slug>``) and walks eight steps. Each :class:`TourStep` is data: the
claim in one sentence, the modes that show it live, what to look for on screen, presenter notes,
and which thesis (:mod:`ragtune.showcases`) and claim of the report give its measured rate. The
page (``app_pages/tour.py``) draws them; this module decides, so the CLI and tests can too:

* :func:`step_question` - the question a step asks: the thesis's best-ranked showcase;
* :func:`live_outcomes` - the thesis's predictions checked on the answers just given, by the
  same scorer and the same metric as the ranking, so the screen and the rate never disagree
  about what "held" means;
* the **freshness scratch copy**: the freshness step changes a fact live, in a copy of the demo
  documents under a reserved internal name (never the demo workspace others use), and the tour
  removes it when the step is left (:func:`drop_scratch`: the Tour when another step opens, the app
  when another page runs); copies a session left behind (a closed browser) are removed once they
  are older than :data:`SCRATCH_MAX_AGE_S` (:func:`drop_stale_scratches`, run by a
  :class:`ScratchSweeper` when the app starts and then at most every few minutes);
* :func:`route_examples` - the routing step's example queries answered by the routing mode;
* the multi-tenant step asks as two demo personas (:mod:`ragtune.tenant_ask`).

The steps run only built-in modes (:func:`step_modes`): a user's saved modes, valid or not, never
change or break the tour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.decision.economics import CostComparison, CostInputs, compare_costs
from ragtune.errors import InputError
from ragtune.evaluation.scoring import EvalResult, score_answer
from ragtune.evaluation.sets import EvalCase, EvalItem, Version, demo_eval_set
from ragtune.lab import Failed, Finished, compare
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.retrieval.knowledge import INTERNAL_WORKSPACE_PREFIX
from ragtune.showcases import Outcome, Showcases
from ragtune.theses import Thesis, metric_value, thesis

if TYPE_CHECKING:
    from ragtune.answer import Answer
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.retrieval.progress import ProgressCallback

StepKind = Literal["compare", "freshness", "routing", "tenants", "economics"]

SCRATCH_PREFIX = f"{INTERNAL_WORKSPACE_PREFIX}tour-"
"""The freshness step's scratch copies: internal names (never listed, never a user's workspace)."""
SCRATCH_MAX_AGE_S = 2 * 3600.0
SWEEP_INTERVAL_S = 600.0
"""How often, at most, a running app looks for scratch copies older than :data:`SCRATCH_MAX_AGE_S`."""
_SCRATCH_META = "tour-scratch-created:{name}"


class TourStep(BaseModel):
    """One step of the tour."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)
    slug: str
    title: str
    claim: str = Field(description="The claim in one sentence.")
    kind: StepKind = "compare"
    thesis: str | None = Field(default=None, description="The showcase thesis whose question and rates it shows.")
    claims: tuple[int, ...] = Field(default=(), description="The report's claims it stands for.")
    modes: tuple[str, ...] = ()
    look_for: tuple[str, ...] = Field(default=(), description="What to look for on screen, tied to the badges.")
    notes: str = Field(default="", description="Presenter notes: what to say.")


TOUR: tuple[TourStep, ...] = (
    TourStep(
        number=1, slug="facts", title=thesis("facts").title, thesis="facts", claims=(1,), modes=("base", "rag"),
        claim="RAG is about what the model knows: a fact from your documents reaches the answer only through "
        "retrieval.",
        look_for=("**Base** has never seen this company's documents: look for a **wrong** badge, or an answer "
                  "that admits it does not know.",
                  "**RAG** put the retrieved chunks in its prompt: look for the **correct** badge, then open the "
                  "citation to see the chunk the fact came from."),
        notes="Ask the room first: can a model know the price of a product it was never trained on? The base "
        "model is the same weights as RAG; the only difference is the retrieved chunks in the prompt.",
    ),
    TourStep(
        number=2, slug="format", title=thesis("format").title, thesis="format", claims=(2, 5),
        modes=("base", "rag", "lora", "rag+lora", "rag+fewshot"),
        claim="Fine-tuning is about how the model behaves: a LoRA adapter holds a strict JSON format that the "
        "prompt alone does not, without paying for examples on every request.",
        look_for=("**Base** and **RAG** were asked for JSON: the format badge says what came back.",
                  "**LoRA** and **RAG + LoRA**: look for **asked for JSON · got JSON** — the adapter learned "
                  "the format.",
                  "**RAG + few-shot** forces the format with worked examples: compare its **prompt tokens** "
                  "with RAG + LoRA's — that difference is paid on every request (the token tax)."),
        notes="The adapter was trained on invented organisations, never on these documents: it learned a "
        "behaviour (answer as JSON, cite, abstain), not facts. The few-shot column is the alternative teams "
        "pay for today.",
    ),
    TourStep(
        number=3, slug="both", title=thesis("both").title, thesis="both",
        claims=(3,), modes=("base", "rag", "lora", "rag+lora"),
        claim="They combine: retrieval supplies the fact, the adapter the format, the citation and the habit of "
        "abstaining.",
        look_for=("**RAG** has the fact but not the format.",
                  "**LoRA** has the format but not the fact.",
                  "**RAG + LoRA**: look for **correct** and **got JSON** together, with a citation of a "
                  "supporting chunk."),
        notes="This is the seed's most common production pattern. Point at the measured rate below: on a "
        "135M-parameter model the combination is not always better; say so, and show the Qwen figures in the "
        "README if asked.",
    ),
    TourStep(
        number=4, slug="freshness", title=thesis("freshness").title, kind="freshness",
        thesis="freshness", claims=(4,), modes=("rag", "knowledge-lora"),
        claim="Knowledge baked into weights goes stale the day a document changes and cites nothing; retrieval "
        "follows the change and cites it.",
        look_for=("Before the change, both give the old fact: the **knowledge LoRA** was trained on it.",
                  "After the change, **RAG** gives the new fact (**correct** against version 2) and cites the "
                  "changed chunk.",
                  "The **knowledge LoRA** still gives the old fact (**stale**) and cites nothing."),
        notes="The change happens live in a scratch copy of the demo documents: the demo workspace itself is "
        "never touched, and the copy is removed when you leave this step. Retraining the adapter would take "
        "minutes to hours; re-indexing one document took seconds.",
    ),
    TourStep(
        number=5, slug="routing", title="Routing: a small fine-tuned classifier", kind="routing", claims=(7,),
        modes=("route",),
        claim="A small fine-tuned classifier routes each request to the cheapest path that can answer it: the "
        "seed's combined pattern.",
        look_for=("Each answer shows the **route taken** and the router's cost; the latency chart under the "
                  "answers gives the router its own **Routing** bar.",
                  "A product question goes to RAG + LoRA; an account or billing ticket gets a fixed hand-off "
                  "answer with no model call; small talk goes to the plain model."),
        notes="The router is a LoRA adapter on the same 135M model: one short label per request. Routes are data "
        "on the mode, so a team changes them without retraining.",
    ),
    TourStep(
        number=6, slug="constrained", title=thesis("constrained").title, thesis="constrained",
        claims=(6,), modes=("rag", "rag+constrained", "rag+lora"),
        claim="A grammar forces well-formed JSON, but not the decisions inside it: what to answer, what to cite, "
        "when to abstain.",
        look_for=("**RAG** alone: the format badge shows what the prompt got without help.",
                  "**RAG + constrained**: the grammar guarantees well-formed JSON whose citations are retrieved "
                  "chunk ids; it does not guarantee the schema's rules (the format badge may still say **breaks "
                  "the schema**, **cut off** or **stopped: repetition**) nor the decisions — look at the "
                  "**correctness** badge to see whether the answer inside is right.",
                  "**RAG + LoRA**: the behaviour learned by the adapter, for comparison."),
        notes="Constrained decoding is cheap and worth using for syntax. It cannot teach a decision rule: that is "
        "behaviour, the adapter's job.",
    ),
    TourStep(
        number=7, slug="tenants", title="Different users, different facts", kind="tenants",
        modes=("rag+lora",),
        claim="Knowledge stays with each user's documents while behaviour is shared: two users ask the same "
        "question, each gets their own tenant's fact from their own workspace, and one adapter gives both "
        "answers the same format.",
        look_for=("Each column is one user asking in their own workspace: the **citations** name that tenant's "
                  "documents (`northgate-…` for Ana, `southern-cross-…` for Ben), and each answer is their own "
                  "tenant's fact (a price in pounds for Ana, in Australian dollars for Ben).",
                  "The permission lines: each user is **refused** the other tenant's workspace by the core "
                  "(PermissionDenied), not merely not shown it.",
                  "**One adapter shaped every answer**: both came from the same `grounded-json` adapter in "
                  "RAG + LoRA — look for **asked for JSON · got JSON** on both cards.",
                  "The **correct** badge says whether each got their own tenant's answer: the measured rate above "
                  "says how often the 135M model does, and it often says it does not know."),
        notes="This is the seed's split at team scale. Behaviour is shared: one model and one fine-tuned "
        "adapter, trained once on invented organisations, serve every tenant. Knowledge is separated: each "
        "reseller's price list and policies live in a workspace only its own users may read, and the "
        "permission check is in the core, so a hand-edited link or the CLI is refused the same way. Baking the "
        "tenants' facts into adapters instead would need one adapter per tenant, retrained at every price "
        "change, and nothing in the weights would stop one tenant's user from getting another's facts. Ana and "
        "Ben are demo personas (viewers of their own tenant's workspace only); the presenter asks as them. Be "
        "honest about the numbers: on the 135M default model the adapter often says it does not know even when "
        "the right chunk is retrieved (the measured rate above; RAG alone finds more facts but breaks the "
        "format). The separation holds either way: no answer can cite the other tenant's documents.",
    ),
    TourStep(
        number=8, slug="economics", title="The economics: when an adapter pays back", kind="economics",
        claims=(5,),
        claim="An adapter costs once; a long prompt costs on every request: the break-even decides, and your own "
        "numbers decide it in Decide.",
        look_for=("The chart: the cumulative cost of sending the examples with every request against training "
                  "an adapter once (retraining included); the break-even month is marked.",
                  "The measured token tax of this demo, from the report.",
                  "These are the seed's and the demo's figures, not the team's: Decide starts from the team's own "
                  "answers, and without a long prompt or a strict format it may rightly say prompting is enough."),
        notes="End here and hand over to Decide: five steps of questions about the team's own workload give a "
        "recommendation, its costs and a record to share. Say it plainly: Decide does not start from the figures "
        "above; it prices an adapter only when the team's answers put one on the table.",
    ),
)


def parse_step(text: object) -> tuple[int, str]:
    """The step number from a URL's ``step`` value (anyone's text): a number or a step's slug, which stays the
    same when steps are added (number, a warning or "").

    Examples:
        >>> parse_step("3"), parse_step(None), parse_step("economics"), parse_step("99")[0], parse_step("x")[0]
        ((3, ''), (1, ''), (8, ''), 1, 1)
    """
    if text is None or text == "":
        return 1, ""
    raw = str(text).strip()
    by_slug = {s.slug: s.number for s in TOUR}
    if raw in by_slug:
        return by_slug[raw], ""
    # ASCII digits only, and short, before int(): '²' passes isdigit() and int() refuses it, and a
    # 5,000-digit value is past int()'s limit
    if raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= len(TOUR):
        return int(raw), ""
    shown = raw[:20] + ("…" if len(raw) > 20 else "")
    return 1, f"There is no tour step {shown!r}: the tour has steps 1 to {len(TOUR)}. Starting at step 1."


def step(number: int) -> TourStep:
    """The step with this number.

    Raises:
        InputError: no such step.
    """
    if not 1 <= number <= len(TOUR):
        raise InputError(f"The tour has steps 1 to {len(TOUR)}, not {number}.")
    return TOUR[number - 1]


# -- the question and the live check -------------------------------------------------------------

#: The question a step asks when no showcase ranking exists for the model (the demo's own picks).
FALLBACK_CASES: dict[str, str] = {"facts": "a13", "format": "u03", "both": "a08", "freshness": "c03",
                                  "constrained": "a13"}


def step_question(s: TourStep, showcases: Showcases | None) -> EvalCase | None:
    """The demo question the step asks: its thesis's best-ranked showcase, else the demo's default."""
    if s.thesis is None:
        return None
    cases = {c.id: c for c in demo_eval_set().cases}
    item = showcases.get(s.thesis) if showcases is not None else None
    if item is not None and item.best is not None and item.best.case_id in cases:
        return cases[item.best.case_id]
    return cases.get(FALLBACK_CASES.get(s.thesis, ""))


def live_outcomes(t: Thesis, case: EvalCase, answers: Sequence[tuple[Version, Answer]]) -> list[Outcome]:
    """The thesis's predictions checked on answers just given (each with the version it is judged against);
    a prediction about a mode or version not answered live is unchecked (``held`` None)."""
    scored: dict[tuple[str, str], EvalResult] = {
        (a.mode.id, version): score_answer(EvalItem(case=case, version=version), a) for version, a in answers
    }
    outcomes = []
    for p in t.predictions:
        result = scored.get((p.mode, p.version or t.version))
        outcomes.append(Outcome(prediction=p, held=None if result is None
                                else metric_value(result, p.metric) == p.expected))
    return outcomes


def thesis_of(s: TourStep) -> Thesis | None:
    """The thesis a step shows, if any."""
    return thesis(s.thesis) if s.thesis else None


BUILTIN_LABELS: dict[str, str] = {m.id: m.label for m in BUILTIN_MODES}


def step_modes(s: TourStep) -> list[Mode]:
    """The step's modes, built-in ones only (the measured rates are theirs; a user's modes file, even a
    damaged one, is no concern of the tour's)."""
    by_id = {m.id: m for m in BUILTIN_MODES}
    return [by_id[mode_id] for mode_id in s.modes]


# -- the freshness step's scratch copy -----------------------------------------------------------


def scratch_name(token: str) -> str:
    """The scratch workspace of one tour session (``token``: letters and digits, e.g. a session id)."""
    clean = "".join(ch for ch in token.lower() if ch.isalnum())[:16]
    if not clean:
        raise InputError("A tour session needs a token of letters or digits.")
    return f"{SCRATCH_PREFIX}{clean}"


def make_scratch(kb: KnowledgeBase, name: str, *, on_progress: ProgressCallback | None = None) -> None:
    """A fresh copy of the demo documents (version 1) under ``name`` (a scratch name), replacing any older one."""
    from ragtune.retrieval.demo import reset_demo_workspace

    if not name.startswith(SCRATCH_PREFIX):
        raise InputError(f"{name!r} is not a tour scratch workspace.")
    reset_demo_workspace(kb, name, on_progress=on_progress)
    kb.manifest.set_meta(_SCRATCH_META.format(name=name), str(time.time()))


def change_fact(kb: KnowledgeBase, name: str, *, on_progress: ProgressCallback | None = None) -> None:
    """The change a freshness demo shows: the scratch copy's documents move to version 2 (the changed
    documents are re-indexed, atomically, the others left alone)."""
    from ragtune.retrieval.demo import set_demo_version

    if not name.startswith(SCRATCH_PREFIX):
        raise InputError(f"{name!r} is not a tour scratch workspace.")
    set_demo_version(kb, "v2", name, on_progress=on_progress)


def drop_scratch(kb: KnowledgeBase, name: str) -> bool:
    """Remove a scratch copy (whether it exists or not); whether one was removed."""
    if not name.startswith(SCRATCH_PREFIX) or not kb.has_workspace(name):
        return False
    kb.delete_workspace(name)
    kb.manifest.set_meta(_SCRATCH_META.format(name=name), "")
    return True


def drop_stale_scratches(kb: KnowledgeBase, *, now: float | None = None,
                         max_age_s: float = SCRATCH_MAX_AGE_S) -> list[str]:
    """Remove the scratch copies older than ``max_age_s`` (left by a tour that never came back)."""
    now = time.time() if now is None else now
    dropped = []
    for info in kb.list_workspaces(include_internal=True):
        if not info.name.startswith(SCRATCH_PREFIX):
            continue
        created = kb.manifest.get_meta(_SCRATCH_META.format(name=info.name)) or "0"
        try:
            age = now - float(created)
        except ValueError:
            age = max_age_s + 1
        if age > max_age_s and drop_scratch(kb, info.name):
            dropped.append(info.name)
    return dropped


class ScratchSweeper:
    """Runs :func:`drop_stale_scratches` at most once every ``interval_s`` however often it is asked (an app
    process holds one and asks on every page run: the first run sweeps at start, later ones now and then)."""

    def __init__(self, interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: float | None = None
        self._lock = threading.Lock()

    def due(self, *, now: float | None = None) -> bool:
        """Whether the next :meth:`sweep` would look (so a caller opens the knowledge base only then)."""
        now = time.time() if now is None else now
        return self._last is None or now - self._last >= self.interval_s

    def sweep(self, kb: KnowledgeBase, *, now: float | None = None) -> list[str]:
        """Drop the stale scratch copies if the last sweep is ``interval_s`` old; the names dropped."""
        now = time.time() if now is None else now
        with self._lock:  # sessions run in threads: one sweep at a time, and only when due
            if not self.due(now=now):
                return []
            self._last = now
        return drop_stale_scratches(kb, now=now)


# -- the routing step ------------------------------------------------------------------------


def routing_examples(showcases: Showcases | None) -> dict[str, str]:
    """Route -> the example query the routing step asks: the measured run's (routed right there), else the
    routing set's first query of each route."""
    if showcases is not None and showcases.routes:
        return dict(showcases.routes)
    from ragtune.evaluation.routing import load_routing_set, showcase_cases

    return {route: case.query for route, case in showcase_cases(load_routing_set()).items()}


def route_examples(pipeline: Pipeline, modes: Sequence[Mode], examples: dict[str, str],
                   workspace: str | None) -> Iterator[tuple[str, Finished | Failed]]:
    """Each example query (route -> query) answered in ``modes`` (the routing mode), one after another: (the
    route, how the last mode ended). Nothing is logged: the tour is a demonstration, not the team's history."""
    for route, query in examples.items():
        ended = [e for e in compare(pipeline, query, modes, workspace, log=None, source="lab")
                 if isinstance(e, (Finished, Failed))]
        yield route, ended[-1]


# -- the economics step ------------------------------------------------------------------------


class PricedCase(BaseModel):
    """One break-even case the economics step shows: where its figures come from, and the comparison."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    label: str
    source: str
    costs: CostComparison


SEED_REFERENCE = CostInputs()
"""The seed's reference point: 6,000 prompt tokens of instructions and examples on every request, a $200
training run, 1,000 requests a day (Decide's defaults, labelled there as assumptions)."""


def economics_cases(showcases: Showcases | None) -> list[PricedCase]:
    """The seed's reference case, and this demo's measured token tax at the same volume and prices when the
    report measured the few-shot and adapter prompts."""
    cases = [PricedCase(
        label="The seed's reference point",
        source=f"{SEED_REFERENCE.prompt_tokens:,} prompt tokens of examples on every request vs "
        f"{SEED_REFERENCE.adapter_prompt_tokens:,} with an adapter; a ${SEED_REFERENCE.training_cost:,.0f} training "
        f"run; {SEED_REFERENCE.requests_per_day:,} requests a day (assumed figures, not measured)",
        costs=compare_costs(SEED_REFERENCE),
    )]
    tokens = showcases.prompt_tokens if showcases is not None else {}
    few, tuned = tokens.get("rag+fewshot"), tokens.get("rag+lora")
    if few and tuned:
        measured = SEED_REFERENCE.model_copy(update={"prompt_tokens": few, "adapter_prompt_tokens": tuned,
                                                     "context_tokens": 0})
        cases.append(PricedCase(
            label="This demo's measured prompts",
            source=f"RAG + few-shot sends a median {few:,} prompt tokens, RAG + LoRA {tuned:,} (retrieved chunks "
            f"included), measured in the {showcases.source()}; same volume, prices and training cost as above",
            costs=compare_costs(measured),
        ))
    return cases
