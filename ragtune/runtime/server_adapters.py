"""Which adapters a model server serves, and which of the app's adapter files each one is.

A request must never be answered by another adapter than the one asked for, so an adapter is
matched by its **content**, not by its name alone:

* ``make serve-model`` gives llama-server each adapter as ``<name>@<first 16 hex of sha256>.gguf``
  (a link to the catalog's file, see :mod:`ragtune.serving`): the checksum the server loaded is in
  the path ``GET /lora-adapters`` reports, wherever the server runs. A file retrained under the
  same name has another checksum: it no longer matches until the server restarts.
* A server started by hand reports plain paths: they match when the path is readable here (the
  same machine or a shared disk) and its checksum is the catalog file's.
* Anything else cannot be checked and is not used.

The ``openai-lora`` dialect (vLLM, SGLang, LoRAX) lists adapters as model names in
``GET /v1/models``; they match the catalog by name only (those servers load PEFT folders, not these
GGUF files, and report no checksum).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from ragtune.gguf.sha import sha256_of

#: The checksum part of a served file name: 16 hex digits (64 bits) of the file's sha256.
SHA_PREFIX_LEN = 16
_SERVED_NAME = re.compile(rf"^(?P<name>.+)@(?P<sha>[0-9a-f]{{{SHA_PREFIX_LEN}}})\.gguf$")


def served_file_name(name: str, sha256: str) -> str:
    """The file name ``make serve-model`` gives an adapter: ``<name>@<sha256 prefix>.gguf``."""
    return f"{name}@{sha256[:SHA_PREFIX_LEN]}.gguf"


class ServerAdapter(BaseModel):
    """One adapter loaded in a server: its request id, its path there, its name and checksum prefix."""

    model_config = ConfigDict(frozen=True)

    id: int
    path: str
    name: str
    sha_prefix: str | None = None
    """The first 16 hex digits of its sha256 (None: unknown, it cannot be matched)."""


def _basename(path: str) -> str:
    # The server may run on another OS: take the last part under either separator.
    return PureWindowsPath(PurePosixPath(path).name).name


class ChecksumCache:
    """sha256 of local files, remembered per (path, size, mtime): adapters are checked per request."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._known:
            self._known[key] = sha256_of(path)
        return self._known[key]


def parse_lora_adapters(payload: Any, checksums: ChecksumCache) -> list[ServerAdapter]:
    """llama-server's ``GET /lora-adapters`` answer as :class:`ServerAdapter` records.

    Raises:
        ValueError: the answer is not a list of adapters with an integer ``id`` and a ``path``.
    """
    if not isinstance(payload, list):
        raise ValueError("expected a list of adapters")
    found = []
    for entry in payload:
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), int) and isinstance(entry.get("path"), str)):
            raise ValueError("each adapter needs an integer 'id' and a 'path'")
        path = entry["path"]
        base = _basename(path)
        match = _SERVED_NAME.match(base)
        if match:
            found.append(ServerAdapter(id=entry["id"], path=path, name=match["name"], sha_prefix=match["sha"]))
            continue
        sha = None
        local = Path(path)
        try:
            if local.is_absolute() and local.is_file():
                sha = checksums.sha256(local)[:SHA_PREFIX_LEN]
        except OSError:
            sha = None
        found.append(ServerAdapter(id=entry["id"], path=path, name=base.removesuffix(".gguf"), sha_prefix=sha))
    return found


def find_served(served: list[ServerAdapter], name: str, sha256: str) -> ServerAdapter | None:
    """The served adapter with this content (the same name first, when several have it), or None."""
    same = [a for a in served if a.sha_prefix is not None and a.sha_prefix == sha256[:SHA_PREFIX_LEN]]
    return next((a for a in same if a.name == name), same[0] if same else None)


def lacking_reason(served: list[ServerAdapter], name: str, sha256: str, url: str) -> str:
    """Why no served adapter is this file (for a message that says what to do)."""
    restart = "restart `make serve-model` to load new adapters"
    named = [a for a in served if a.name == name]
    if any(a.sha_prefix is None for a in named):
        return (f"the model server at {url} has an adapter named '{name}' whose file cannot be checked from "
                f"here; start the server with `make serve-model` (it names each adapter file by its checksum)")
    if named:
        return (f"the model server at {url} serves another file named '{name}' (a different checksum: "
                f"retrained or replaced since the server started); {restart}")
    return f"the model server at {url} does not serve '{name}'; {restart}"


def parse_openai_models(payload: Any) -> tuple[str, list[str]]:
    """``GET /v1/models`` of an OpenAI-compatible server: the base model's name and the adapters' names.

    vLLM marks an adapter with its ``parent`` (the base model); the base is the entry without one.

    Raises:
        ValueError: the answer lists no model.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    ids = [e for e in data if isinstance(e, dict) and isinstance(e.get("id"), str)] if isinstance(data, list) else []
    if not ids:
        raise ValueError("it lists no model")
    bases = [e["id"] for e in ids if not e.get("parent")]
    base = bases[0] if bases else ids[0]["id"]
    return base, [e["id"] for e in ids if e["id"] != base]
