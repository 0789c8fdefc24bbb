"""The multi-tenant demo: one product line, two resellers, two users who must see different facts.

Tidewell Robotics (the demo company of ``data/kb``) sells through two regional resellers, the
**tenants**: Northgate Garden Robotics in the United Kingdom and Southern Cross Home Robotics in
Australia. Each has its own handbook (``data/tenants/<tenant>/*.md``: price list in its own currency,
returns, warranty, delivery, contacts), so one question has a different answer per tenant. Each
tenant's documents live in a workspace of their own (``tenant-north``, ``tenant-south``), and each has
a demo persona (``ana@north.example``, ``ben@south.example``): a viewer of their own tenant's workspace
and of nothing else. What is shared is the behaviour: one model and one ``grounded-json`` adapter.

:func:`ensure_tenant_workspaces` seeds them beside the demo workspace on the first start, and never
touches a workspace it did not create: a user's own workspace with a tenant's name stays as it is, and
its persona gets no role on it. Asking as the personas is :mod:`ragtune.tenant_ask`.

Examples:
    >>> [(t.workspace, t.persona.email) for t in TENANTS]
    [('tenant-north', 'ana@north.example'), ('tenant-south', 'ben@south.example')]
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.access.principal import Principal
from ragtune.config import PROJECT_ROOT
from ragtune.errors import WorkspaceError

if TYPE_CHECKING:
    from ragtune.access.store import AccessStore
    from ragtune.retrieval.ingest import ProgressCallback
    from ragtune.retrieval.knowledge import KnowledgeBase

TENANTS_DIR = PROJECT_ROOT / "data" / "tenants"
PERSONA_ROLE = "viewer"
"""Each persona's role on their own tenant's workspace: they read and ask, nothing more."""
SEEDED_BY = "tenant demo"
_CREATED_KEY = "tenant_created:{name}"  # the id of the workspace the seed created under this name
_FILLED_KEY = "tenant_filled:{name}"  # the same id once its documents are in and the persona has a role


class Tenant(BaseModel):
    """One reseller of the demo: its workspace, its documents' folder and its demo persona."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The folder under data/tenants.")
    name: str
    short: str = Field(description="The name in a sentence: \"Northgate's answer\".")
    region: str
    currency: str
    workspace: str
    persona: Principal

    @property
    def folder(self) -> Path:
        return TENANTS_DIR / self.id

    def files(self) -> list[Path]:
        """The tenant's shipped documents."""
        return sorted(self.folder.glob("*.md"))

    def doc_ids(self) -> set[str]:
        """The ids of the tenant's shipped documents (unique to the tenant: each file name carries its name)."""
        return set(file_hashes_of(self))


TENANTS: tuple[Tenant, ...] = (
    Tenant(id="north", name="Northgate Garden Robotics", short="Northgate", region="the United Kingdom",
           currency="GBP", workspace="tenant-north",
           persona=Principal(email="ana@north.example", name="Ana", demo=True)),
    Tenant(id="south", name="Southern Cross Home Robotics", short="Southern Cross", region="Australia",
           currency="AUD", workspace="tenant-south",
           persona=Principal(email="ben@south.example", name="Ben", demo=True)),
)


def is_tenant_workspace(name: str) -> bool:
    """Whether ``name`` is one of the demo's tenant workspaces."""
    return name in {t.workspace for t in TENANTS}


def tenant(key: str) -> Tenant:
    """The tenant with this id, workspace or persona address.

    Raises:
        KeyError: no such tenant.
    """
    for t in TENANTS:
        if key in (t.id, t.workspace, t.persona.email):
            return t
    raise KeyError(key)


@lru_cache(maxsize=len(TENANTS))
def file_hashes_of(t: Tenant) -> dict[str, str]:
    """Document id -> content hash of one tenant's shipped documents."""
    from ragtune.retrieval.demo import file_hashes

    return file_hashes(t.files())


def tenant_hashes() -> dict[str, str]:
    """Document id -> content hash of every tenant's shipped documents."""
    return {doc: sha for t in TENANTS for doc, sha in file_hashes_of(t).items()}


def missing_tenants(kb: KnowledgeBase) -> list[str]:
    """The tenant workspaces the knowledge base lacks (the demo is off, or they were deleted)."""
    return [t.workspace for t in TENANTS if not kb.has_workspace(t.workspace)]


# -- seeding ---------------------------------------------------------------------------------------

SeedStatus = Literal["created", "present", "taken", "deleted"]


class TenantSeed(BaseModel):
    """What seeding did with one tenant's workspace, and why."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    workspace: str
    status: SeedStatus
    note: str = ""


def seeded_here(kb: KnowledgeBase, t: Tenant) -> bool:
    """Whether ``t``'s workspace is the one the seed created and filled (not a user's own workspace that
    happens to have its name, nor one made after the seeded one was deleted)."""
    if not kb.has_workspace(t.workspace):
        return False
    ref_id = kb.workspace(t.workspace).id
    return kb.manifest.get_meta(_FILLED_KEY.format(name=t.workspace)) == ref_id


def changed_documents(kb: KnowledgeBase, t: Tenant) -> list[str]:
    """The documents of ``t``'s workspace that are not the tenant's shipped text: added, or edited."""
    shipped = file_hashes_of(t)
    return sorted(d.doc_id for d in kb.list_documents(t.workspace) if shipped.get(d.doc_id) != d.sha256)


def ensure_tenant_workspaces(kb: KnowledgeBase, members: AccessStore, *, again: bool = False,
                             on_progress: ProgressCallback | None = None) -> list[TenantSeed]:
    """Create and fill each tenant's workspace the first time, and give its persona the viewer role on it.

    Idempotent and non-destructive: a workspace the seed made is left as it is now (edited, or with roles
    changed by an admin); one it did not make (a user's own, of the same name) is never written to, and its
    persona gets no role there (``taken``). A seeded workspace a user deleted stays deleted (``deleted``),
    unless ``again`` (the Tour's "set the tenants up again"), which creates the missing ones only.
    """
    return [_ensure(kb, members, t, again=again, on_progress=on_progress) for t in TENANTS]


def _ensure(kb: KnowledgeBase, members: AccessStore, t: Tenant, *, again: bool,
            on_progress: ProgressCallback | None) -> TenantSeed:
    name = t.workspace
    created = kb.manifest.get_meta(_CREATED_KEY.format(name=name))
    filled = kb.manifest.get_meta(_FILLED_KEY.format(name=name))
    if kb.has_workspace(name):
        ref_id = kb.workspace(name).id
        if filled == ref_id:
            return TenantSeed(tenant=t.id, workspace=name, status="present")
        if created != ref_id:
            return TenantSeed(tenant=t.id, workspace=name, status="taken", note=(
                f"A workspace named {name!r} exists that the tenant demo did not create: it is left as it is, "
                f"and {t.persona.email} gets no role on it. Rename it to bring the tenant demo back."))
        # created by the seed, but the documents or the role never landed (the app stopped): finish it
    elif created and not again:
        return TenantSeed(tenant=t.id, workspace=name, status="deleted",
                          note=f"The tenant workspace {name!r} was deleted; it is not seeded again by itself.")
    else:
        try:
            kb.create_workspace(name)
        except WorkspaceError:
            if kb.has_workspace(name):  # another app instance on the same Chroma server made it a moment ago
                return TenantSeed(tenant=t.id, workspace=name, status="taken",
                                  note=f"{name!r} was created elsewhere at the same moment.")
            raise
        members.drop_workspace(name)  # roles left from an older workspace of this name never apply to the new one
        kb.manifest.set_meta(_CREATED_KEY.format(name=name), kb.workspace(name).id)
    report = kb.ingest_paths(name, t.files(), on_progress=on_progress)
    if not report.ok:
        failed = "; ".join(f"{f.name}: {f.error}" for f in report.failed)
        raise WorkspaceError(f"The tenant documents of {name!r} could not be ingested ({failed}).")
    members.grant(t.persona.email, name, PERSONA_ROLE, by=SEEDED_BY)
    kb.manifest.set_meta(_FILLED_KEY.format(name=name), kb.workspace(name).id)
    return TenantSeed(tenant=t.id, workspace=name, status="created")


__all__ = ["PERSONA_ROLE", "TENANTS", "TENANTS_DIR", "Tenant", "TenantSeed", "changed_documents",
           "ensure_tenant_workspaces", "is_tenant_workspace", "file_hashes_of", "missing_tenants", "seeded_here", "tenant", "tenant_hashes"]
