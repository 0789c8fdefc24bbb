"""Reading and checking GGUF files (models and LoRA adapters) with the ``gguf`` package.

Every file is checked here before llama.cpp sees it, so a wrong file becomes a
clear :class:`~ragtune.errors.RagtuneError` instead of an abort of the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import gguf
from pydantic import BaseModel, ConfigDict

from ragtune.errors import AdapterError, ModelError, RagtuneError

GGUF_MAGIC = b"GGUF"

# Architectures the in-process runtime has been checked with. llama.cpp knows more; a
# user who needs another one can add it here after checking it loads and chats.
SUPPORTED_ARCHITECTURES = frozenset(
    {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "mistral", "granite", "olmo2", "smollm3"}
)

# LoRA tensor dtypes llama.cpp's adapter loader accepts.
ADAPTER_DTYPES = frozenset({"F32", "F16", "BF16", "Q8_0"})


class GGUFSummary(BaseModel):
    """What ragtune needs to know about a GGUF file, read from its header."""

    model_config = ConfigDict(frozen=True)

    path: Path
    size_bytes: int
    file_type: str  # general.type: "model" or "adapter"
    architecture: str
    name: str | None = None
    license: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    has_chat_template: bool = False
    # tensor name -> shape in ggml order (ne0 first: the input dimension of a weight)
    tensors: dict[str, tuple[int, ...]]
    tensor_dtypes: dict[str, str]
    metadata: dict[str, Any] = {}


# Parsing a GGUF header with a 49k-entry vocabulary takes seconds in pure Python, and
# the app asks about the same files often; remember the result while the file is unchanged.
_summary_cache: dict[tuple[str, int, int], GGUFSummary] = {}
_summary_lock = threading.Lock()


def _scalar(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:  # an odd field type must not make the whole file unreadable
        return None


def read_summary(path: Path, *, error: type[RagtuneError] = ModelError) -> GGUFSummary:
    """Read and sanity-check a GGUF file's header.

    Raises:
        ModelError (or ``error``): missing file, not a GGUF file, truncated or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file.")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _summary_lock:
        cached = _summary_cache.get(key)
    if cached is not None:
        return cached

    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        fix = (
            "Export the adapter as GGUF (llama.cpp's convert_lora_to_gguf.py, or `python -m ragtune train`)."
            if issubclass(error, AdapterError)
            else "Convert the model to GGUF with llama.cpp's convert_hf_to_gguf.py."
        )
        raise error(
            f"{path.name} is not a GGUF file (it starts with {magic!r}; a GGUF file starts "
            f"with b'GGUF'). {fix}"
        )
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # the reader raises many kinds of errors on damaged files
        raise error(
            f"{path.name}: the GGUF header cannot be read ({type(exc).__name__}: {exc}). "
            "The file is damaged or truncated; download or export it again."
        ) from exc

    tensors: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    end_of_data = 0
    for tensor in reader.tensors:
        tensors[tensor.name] = tuple(int(d) for d in tensor.shape)
        dtypes[tensor.name] = tensor.tensor_type.name
        end_of_data = max(end_of_data, int(tensor.data_offset) + int(tensor.n_bytes))
    if end_of_data > stat.st_size:
        raise error(
            f"{path.name} is truncated: its tensors need {end_of_data} bytes, the file has "
            f"{stat.st_size}. Download or export it again."
        )

    fields = reader.fields
    arch_field = fields.get("general.architecture")
    architecture = _scalar(arch_field) if arch_field is not None else None
    if not isinstance(architecture, str) or not architecture:
        raise error(f"{path.name} has no general.architecture key; it is not a usable GGUF model.")
    type_field = fields.get("general.type")
    file_type = _scalar(type_field) if type_field is not None else "model"

    def get(key: str) -> Any:
        field = fields.get(key)
        return _scalar(field) if field is not None else None

    quantization = None
    ftype = get("general.file_type")
    if isinstance(ftype, int):
        try:
            quantization = gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_")
        except ValueError:
            quantization = f"type {ftype}"
    metadata: dict[str, Any] = {}
    for key in fields:
        if key.startswith(("tokenizer.ggml.", "GGUF.")) or key == "tokenizer.chat_template":
            continue
        value = get(key)
        if isinstance(value, (str, int, float, bool)) or value is None:
            metadata[key] = value

    summary = GGUFSummary(
        path=path,
        size_bytes=stat.st_size,
        file_type=str(file_type or "model"),
        architecture=architecture,
        name=get("general.name"),
        license=get("general.license"),
        quantization=quantization,
        context_length=get(f"{architecture}.context_length"),
        has_chat_template="tokenizer.chat_template" in fields,
        tensors=tensors,
        tensor_dtypes=dtypes,
        metadata=metadata,
    )
    with _summary_lock:
        _summary_cache[key] = summary
    return summary


def check_model_file(path: Path) -> GGUFSummary:
    """Check that ``path`` is a GGUF chat model ragtune can run.

    Raises:
        ModelError: the file is missing, not GGUF, damaged, an adapter, or of an
            unsupported architecture.
    """
    summary = read_summary(path, error=ModelError)
    if summary.file_type != "model":
        raise ModelError(
            f"{path.name} is a GGUF '{summary.file_type}', not a model. "
            "Load it as an adapter, or pick a model file."
        )
    if summary.architecture not in SUPPORTED_ARCHITECTURES:
        raise ModelError(
            f"{path.name} has architecture '{summary.architecture}', which ragtune does not "
            f"support; supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}."
        )
    return summary


def check_adapter_file(path: Path, base: GGUFSummary) -> GGUFSummary:
    """Check that ``path`` is a LoRA adapter that fits the base model ``base``.

    Every ``<name>.lora_a`` / ``<name>.lora_b`` pair must modify a tensor the base has,
    with shapes ``lora_a: (n_in, r)`` and ``lora_b: (r, n_out)`` in ggml order, where the
    base weight is ``(n_in, n_out)``.

    Raises:
        AdapterError: not a GGUF LoRA, other architecture, or shapes that do not fit.
    """
    summary = read_summary(path, error=AdapterError)
    adapter_type = summary.metadata.get("adapter.type")
    if summary.file_type != "adapter" or adapter_type != "lora":
        raise AdapterError(
            f"{path.name} is not a LoRA adapter (general.type={summary.file_type!r}, "
            f"adapter.type={adapter_type!r}); expected 'adapter' and 'lora'."
        )
    if summary.architecture != base.architecture:
        raise AdapterError(
            f"{path.name} was made for a '{summary.architecture}' model, but the loaded model "
            f"is '{base.architecture}' ({base.path.name}). Pick an adapter trained on this model."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in summary.tensors.items():
        stem, dot, part = name.rpartition(".")
        if not dot or part not in ("lora_a", "lora_b"):
            raise AdapterError(f"{path.name}: unexpected tensor '{name}' in a LoRA adapter.")
        dtype = summary.tensor_dtypes[name]
        if dtype not in ADAPTER_DTYPES:
            raise AdapterError(
                f"{path.name}: tensor '{name}' has type {dtype}; adapters must be "
                f"{', '.join(sorted(ADAPTER_DTYPES))}."
            )
        pairs.setdefault(stem, {})[part] = shape
    if not pairs:
        raise AdapterError(f"{path.name} contains no LoRA tensors.")
    for stem, parts in sorted(pairs.items()):
        if set(parts) != {"lora_a", "lora_b"}:
            missing = ({"lora_a", "lora_b"} - set(parts)).pop()
            raise AdapterError(f"{path.name}: '{stem}' has no {missing} tensor.")
        if stem not in base.tensors:
            raise AdapterError(
                f"{path.name}: it modifies '{stem}', which the loaded model does not have. "
                "The adapter was trained on another model."
            )
        base_shape = base.tensors[stem]
        a, b = parts["lora_a"], parts["lora_b"]
        if len(base_shape) != 2 or len(a) != 2 or len(b) != 2:
            raise AdapterError(f"{path.name}: '{stem}' is not a 2-D weight with 2-D LoRA factors.")
        n_in, n_out = base_shape
        if a[0] != n_in or b[1] != n_out or a[1] != b[0]:
            raise AdapterError(
                f"{path.name}: the LoRA factors of '{stem}' have shapes lora_a={a}, lora_b={b}, "
                f"which do not fit the base weight {base_shape} (expected ({n_in}, r) and "
                f"(r, {n_out})). The adapter was trained on a model of another size."
            )
    return summary


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
