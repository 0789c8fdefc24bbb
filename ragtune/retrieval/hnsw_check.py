"""A check of chroma's HNSW index files before chroma reads them (local store only).

chroma's index reader trusts these files: a damaged ``link_lists.bin`` makes a search loop
forever instead of failing, so :class:`~ragtune.retrieval.store.ChromaVectorStore` refuses a
damaged index first.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

_HNSW_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")  # chroma's hnswlib header.bin, format version 1
_DEEP_CHECK_MAX_BYTES = 256 * 1024 * 1024


def hnsw_index_problem(folder: Path) -> str | None:
    """What is wrong with the HNSW index files in ``folder``, or None when they are consistent.

    chroma's index reader trusts these files: a damaged ``link_lists.bin`` makes a search loop
    forever instead of failing. So before chroma reads them, the header is checked against the
    file sizes, and (for indexes up to 256 MB) every stored neighbour id against the element count.
    """
    import numpy as np

    header_file = folder / "header.bin"
    if not header_file.exists():
        return None  # not written yet: chroma keeps small collections in its database
    raw = header_file.read_bytes()
    if len(raw) != _HNSW_HEADER.size:
        return f"{header_file} has {len(raw)} bytes, not {_HNSW_HEADER.size}"
    (version, _offset0, max_elements, count, per_element, label_offset, offset_data, max_level, entry,
     max_m, max_m0, _m, _mult, _ef) = _HNSW_HEADER.unpack(raw)
    if (version != 1 or not 0 <= count <= max_elements or not 0 < max_m <= 4096 or not 0 < max_m0 <= 8192
            or offset_data != 4 + 4 * max_m0 or not offset_data < label_offset < per_element
            or not -1 <= max_level < 64 or (count and (entry >= count or max_level < 0))):
        return f"{header_file} holds inconsistent values"
    level0, links = folder / "data_level0.bin", folder / "link_lists.bin"
    for needed in (level0, links):
        if not needed.exists():
            return f"{needed} is missing"
    if level0.stat().st_size < count * per_element:
        return f"{level0} is shorter than its {count} elements"
    if level0.stat().st_size + links.stat().st_size > _DEEP_CHECK_MAX_BYTES:
        return None
    rows = np.fromfile(level0, dtype=np.uint8, count=count * per_element).reshape(count, per_element)
    table = np.ascontiguousarray(rows[:, :offset_data]).view(np.uint32)
    if not _neighbours_valid(table, max_m0, count):
        return f"{level0} links to elements that do not exist"
    data = links.read_bytes()
    size_links = 4 + 4 * max_m
    pos, upper = 0, []
    for _ in range(count):
        if pos + 4 > len(data):
            return f"{links} ends before its {count} elements"
        (size,) = struct.unpack_from("<I", data, pos)
        if size % size_links or size // size_links > max_level or pos + 4 + size > len(data):
            return f"{links} holds an impossible link list at byte {pos}"
        if size:
            upper.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if pos != len(data):
        return f"{links} has {len(data) - pos} bytes more than its elements"
    if upper:
        table = np.frombuffer(b"".join(upper), dtype=np.uint32).reshape(-1, max_m + 1)
        if not _neighbours_valid(table, max_m, count):
            return f"{links} links to elements that do not exist"
    return None


def _neighbours_valid(table: Any, max_links: int, count: int) -> bool:
    import numpy as np

    n_links = table[:, 0] & 0xFFFF  # hnswlib keeps the list length in the low two bytes
    if (n_links > max_links).any():
        return False
    used = np.arange(max_links)[None, :] < n_links[:, None]
    return bool((table[:, 1:][used] < count).all())
