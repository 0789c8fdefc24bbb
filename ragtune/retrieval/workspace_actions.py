"""What a user does to a whole workspace (create, restore the demo, rename, empty, delete):
one typed action and one function that carries it out and says what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from ragtune.retrieval.demo import restore_demo_workspace

if TYPE_CHECKING:
    from ragtune.retrieval.knowledge import KnowledgeBase

WorkspaceActionKind = Literal["create", "restore_demo", "rename", "empty", "delete", "rechunk"]


class WorkspaceAction(NamedTuple):
    """One change to a workspace: ``name`` is the workspace acted on (the new one's, for
    ``create`` and ``restore_demo``); ``target`` is the new name of a ``rename``."""

    kind: WorkspaceActionKind
    name: str
    target: str = ""


class WorkspaceChange(NamedTuple):
    """What an action did: the message for the user and the workspace to show next (None: keep)."""

    message: str
    select: str | None = None


def apply_workspace_action(kb: KnowledgeBase, action: WorkspaceAction) -> WorkspaceChange:
    """Carry out ``action`` on ``kb``.

    Raises:
        WorkspaceError: the name is invalid or taken, the workspace does not exist, or the demo is off.
    """
    name, target = action.name, action.target
    if action.kind == "create":
        kb.create_workspace(name)
        return WorkspaceChange(f"Created workspace '{name.strip()}'.", name.strip())
    if action.kind == "restore_demo":
        restore_demo_workspace(kb, name)
        return WorkspaceChange(f"Restored workspace '{name}'.", name)
    if action.kind == "rename":
        kb.rename_workspace(name, target)
        return WorkspaceChange(f"Renamed to '{target.strip()}'.", target.strip())
    if action.kind == "rechunk":
        done = kb.rechunk(name)
        noun = "document" if len(done) == 1 else "documents"
        return WorkspaceChange(
            f"Re-chunked {len(done)} {noun} with the current chunk settings." if done else
            "Nothing re-chunked: the documents changed meanwhile (their new chunks use the current settings)."
        )
    if action.kind == "empty":
        kb.empty_workspace(name)
        return WorkspaceChange(f"Emptied '{name}'.")
    kb.delete_workspace(name)
    return WorkspaceChange(f"Deleted workspace '{name}'.")
