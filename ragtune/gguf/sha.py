"""A file's sha256, and a cache of them per (path, size, mtime) so a large model is hashed once."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any


def sha256_of(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 results remembered per (path, size, mtime) in a JSON file, written atomically."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def sha256(self, path: Path, *, use_cache: bool = True) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        with self._lock:
            entry = self._load().get(str(path)) if use_cache else None
            if (
                isinstance(entry, dict)
                and entry.get("size") == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns
                and isinstance(entry.get("sha256"), str)
            ):
                return str(entry["sha256"])
        digest = sha256_of(path)
        with self._lock:
            data = self._load()
            data[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.file.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(data, indent=1))
                os.replace(tmp, self.file)
            except OSError:
                pass  # a cache that cannot be written only costs time
        return digest
