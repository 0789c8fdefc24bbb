"""What the app has to work with right now, for the Home page: the model, its adapters, the documents,
and where the demo's measured figures come from. Gathered from the core's own objects; nothing here
loads a model or writes a file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import RagtuneError

if TYPE_CHECKING:
    from ragtune.adapters import AdapterCatalog
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.runtime.base import Runtime
    from ragtune.showcases import ShowcaseStore

#: The adapters the demo's modes need (the 2 x 2, the freshness trap, the router).
DEMO_ADAPTERS: tuple[str, ...] = ("grounded-json", "knowledge-baked", "ticket-router")


class DocumentsStatus(BaseModel):
    """The workspaces and their counts; ``error`` when the knowledge base cannot be read."""

    model_config = ConfigDict(frozen=True)

    workspaces: dict[str, tuple[int, int]] = Field(default_factory=dict, description="name -> (documents, chunks)")
    demo_workspace: str = ""
    demo_version: str = ""
    error: str = ""

    @property
    def documents(self) -> int:
        return sum(d for d, _ in self.workspaces.values())

    @property
    def chunks(self) -> int:
        return sum(c for _, c in self.workspaces.values())


class HomeStatus(BaseModel):
    """The live status the Home page shows."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    model_detail: str = ""
    model_error: str = ""
    adapters: list[str] = Field(default_factory=list, description="Adapters available for the loaded model.")
    missing_demo_adapters: list[str] = Field(default_factory=list)
    documents: DocumentsStatus
    measured: str = Field(default="", description="Where the demo's measured rates come from; empty: none.")
    measured_shipped: bool = Field(default=False, description="They are the copy shipped with ragtune (the "
                                   "project measured them), not this installation's own measurement.")


def documents_status(kb: KnowledgeBase | None, demo_workspace: str, kb_error: str = "") -> DocumentsStatus:
    """The knowledge base's workspaces with their counts (never raises: a failure is the status)."""
    if kb is None:
        return DocumentsStatus(error=kb_error or "the knowledge base is unavailable")
    from ragtune.retrieval.demo import demo_version

    try:
        spaces = {w.name: (w.n_documents, w.n_chunks) for w in kb.list_workspaces()}
        version = demo_version(kb, demo_workspace) if demo_workspace in spaces else ""
    except RagtuneError as exc:
        return DocumentsStatus(error=str(exc))
    return DocumentsStatus(workspaces=spaces, demo_workspace=demo_workspace if version else "", demo_version=version)


def home_status(
    model_id: str, *, runtime: Runtime | None, runtime_error: str = "", catalog: AdapterCatalog,
    documents: DocumentsStatus, showcases: ShowcaseStore,
) -> HomeStatus:
    """The status of the model (loaded, or why not), its adapters, the documents and the measured figures."""
    detail = ""
    if runtime is not None:
        s = runtime.summary
        detail = (f"{s.architecture} · {s.quantization or '?'} · {s.size_bytes / 1e6:.0f} MB · "
                  f"context {runtime.n_ctx}")
    try:
        names = [a.name for a in catalog.for_model(model_id).list()]
    except RagtuneError:
        names = []
    shows = showcases.load(model_id)
    return HomeStatus(
        model_id=model_id, model_detail=detail, model_error="" if runtime is not None else runtime_error,
        adapters=names, missing_demo_adapters=[a for a in DEMO_ADAPTERS if a not in names],
        documents=documents, measured=shows.provenance() if shows is not None else "",
        measured_shipped=shows is not None and shows.origin == "shipped",
    )
