"""The held-out-domain evaluation: the behaviour adapter on documents it never saw, as a new user
would try it with their own files (``python -m ragtune adapters evaluate``).

The documents are ingested into a workspace through the normal knowledge-base ingest (a re-run
is a no-op for unchanged files), the eval set runs through the evaluation runner in each mode
(stored like any ``eval`` run), and the results become one row per mode with the n behind each
rate, the issue's targets with pass/miss, and card metrics (:func:`heldout_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError, RagtuneError
from ragtune.training.card import Metric

if TYPE_CHECKING:  # the CLI builds its parser from this module's defaults: keep its imports light
    from collections.abc import Callable

    from ragtune.adapters import AdapterCatalog
    from ragtune.evaluation.runner import Progress
    from ragtune.evaluation.store import EvalRun, EvalStore
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline
    from ragtune.evaluation.scoring import EvalResult
    from ragtune.evaluation.sets import EvalSet
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.retrieval.types import IngestReport

HELDOUT_DIR = PROJECT_ROOT / "data" / "heldout"
DEFAULT_DOCS = HELDOUT_DIR / "docs"
DEFAULT_SET = HELDOUT_DIR / "questions.jsonl"
DEFAULT_WORKSPACE = "heldout"
DEFAULT_MODES = "base,rag,lora,rag+lora"


class Rate(BaseModel):
    """A share of ``n`` items (``value`` None when n is 0: the rate does not apply)."""

    model_config = ConfigDict(frozen=True)

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    def text(self) -> str:
        """``45% (9/20)``, or ``–`` when nothing was measured."""
        return "–" if not self.n else f"{100 * self.hits / self.n:.0f}% ({self.hits}/{self.n})"


def _rate(flags: Sequence[bool | None]) -> Rate:
    known = [bool(f) for f in flags if f is not None]
    return Rate(hits=sum(known), n=len(known))


class HeldoutRow(BaseModel):
    """One mode's results on the held-out set, each rate with its own denominator."""

    model_config = ConfigDict(frozen=True)

    mode_id: str
    n: int
    n_answerable: int
    n_unanswerable: int
    correct: Rate
    valid: Rate  # parses into the answer schema (strict JSON); free-text modes: n = 0
    usable: Rate  # correct and valid
    cites_right: Rate  # of the correct answers to answerable questions: cites a supporting document
    abstains: Rate  # on the unanswerable questions
    false_abstain: Rate  # abstained although a document held the answer
    errors: int


def heldout_row(results: Sequence[EvalResult]) -> HeldoutRow:
    """Aggregate one mode's results."""
    answerable = [r for r in results if not r.should_abstain]
    to_abstain = [r for r in results if r.should_abstain]
    return HeldoutRow(
        mode_id=results[0].mode_id,
        n=len(results),
        n_answerable=len(answerable),
        n_unanswerable=len(to_abstain),
        correct=_rate([r.correct for r in results]),
        valid=_rate([r.format_valid for r in results]),
        usable=_rate([r.usable for r in results]),
        cites_right=_rate([r.cites_support for r in answerable if r.correct]),
        abstains=_rate([r.abstained for r in to_abstain]),
        false_abstain=_rate([r.abstained for r in answerable]),
        errors=sum(1 for r in results if r.error),
    )


def heldout_rows(results: Sequence[EvalResult]) -> list[HeldoutRow]:
    """One row per mode, in the order the modes first appear."""
    by_mode: dict[str, list[EvalResult]] = {}
    for result in results:
        by_mode.setdefault(result.mode_id, []).append(result)
    return [heldout_row(rows) for rows in by_mode.values()]


HEADER = (
    "| mode | n | correct | valid JSON | correct + valid | cites a right document (of correct) "
    "| abstains when it should | false abstention |"
)


def rows_markdown(rows: Sequence[HeldoutRow]) -> str:
    """The rows as one Markdown table, every rate with its hits/n."""
    lines = [HEADER, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row.mode_id, f"{row.n} ({row.n_unanswerable} unanswerable)", row.correct.text(), row.valid.text(),
                 row.usable.text(), row.cites_right.text(), row.abstains.text(), row.false_abstain.text()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- the targets -----------------------------------------------------------------------


class Target(BaseModel):
    """One target of issue 12 with what was measured (``passed`` None: not measured in this run)."""

    model_config = ConfigDict(frozen=True)

    name: str
    measured: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return "not measured" if self.passed is None else "pass" if self.passed else "miss"


def _at_least(rate: Rate, bar: float) -> bool | None:
    return None if rate.value is None else rate.value >= bar


SPEED_COST_BAR = 10.0
"""The issue's bar: the applied adapter costs at most this many percent of generation speed."""


def check_targets(rows: Sequence[HeldoutRow], *, combined: str = "rag+lora", rag: str = "rag",
                  lora: str = "lora", speed_cost: float | None = None) -> list[Target]:
    """The held-out targets (issue 12, section 4) checked on ``rows``; a missing mode is "not measured".

    ``speed_cost``: the applied adapter's generation speed cost in percent, from its card
    (:func:`adapter_speed_cost`); None: "not measured".
    """
    by_id = {row.mode_id: row for row in rows}
    both, plain, alone = by_id.get(combined), by_id.get(rag), by_id.get(lora)
    missing = Rate(hits=0, n=0)
    targets: list[Target] = []

    if both and plain and both.correct.n and plain.correct.n:
        ok = both.correct.value >= plain.correct.value  # type: ignore[operator]
        measured = f"{combined} {both.correct.text()} vs {rag} {plain.correct.text()}"
    else:
        ok, measured = None, f"needs modes {combined} and {rag}"
    targets.append(Target(name=f"{combined} correct >= {rag} correct", measured=measured, passed=ok))

    def bar(name: str, rate: Rate, check: bool | None) -> None:
        targets.append(Target(name=name, measured=rate.text() if rate.n else "–", passed=check))

    usable = both.usable if both else missing
    valid = both.valid if both else missing
    abstains = both.abstains if both else missing
    false_abstain = both.false_abstain if both else missing
    cites = both.cites_right if both else missing
    bar(f"{combined} correct + valid >= 45%", usable, _at_least(usable, 0.45))
    bar(f"{combined} valid >= 95%", valid, _at_least(valid, 0.95))
    bar(f"{combined} abstains on >= 70% of unanswerable", abstains, _at_least(abstains, 0.70))
    bar(f"{combined} false abstention <= 15%", false_abstain,
        None if false_abstain.value is None else false_abstain.value <= 0.15)
    bar(f"{combined} cites a supporting document on >= 70% of correct answers", cites, _at_least(cites, 0.70))
    knowledge = alone.false_abstain if alone else missing
    bar(f"{lora} alone abstains on most knowledge questions (> 50%)", knowledge,
        None if knowledge.value is None else knowledge.value > 0.5)
    targets.append(Target(
        name=f"generation speed cost of the applied adapter <= {SPEED_COST_BAR:g}%",
        measured="–" if speed_cost is None else f"{speed_cost:g}% (adapter card)",
        passed=None if speed_cost is None else speed_cost <= SPEED_COST_BAR,
    ))
    return targets


def adapter_speed_cost(catalog: AdapterCatalog, adapter: str = "grounded-json") -> float | None:
    """The generation speed cost (percent) on the card of ``adapter`` as the catalog resolves it;
    None when the adapter is not in the catalog or its card has no speed measurement."""
    from ragtune.training.card import load_card

    try:
        path = catalog.resolve(adapter)
    except RagtuneError:
        return None
    card = load_card(path)
    return None if card is None or card.speed is None else card.speed.cost_percent


def targets_markdown(targets: Sequence[Target]) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t.name} | {t.measured} | {t.verdict} |" for t in targets]
    return "\n".join(lines)


def heldout_metrics(results: Sequence[EvalResult], *, mode_id: str = "rag+lora",
                    baseline_mode: str = "rag") -> list[Metric]:
    """The held-out figures of ``mode_id`` as card metrics (percent, with n), next to ``baseline_mode``.

    Takes a stored run's results (``EvalStore.load(run_id).results``): the card's figures come
    from a stored run, never typed by hand.
    """
    rows = {row.mode_id: row for row in heldout_rows(results)}
    row = rows.get(mode_id)
    if row is None:
        return []
    base = rows.get(baseline_mode)
    fields = (
        ("correct", "held-out correct"),
        ("valid", "held-out valid JSON"),
        ("usable", "held-out correct + valid"),
        ("cites_right", "held-out cites a right document (of correct answers)"),
        ("abstains", "held-out abstains when it should (unanswerable)"),
        ("false_abstain", "held-out false abstention (answerable)"),
    )
    out = []
    for field, label in fields:
        rate: Rate = getattr(row, field)
        if rate.value is None:
            continue
        base_rate: Rate | None = getattr(base, field) if base else None
        baseline = None if base_rate is None or base_rate.value is None else round(100 * base_rate.value, 1)
        out.append(Metric(name=label, value=round(100 * rate.value, 1), unit="%", baseline=baseline, n=rate.n,
                          note=f"{mode_id} vs {baseline_mode}" if base else mode_id))
    return out


# -- inputs ------------------------------------------------------------------------------------


def check_inputs(docs: Path, eval_set_path: Path, limit: int | None = None) -> EvalSet:
    """The eval set, once the documents folder and the set file are known to be usable.

    Raises:
        InputError: the documents folder is missing or holds no files.
        EvalSetError: the set file is invalid.
    """
    from ragtune.evaluation.sets import load_eval_set

    docs = Path(docs)
    if not docs.is_dir():
        raise InputError(f"No documents folder at {docs}: give --docs DIR (a folder of .md, .txt or .pdf files).")
    if not any(p.is_file() and not p.name.startswith(".") for p in docs.rglob("*")):
        raise InputError(f"The documents folder {docs} holds no files: add the documents to evaluate on.")
    if not Path(eval_set_path).is_file():
        raise InputError(f"No eval set at {eval_set_path}: give --set FILE.jsonl (one EvalCase per line).")
    return load_eval_set(eval_set_path).limited(limit)


def folder_files(docs: Path) -> list[tuple[Path, str]]:
    """The files ``KnowledgeBase.ingest_paths`` takes from the folder ``docs``, each with its source
    path (its identity: the path inside the folder), in ingest order (hidden files and folders skipped)."""
    docs = Path(docs)
    out = []
    for path in sorted(docs.rglob("*")):
        rel = path.relative_to(docs)
        if any(part.startswith(".") for part in rel.parts) or path.is_dir():
            continue
        out.append((path, rel.as_posix()))
    return out


def unreadable_files(kb: KnowledgeBase, docs: Path) -> list[str]:
    """The problems of the folder's files that ingest would refuse (read and parsed exactly as ingest
    does, nothing written): ``"<path>: <why>"`` each."""
    from ragtune.errors import RagtuneError
    from ragtune.retrieval.ingest import _reader
    from ragtune.retrieval.loaders import parse_document

    problems = []
    for path, source in folder_files(docs):
        try:
            data = _reader(path, kb.max_upload_bytes)()
            parse_document(Path(source).name, data, max_bytes=kb.max_upload_bytes)
        except RagtuneError as exc:
            text = str(exc)  # ingest's messages name the file already
            problems.append(text if Path(source).name in text else f"{source}: {text}")
        except OSError as exc:
            problems.append(f"{source}: cannot read ({exc.strerror or exc}).")
    return problems


def planned_doc_ids(kb: KnowledgeBase, workspace: str, docs: Path) -> dict[str, str]:
    """The document id each of the folder's files will have in ``workspace`` once ingested (source
    path -> id), by the knowledge base's identity rule: a source already stored keeps its id, a new one
    gets its file-name slug, or the path's unique id when that slug is taken."""
    from ragtune.retrieval.ingest import _resolve_id
    from ragtune.retrieval.loaders import doc_id_for, unique_doc_id_for

    sources = [source for _, source in folder_files(docs)]
    ref = kb.workspace(workspace) if kb.has_workspace(workspace.strip()) else None
    planned: dict[str, str] = {}
    for source in sources:
        if ref is None:
            doc_id = doc_id_for(source)
        else:
            try:
                doc_id = _resolve_id(kb.manifest, ref, source, set(sources))
            except RagtuneError:  # the id is taken by another file: ingest refuses it (reported after ingest)
                continue
        if doc_id in planned.values():  # an earlier file of this batch holds the slug
            doc_id = unique_doc_id_for(source)
        planned[source] = doc_id
    return planned


def check_before_ingest(kb: KnowledgeBase, workspace: str, docs: Path, eval_set: EvalSet) -> None:
    """Refuse, before anything is written, what would make the held-out figures wrong.

    Raises:
        InputError: the workspace holds documents chunked with other settings, or documents that are
            not in ``docs``; a file of ``docs`` cannot be read; the set names documents the folder lacks.
    """
    if kb.has_workspace(workspace.strip()):
        stale = kb.stale_documents(workspace)
        if stale:
            raise InputError(
                f"Workspace '{workspace}' holds document(s) chunked with other settings than the current "
                f"chunk size {kb.chunk_size} / overlap {kb.chunk_overlap} ({', '.join(stale[:5])}): the figures "
                f"would not be this prompt's. Re-chunk it (`python -m ragtune workspaces rechunk {workspace}`: the "
                "text stays) or give another --workspace."
            )
        sources = {source for _, source in folder_files(docs)}
        others = [d for d in kb.list_documents(workspace) if d.source not in sources]
        if others:
            named = ", ".join(f"{d.doc_id} ({d.source})" for d in others[:5])
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            raise InputError(
                f"Workspace '{workspace}' holds document(s) that are not in {docs}: {named}{more}. They would "
                "be retrieved too and skew the figures; give another --workspace (or delete this one: "
                f"`python -m ragtune workspaces delete {workspace} --yes`)."
            )
    problems = unreadable_files(kb, docs)
    if problems:
        raise InputError(f"Some documents cannot be ingested ({'; '.join(problems)}); fix or remove them.")
    planned = set(planned_doc_ids(kb, workspace, docs).values())
    absent = sorted({d for case in eval_set.cases for d in case.doc_ids} - planned)
    if absent:
        raise InputError(
            f"The eval set cites document(s) {', '.join(absent)} that the documents folder {docs} does not "
            f"hold (its files get the ids {', '.join(sorted(planned)) or 'none'}); doc_ids are the files' "
            "slugged stems. Give the --set that belongs to these --docs."
        )


def ingest_docs(kb: KnowledgeBase, workspace: str, docs: Path, eval_set: EvalSet) -> IngestReport:
    """Ingest ``docs`` into ``workspace`` (created if missing; unchanged files are left as they are),
    once :func:`check_before_ingest` finds nothing to refuse: a refused input changes nothing stored.

    Raises:
        InputError: see :func:`check_before_ingest`; and, found only while ingesting, a file that
            could not be ingested or a cited document the workspace still lacks.
    """
    from ragtune.evaluation.sets import require_ingested

    check_before_ingest(kb, workspace, docs, eval_set)
    kb.ensure_workspace(workspace)
    report = kb.ingest_paths(workspace, [Path(docs)])
    require_ingested(report, [d.doc_id for d in kb.list_documents(workspace)], eval_set.cases,
                     f"workspace '{workspace}'")
    return report


def evaluate_heldout(
    pipeline: Pipeline, store: EvalStore, eval_set: EvalSet, modes: Sequence[Mode], *, docs: Path,
    workspace: str = DEFAULT_WORKSPACE, on_progress: Callable[[Progress], None] | None = None,
) -> tuple[EvalRun, IngestReport]:
    """Ingest ``docs`` into ``workspace`` of the pipeline's knowledge base and run ``eval_set`` in
    every mode through the evaluation runner, stored in ``store`` (give the pipeline temperature-0
    settings: :func:`ragtune.evaluation.runner.deterministic_settings`).

    ``adapters build`` can call this with its runtime's pipeline and put
    ``heldout_metrics(run.results)`` into the grounded-json card.

    Raises:
        InputError: see :func:`ingest_docs`.
        ModeUnavailableError: a mode cannot run here (its adapter is missing or does not fit).
    """
    from ragtune.evaluation.runner import plan_eval, run_plan

    report = ingest_docs(pipeline.kb, workspace, docs, eval_set)
    plan = plan_eval(pipeline, eval_set, modes, workspace, version="v1")
    return run_plan(plan, store=store, on_progress=on_progress), report
