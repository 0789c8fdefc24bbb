"""The adapter catalog as one user may use it: :class:`ScopedAdapterCatalog`.

Shipped adapters are everyone's. An adapter an admin adds is *shared* (the data directory's adapters
folder, as without sign-in); one anyone else adds is *personal*: it lives in the user's own folder
(:func:`ragtune.adapters.personal_adapters_dir`) and only its owner and the admins see it. A user's
names resolve to the shipped, then the shared, then their own adapters; a file path only for an admin
(a server path). Deleting a shared adapter is an admin's; a personal one its owner's or an admin's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.adapters import AdapterCatalog, AdapterFile, PersonalAdapterCatalog, personal_owners
from ragtune.errors import AdapterError, PermissionDenied

if TYPE_CHECKING:
    from ragtune.access.scoped import Scope
    from ragtune.config import Settings
    from ragtune.gguf.summary import GGUFSummary


class ScopedAdapterCatalog:
    """The shipped, shared and personal adapters one user may use (see the module's rules).

    ``shared`` is the catalog of the shipped and shared adapters; ``personal`` the user's own (None for
    the local user and admins, who add shared ones).
    """

    def __init__(self, settings: Settings, scope: Scope, *, model_id: str | None = None,
                 shared: AdapterCatalog | None = None) -> None:
        self.settings = settings
        self.scope = scope
        self.shared = shared or AdapterCatalog(settings, model_id=model_id)
        self.model_id = self.shared.model_id
        self.shipped_dir = self.shared.shipped_dir
        admin = scope.principal.is_admin
        self.personal = None if admin else PersonalAdapterCatalog(settings, scope.owner, model_id=self.model_id)

    def for_model(self, model_id: str) -> ScopedAdapterCatalog:
        """The catalog as a runtime of ``model_id`` sees it (its own shipped adapters)."""
        shared = self.shared.for_model(model_id)
        if shared is self.shared:
            return self
        return ScopedAdapterCatalog(self.settings, self.scope, shared=shared)

    @property
    def user_dir(self) -> Path:
        """Where this user's new adapters go: the shared folder (admins), or their personal one."""
        return self.personal.user_dir if self.personal is not None else self.shared.user_dir

    def _others(self) -> list[AdapterFile]:
        """An admin's view of every user's personal adapters."""
        return [entry for owner in personal_owners(self.settings)
                for entry in PersonalAdapterCatalog(self.settings, owner, model_id=self.model_id).list()]

    def list(self) -> list[AdapterFile]:
        """The shipped and shared adapters, then the user's own (an admin: every user's, each with its owner)."""
        entries = self.shared.list()
        names = {entry.name for entry in entries}
        own = self.personal.list() if self.personal is not None else self._others()
        if self.personal is not None:  # a shared adapter of the same name comes first: the name is its
            own = [entry for entry in own if entry.name not in names]
        return entries + own

    def taken_names(self) -> set[str]:
        """The names a new adapter of this user may not take: those they can see (for an admin, every
        personal adapter's too, which a new shared one would hide)."""
        names = self.shared.taken_names()
        own = self.personal.list() if self.personal is not None else self._others()
        return names | {entry.name for entry in own}

    def resolve(self, name_or_path: str | Path) -> Path:
        """A name the user can see, or (admins only) a file path on the server -> the adapter's path.

        Raises:
            AdapterError: no such adapter.
            PermissionDenied: a path given by a user who is not an admin.
        """
        text = str(name_or_path).strip()
        if self.personal is None:
            return self.shared.resolve(name_or_path)
        for entry in self.list():
            if entry.name == text:
                return entry.path
        if text and (Path(text).expanduser().is_file() or "/" in text or "\\" in text):
            self.scope.require_admin("use an adapter by its path on the server")
        return self.shared.resolve(name_or_path)  # the catalog's own message, with the names there are

    def add(self, name: str, data: bytes, *, base: GGUFSummary) -> AdapterFile:
        """Check and store a new adapter: shared when an admin adds it, else in the user's personal folder.

        Raises:
            AdapterError: bad name, name taken, or not a fitting LoRA adapter.
        """
        stem = name.removesuffix(".gguf").strip()
        if stem in self.taken_names():
            raise AdapterError(f"An adapter named '{stem}' exists already; choose another name.")
        if self.personal is None:
            return self.shared.add(name, data, base=base)
        return self.personal.add(name, data, base=base)

    def remove(self, name: str, *, owner: str | None = None) -> None:
        """Delete an adapter and its card: a shared one (admins only), or a personal one (its owner, or an
        admin naming ``owner``).

        Raises:
            AdapterError: unknown name, or a shipped adapter.
            PermissionDenied: a shared adapter removed by a user who is not an admin.
        """
        admin = self.scope.principal.is_admin
        if owner and admin:
            PersonalAdapterCatalog(self.settings, owner, model_id=self.model_id).remove(name)
            return
        if self.personal is not None and any(e.name == name for e in self.personal.list()) and not any(
                e.name == name for e in self.shared.list()):
            self.personal.remove(name)
            return
        entry = next((e for e in self.shared.list() if e.name == name), None)
        if entry is not None and entry.origin == "user" and not admin:
            raise PermissionDenied(f"{self.scope.principal.email} may not delete the shared adapter '{name}': "
                                   "only an admin may (RAGTUNE_ADMINS).")
        self.shared.remove(name)


__all__ = ["ScopedAdapterCatalog"]
