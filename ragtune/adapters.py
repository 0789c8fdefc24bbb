"""The adapter catalog: LoRA GGUF files shipped in ``models/adapters`` or kept in the data directory.

Adding an adapter (an upload, a trained result) never replaces or damages what is
stored: the new file is written to a temporary name, checked against the base
model, and only then moved into place under a name that is not taken. Deleting one
removes its file and its card together, or nothing.

With sign-in, an adapter an admin adds is *shared* (``<data dir>/adapters``, as without sign-in);
one anyone else adds is *personal*: it lives in that user's own folder,
``<data dir>/adapters/personal/<user>/`` (:func:`personal_adapters_dir`, read through
:class:`PersonalAdapterCatalog`), so two users' adapters of the same name are two files and neither
can replace or delete the other's. :class:`ragtune.access.ScopedAdapterCatalog` puts the views together.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from ragtune.config import PROJECT_ROOT, Settings
from ragtune.errors import AdapterError, InputError, RagtuneError
from ragtune.gguf.files import check_adapter_file
from ragtune.gguf.summary import GGUFSummary
from ragtune.names import RULES, check_name
from ragtune.training.card import card_paths, peft_folder

SHIPPED_ADAPTERS_DIR = PROJECT_ROOT / "models" / "adapters"
#: The model the top level of :data:`SHIPPED_ADAPTERS_DIR` was trained on (SmolLM2-135M-Instruct Q4_1).
DEFAULT_ADAPTER_MODEL = "smollm2-135m-instruct-q4_1"


def _adapter_base(model_id: str) -> str:
    """The model whose shipped adapters ``model_id`` uses: itself, or for a registry model
    re-quantized from another (a ``derived`` source), that other one: the same weights in another
    encoding take the same adapters."""
    from ragtune.models import DerivedSource, load_manifest

    try:
        by_id = {spec.id: spec for spec in load_manifest()}
    except RagtuneError:
        return model_id
    spec = by_id.get(model_id)
    return spec.source.base if spec is not None and isinstance(spec.source, DerivedSource) else model_id


def shipped_adapters_dir(model_id: str) -> Path:
    """Where the adapters shipped for a model are: SmolLM2 Q4_1's in ``models/adapters``, another
    registry model's in ``models/adapters/<model id>/`` (absent: none ship for it); a re-quantized
    copy of a model uses its base's.

    An adapter only fits the model it was trained on, so each model sees its own shipped set
    under the same names (``grounded-json`` is the default model's or Qwen's, as loaded).
    """
    check_name("model id", model_id)  # a path component: never "..", never a separator
    model_id = _adapter_base(model_id)
    if model_id == DEFAULT_ADAPTER_MODEL:
        return SHIPPED_ADAPTERS_DIR
    if ":" in model_id:
        raise InputError(f"'{model_id}' is a local model: ragtune ships no adapters for it. Train one with "
                         f"`python -m ragtune train --base {model_id}` or on the Adapters page.")
    return SHIPPED_ADAPTERS_DIR / model_id


class AdapterFile(BaseModel):
    """An adapter file on disk (not necessarily loaded, not necessarily for this model)."""

    name: str
    path: Path
    origin: Literal["shipped", "user"]
    size_bytes: int
    owner: str = ""
    """Whose personal adapter this is; '': shipped or shared."""


def check_fit(path: Path, base: GGUFSummary, *, name: str | None = None) -> None:
    """Check the file at ``path`` as a LoRA adapter for the model ``base``.

    Raises:
        AdapterError: not a GGUF LoRA, or its tensors do not fit the base weights; a header
            value pydantic refuses is said in words, never as pydantic's own text.
    """
    try:
        check_adapter_file(path, base)
    except ValidationError as exc:
        raise AdapterError.from_validation(exc, what=f"{name or path.stem} is not a usable LoRA adapter") from exc


def fit_problem(path: Path, base: GGUFSummary) -> str | None:
    """Why the adapter at ``path`` does not fit the model ``base`` (None: it fits)."""
    try:
        check_fit(path, base)
    except RagtuneError as exc:
        return str(exc)
    return None


class AdapterCatalog:
    """Finds adapters by name and stores new ones safely."""

    def __init__(self, settings: Settings, shipped_dir: Path | None = None, *, model_id: str | None = None) -> None:
        """``shipped_dir`` given: the shipped adapters are that folder's, whatever the model (tests,
        a build's output); otherwise they are the ones shipped for ``model_id`` (default: the
        configured model), see :func:`shipped_adapters_dir`."""
        self.settings = settings
        self.model_id = model_id or _default_model(settings)
        self._fixed_shipped = shipped_dir is not None
        self.shipped_dir = shipped_dir if shipped_dir is not None else _shipped_or_none(self.model_id)

    def for_model(self, model_id: str) -> AdapterCatalog:
        """The catalog as a runtime of ``model_id`` sees it (its own shipped adapters)."""
        if self._fixed_shipped or model_id == self.model_id:
            return self
        return AdapterCatalog(self.settings, model_id=model_id)

    @property
    def user_dir(self) -> Path:
        return self.settings.adapters_dir

    def list(self) -> list[AdapterFile]:
        """Every ``*.gguf`` adapter file, shipped first, by name."""
        found: dict[str, AdapterFile] = {}
        for origin, folder in (("shipped", self.shipped_dir), ("user", self.user_dir)):
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.gguf")):
                if not path.is_file():  # a dangling link, a folder named *.gguf: not an adapter
                    continue
                if path.stem not in found:
                    found[path.stem] = AdapterFile(
                        name=path.stem, path=path.resolve(), origin=origin, size_bytes=path.stat().st_size  # type: ignore[arg-type]
                    )
        return list(found.values())

    def taken_names(self) -> set[str]:
        """The names a new adapter may not take: this catalog's, and those shipped for any model
        (a user adapter named like one would hide it, or be hidden, when the model changes)."""
        names = {entry.name for entry in self.list()}
        for pattern in ("*.gguf", "*/*.gguf"):
            names.update(path.stem for path in SHIPPED_ADAPTERS_DIR.glob(pattern))
        return names

    def resolve(self, name_or_path: str | Path) -> Path:
        """A catalog name or a file path -> the adapter's path.

        Raises:
            AdapterError: neither a known name nor an existing file.
        """
        text = str(name_or_path).strip()
        if not text:
            raise AdapterError("No adapter given: pick one from the list or give a path.")
        for entry in self.list():
            if entry.name == text:
                return entry.path
        path = Path(text).expanduser()
        if path.is_file():
            return path.resolve()
        names = ", ".join(e.name for e in self.list()) or "none yet"
        raise AdapterError(f"No adapter named or found at '{text}'. Known adapters: {names}.")

    def add(self, name: str, data: bytes, *, base: GGUFSummary) -> AdapterFile:
        """Check ``data`` as a LoRA adapter for ``base`` and store it as ``<name>.gguf``.

        Raises:
            AdapterError: bad name, name taken, or the file is not a fitting LoRA adapter.
        """
        stem = name.removesuffix(".gguf").strip()
        try:
            stem = check_name("adapter", stem)
        except InputError:
            raise AdapterError(f"'{name}' is not a valid adapter name: {RULES['adapter'].describe()}.") from None
        if stem in self.taken_names():
            raise AdapterError(f"An adapter named '{stem}' exists already; choose another name.")
        max_bytes = self.settings.max_upload_mb * 1024 * 1024
        if len(data) > max_bytes:
            raise AdapterError(
                f"{name} is {len(data) / (1024 * 1024):.1f} MB, over the {self.settings.max_upload_mb} MB "
                "limit (RAGTUNE_MAX_UPLOAD_MB)."
            )
        self.settings.ensure_data_dir()
        self.user_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.user_dir / f".incoming-{os.getpid()}-{stem}.gguf"
        target = self.user_dir / f"{stem}.gguf"
        try:
            tmp.write_bytes(data)
            check_fit(tmp, base, name=stem)
            if target.exists():  # appeared meanwhile: never overwrite
                raise AdapterError(f"An adapter named '{stem}' exists already; choose another name.")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return AdapterFile(name=stem, path=target.resolve(), origin="user", size_bytes=len(data))

    def remove(self, name: str) -> None:
        """Delete a user adapter and its card as one operation: afterwards the adapter is
        either gone whole or still there whole (shipped ones are part of the repository).

        Its files (card and PEFT folder first, the GGUF last) are renamed into a fresh hidden folder in
        the user adapters folder, which is atomic per file; when a rename fails, the files already
        moved go back. Only when all are in that folder is it deleted. An entry that is a symlink is
        moved and deleted as the link: what it points to, wherever that is, stays untouched.

        Raises:
            AdapterError: unknown name, a shipped adapter, or a file that could not be moved
                (the adapter is then left as it was).
        """
        entry = next((e for e in self.list() if e.name == name), None)
        if entry is None:
            raise AdapterError(f"No adapter named '{name}'.")
        if entry.origin == "shipped":
            raise AdapterError(f"'{name}' ships with ragtune and cannot be deleted here.")
        # Work on the catalog's own entries, never on what a link points to: a symlinked GGUF,
        # card or PEFT folder is moved (os.replace moves the link itself) and deleted as a
        # link, so nothing outside the user adapters folder is touched.
        gguf = self.user_dir / f"{name}.gguf"
        # The PEFT folder (a directory: os.replace moves it whole) goes with the card, before the GGUF.
        extras = [*card_paths(gguf), peft_folder(gguf)]
        files = [path for path in extras if path.exists() or path.is_symlink()] + [gguf]
        moved: list[Path] = []
        try:
            trash = Path(tempfile.mkdtemp(prefix=f".deleting-{name}-", dir=self.user_dir))
        except OSError as exc:
            raise _not_deleted(name, exc) from exc
        try:
            for path in files:
                os.replace(path, trash / path.name)
                moved.append(path)
        except OSError as exc:
            for path in reversed(moved):
                os.replace(trash / path.name, path)
            shutil.rmtree(trash, ignore_errors=True)
            raise _not_deleted(name, exc) from exc
        shutil.rmtree(trash, ignore_errors=True)


PERSONAL_DIR = "personal"
"""The folder under the adapters folder that holds one folder per user's personal adapters."""
_OWNER_FILE = ".owner"


def personal_adapters_dir(settings: Settings, owner: str) -> Path:
    """The folder of ``owner``'s personal adapters: ``<adapters dir>/personal/<name>-<hash>``, the
    address made safe as a folder name plus a hash of it (two addresses never share a folder)."""
    address = owner.strip().lower()
    if not address:
        raise InputError("A personal adapter needs its owner's address.")
    slug = re.sub(r"[^a-z0-9._-]+", "_", address)[:40].strip("._-") or "user"
    digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:12]
    return settings.adapters_dir / PERSONAL_DIR / f"{slug}-{digest}"


def personal_owners(settings: Settings) -> list[str]:
    """Every user who has a personal adapters folder (read from the folder's owner file), by address."""
    root = settings.adapters_dir / PERSONAL_DIR
    owners = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            try:
                owner = (folder / _OWNER_FILE).read_text(encoding="utf-8").strip()
            except OSError:
                continue  # not a personal folder (or unreadable): nothing of it is listed
            if owner and personal_adapters_dir(settings, owner) == folder:
                owners.append(owner)
    return sorted(owners)


_NO_SHIPPED = SHIPPED_ADAPTERS_DIR / ".none"


class PersonalAdapterCatalog(AdapterCatalog):
    """One user's personal adapters, in :func:`personal_adapters_dir`: listed, added and removed with the
    same care as the shared ones, but only there (the shipped and shared ones are not part of it)."""

    def __init__(self, settings: Settings, owner: str, *, model_id: str | None = None) -> None:
        super().__init__(settings, _NO_SHIPPED, model_id=model_id)
        self.owner = owner.strip().lower()
        self.folder = personal_adapters_dir(settings, self.owner)

    @property
    def user_dir(self) -> Path:
        return self.folder

    def list(self) -> list[AdapterFile]:
        return [entry.model_copy(update={"owner": self.owner}) for entry in super().list()]

    def add(self, name: str, data: bytes, *, base: GGUFSummary) -> AdapterFile:
        self.ensure_folder()
        return super().add(name, data, base=base).model_copy(update={"owner": self.owner})

    def ensure_folder(self) -> Path:
        """Create the folder (with its owner file, so an admin's listing can say whose it is)."""
        self.settings.ensure_data_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / _OWNER_FILE
        if not marker.exists():
            marker.write_text(self.owner + "\n", encoding="utf-8")
        return self.folder


def _default_model(settings: Settings) -> str:
    """The model a runtime loads when none is named (``RAGTUNE_MODEL_PATH`` first, as the registry
    says), or the configured one when the registry cannot be read (its own check reports why)."""
    from ragtune.models import ModelRegistry

    try:
        return ModelRegistry(settings).default_id() or settings.model
    except RagtuneError:
        return settings.model


def _shipped_or_none(model_id: str) -> Path:
    """:func:`shipped_adapters_dir`, or a folder that cannot exist for an id that ships nothing
    (a local model's ``local:...`` id)."""
    try:
        return shipped_adapters_dir(model_id)
    except InputError:
        return SHIPPED_ADAPTERS_DIR / ".none"


def _not_deleted(name: str, exc: OSError) -> AdapterError:
    return AdapterError(
        f"Could not delete '{name}' ({exc.strerror or exc}); it is left as it was. "
        "Check the permissions of the adapters folder."
    )
