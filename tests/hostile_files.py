"""Hostile files and data-directory helpers for the hostile-input catalogue.

Every writer takes the folder to write into and returns the path it wrote. The GGUF
writers start from the real tiny test model or a real LoRA adapter for it
(:mod:`tests.factories`) and change one thing, so each file is wrong in exactly one way.
The snapshot reads what is stored in a data directory straight from its SQLite files
(read-only): cheap enough to take before and after every case.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from tests.factories import write_lora

PASSWD_HEAD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


# -- documents -------------------------------------------------------------------------------


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def good_doc(folder: Path, name: str = "good.md") -> Path:
    return write(folder, name, "# Good\n\nThe night shift starts at 22:00 and the badge code is 7310.\n")


def fifo(folder: Path, name: str = "pipe.md") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def broken_symlink(folder: Path, name: str = "dangling.md") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(folder / "does-not-exist.md")
    return path


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def huge_int_json(digits: int = 5000) -> str:
    return '{"n": ' + "9" * digits + "}"


def deep_html(depth: int = 50_000) -> str:
    return "<html><body>" + "<div>" * depth + "deeply nested words" + "</div>" * depth + "</body></html>"


def heading_spaces_md() -> str:
    """The cubic-heading-pattern trap: ``# a`` + 5,000 spaces + ``b`` in a ~5 KB file."""
    return "# a" + " " * 5000 + "b\n\nSome text under the heading.\n"


def million_spaces_md() -> str:
    """The quadratic-whitespace trap: one line of a million spaces between two words."""
    return "# Spaces\n\nstart" + " " * 1_000_000 + "end\n"


def garbage_pdf() -> bytes:
    return b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def eval_line(**overrides: object) -> dict[str, object]:
    line: dict[str, object] = {"id": "q1", "kind": "answerable", "question": "What is the badge code?",
                               "answer": "7310", "doc_ids": ["good"]}
    line.update(overrides)
    return line


def train_line() -> dict[str, object]:
    return {"messages": [{"role": "user", "content": "What is the badge code?"},
                         {"role": "assistant", "content": "7310"}]}


# -- GGUF ------------------------------------------------------------------------------------


def rewrite_gguf(
    source: Path,
    dest: Path,
    *,
    overrides: Mapping[str, tuple[Any, gguf.GGUFValueType]] | None = None,
    tensor_map: Any = None,
) -> Path:
    """Copy a GGUF file key by key and tensor by tensor, replacing the keys in ``overrides``.

    ``tensor_map(name, array) -> array`` may change a tensor's values on the way.
    """
    overrides = dict(overrides or {})
    reader = gguf.GGUFReader(source)
    arch_field = reader.fields["general.architecture"]
    writer = gguf.GGUFWriter(dest, str(arch_field.contents()))
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key in overrides:
            value, vtype = overrides.pop(key)
            writer.add_key_value(key, value, vtype)
            continue
        types = field.types
        if types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), types[0], sub_type=types[-1])
        else:
            writer.add_key_value(key, field.contents(), types[0])
    for key, (value, vtype) in overrides.items():  # keys the source did not have
        writer.add_key_value(key, value, vtype)
    for tensor in reader.tensors:
        data = np.array(tensor.data)
        if tensor_map is not None:
            data = tensor_map(tensor.name, data)
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest


def passwd_like_gguf(folder: Path, name: str = "passwd.gguf") -> Path:
    """Not a GGUF file: the first bytes of /etc/passwd (an error must never echo them)."""
    return write(folder, name, PASSWD_HEAD)


def truncated_gguf(model: Path, folder: Path, name: str = "truncated.gguf") -> Path:
    data = model.read_bytes()
    return write(folder, name, data[: len(data) * 6 // 10])


def huge_block_count_gguf(model: Path, folder: Path, name: str = "blocks.gguf") -> Path:
    return rewrite_gguf(model, folder / name,
                        overrides={"llama.block_count": (4_000_000_000, gguf.GGUFValueType.UINT32)})


def float_context_gguf(model: Path, folder: Path, name: str = "float-ctx.gguf") -> Path:
    return rewrite_gguf(model, folder / name,
                        overrides={"llama.context_length": (2048.0, gguf.GGUFValueType.FLOAT32)})


def string_alpha_lora(folder: Path, name: str = "alpha-string.gguf") -> Path:
    """A LoRA for the tiny model whose ``adapter.lora.alpha`` is a string (aborted llama.cpp)."""
    source = write_lora(folder / f"{name}.source", seed=3)
    out = rewrite_gguf(source, folder / name,
                       overrides={gguf.Keys.Adapter.LORA_ALPHA: ("eight", gguf.GGUFValueType.STRING)})
    source.unlink()
    return out


def nan_lora(folder: Path, name: str = "nan.gguf") -> Path:
    return write_lora(folder / name, seed=5, scale=float("nan"))


def wide_lora(folder: Path, name: str = "wide.gguf") -> Path:
    """A LoRA for a model of another size (A matrices 8 columns too wide)."""
    return write_lora(folder / name, seed=6, shape_delta=8)


# -- data directories ------------------------------------------------------------------------


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def workspace_names(data: Path) -> dict[str, str]:
    """chroma collection id -> workspace name (collections are named ``ws-<name>``)."""
    path = data / "chroma" / "chroma.sqlite3"
    if not path.is_file():
        return {}
    conn = _ro(path)
    try:
        rows = conn.execute("SELECT id, name FROM collections").fetchall()
    finally:
        conn.close()
    return {cid: name.removeprefix("ws-") for cid, name in rows}


def chunk_counts(data: Path) -> dict[str, int]:
    """Workspace name -> chunk records in chroma (live or not)."""
    path = data / "chroma" / "chroma.sqlite3"
    if not path.is_file():
        return {}
    conn = _ro(path)
    try:
        rows = conn.execute(
            "SELECT c.name, COUNT(e.id) FROM collections c JOIN segments s ON s.collection = c.id "
            "LEFT JOIN embeddings e ON e.segment_id = s.id WHERE s.scope = 'METADATA' GROUP BY c.name"
        ).fetchall()
    finally:
        conn.close()
    return {name.removeprefix("ws-"): n for name, n in rows}


def documents(data: Path) -> dict[str, list[tuple[str, int, int, str]]]:
    """Workspace name -> sorted (doc_id, version, n_chunks, sha256) of its live documents."""
    path = data / "knowledge.sqlite3"
    names = workspace_names(data)
    out: dict[str, list[tuple[str, int, int, str]]] = {name: [] for name in names.values()}
    if not path.is_file():
        return out
    conn = _ro(path)
    try:
        rows = conn.execute("SELECT workspace_id, doc_id, version, n_chunks, sha256 FROM documents").fetchall()
    finally:
        conn.close()
    for wid, doc_id, version, n_chunks, sha in rows:
        out.setdefault(names.get(wid, f"?{wid}"), []).append((doc_id, version, n_chunks, sha))
    return {name: sorted(rows) for name, rows in out.items()}


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def snapshot(data: Path) -> dict[str, object]:
    """What is stored: documents and chunk counts per workspace, registered models, adapter files."""
    adapters = data / "adapters"
    return {
        "documents": documents(data),
        "chunks": chunk_counts(data),
        "models.json": file_digest(data / "models.json"),
        "adapters": sorted(p.name for p in adapters.iterdir()) if adapters.is_dir() else [],
    }


def tree(folder: Path) -> set[str]:
    """Every path under ``folder`` (relative), for "nothing was written outside" checks."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
