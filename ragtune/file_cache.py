"""Files read once per version: a reader called on every Streamlit rerun (the demo eval set, the
showcases, the model manifest) parses its file again only when the file changed.

A version is the file's path, modification time, size and inode (an atomic save replaces the file, so
the inode changes too). A reader that raises is not cached: the next call tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def per_file_version(maxsize: int) -> Callable[[Callable[[Path], T]], Callable[[Path], T]]:
    """Cache ``read(path)`` per version of the file at ``path`` (``maxsize`` versions kept).

    The wrapped reader raises ``OSError`` when the file cannot be looked at; its result is shared
    by every caller, so it should be immutable (a tuple, a frozen record) or copied by the caller.
    """

    def decorate(read: Callable[[Path], T]) -> Callable[[Path], T]:
        @lru_cache(maxsize=maxsize)
        def cached(path: Path, mtime_ns: int, size: int, inode: int) -> T:  # noqa: ARG001 - the key
            return read(path)

        @wraps(read)
        def call(path: Path) -> T:
            stamp = Path(path).stat()
            return cached(Path(path), stamp.st_mtime_ns, stamp.st_size, stamp.st_ino)

        return call

    return decorate
