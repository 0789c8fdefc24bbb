"""Reading a GGUF file's header into a :class:`GGUFSummary`, checked on the way, and remembered while the file is unchanged.

Every file is checked here before llama.cpp sees it, so a wrong file becomes a
clear :class:`~ragtune.errors.RagtuneError` instead of an abort of the process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ragtune.errors import AdapterError, ModelError, RagtuneError
from ragtune.gguf.checker import KeyChecker, scalar, shown_name
from ragtune.gguf.keys import ADAPTER_KEYS, GENERAL_KEYS, SUPPORTED_ARCHITECTURES
from ragtune.gguf.model_header import check_model_header
from ragtune.gguf.tensors import check_tensor_table, non_finite_tensors

GGUF_MAGIC = b"GGUF"


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
    vocab_size: int | None = None  # entries of tokenizer.ggml.tokens (models)
    has_chat_template: bool = False
    # tensor name -> shape in ggml order (ne0 first: the input dimension of a weight)
    tensors: dict[str, tuple[int, ...]]
    tensor_dtypes: dict[str, str]
    metadata: dict[str, Any] = {}


# Parsing a GGUF header with a 49k-entry vocabulary takes seconds in pure Python, and
# the app asks about the same files often; remember the result while the file is unchanged.
_summary_cache: dict[tuple[str, int, int, str], GGUFSummary] = {}
_summary_lock = threading.Lock()


def read_summary(path: Path, *, error: type[RagtuneError] = ModelError) -> GGUFSummary:
    """Read and sanity-check a GGUF file's header.

    The general keys and the tensor table of every file are checked; a model of a
    supported architecture also gets the model and tokenizer key tables, an adapter the
    adapter table and a scan of its weights for NaN and infinities.

    Raises:
        ModelError (or ``error``): missing file, not a GGUF file, truncated, unreadable,
            or a header key of the wrong type or outside its range.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file.")
    stat = path.stat()
    # the error class is part of the key: an adapter check skips the model tables
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, error.__name__)
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
        # never quote the bytes: the path may be any file on the server
        raise error(
            f"{path.name} is not a GGUF file: it does not start with the GGUF magic bytes. {fix}"
        )
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # the reader raises many kinds of errors on damaged files
        raise error(
            f"{path.name}: the GGUF header or tensor table cannot be read ({type(exc).__name__}). "
            "The file is damaged or truncated; download or export it again."
        ) from exc

    summary = _summarize(path, stat.st_size, reader, error)
    with _summary_lock:
        _summary_cache[key] = summary
    return summary


def _summarize(
    path: Path, size: int, reader: gguf.GGUFReader, error: type[RagtuneError]
) -> GGUFSummary:
    fields = reader.fields
    KeyChecker(path, fields, "", error).check_one(GENERAL_KEYS[0])  # general.architecture: a string
    architecture = scalar(fields["general.architecture"])
    if not architecture:
        raise error(
            f"{path.name}: the header key 'general.architecture' is empty; it is not a usable GGUF model."
        )
    checker = KeyChecker(path, fields, architecture, error)
    checker.check(GENERAL_KEYS)
    try:
        check_tensor_table(path, reader, size, error)
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
    ) as exc:  # an odd table the reader let through
        raise error(
            f"{path.name}: the tensor table cannot be read ({type(exc).__name__})."
        ) from exc
    tensors: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for tensor in reader.tensors:
        tensors[tensor.name] = tuple(int(d) for d in np.asarray(tensor.shape).reshape(-1))
        dtypes[tensor.name] = tensor.tensor_type.name

    file_type = checker.value("general.type") or "model"
    vocab_size = None
    if file_type == "adapter":
        checker.check(ADAPTER_KEYS)
        bad = non_finite_tensors(reader)
        if bad:
            shown = ", ".join(f"'{n}'" if shown_name(n) else "one tensor" for n in bad[:3])
            raise AdapterError(
                f"{path.name}: {len(bad)} LoRA tensor(s) hold NaN or infinite values ({shown}); such an "
                "adapter answers nothing. Train or export it again."
            )
    elif (
        file_type == "model"
        and architecture in SUPPORTED_ARCHITECTURES
        and not issubclass(error, AdapterError)
    ):
        # (checked as an adapter, a model file is refused by check_adapter_file's type rule)
        vocab_size = check_model_header(checker, tensors)

    quantization = None
    ftype = checker.value("general.file_type")
    if isinstance(ftype, int):
        try:
            quantization = gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_")
        except ValueError:
            quantization = f"type {ftype}"
    metadata: dict[str, Any] = {}
    for name in fields:
        if name.startswith(("tokenizer.ggml.", "tokenizer.chat_template", "GGUF.")):
            continue
        value = checker.value(name)
        if isinstance(value, (str, int, float, bool)) or value is None:
            metadata[name] = value

    context_length = checker.value(f"{architecture}.context_length")
    try:
        return GGUFSummary(
            path=path,
            size_bytes=size,
            file_type=str(file_type),
            architecture=architecture,
            name=checker.value("general.name"),
            license=checker.value("general.license"),
            quantization=quantization,
            context_length=context_length if type(context_length) is int else None,
            vocab_size=vocab_size,
            has_chat_template="tokenizer.chat_template" in fields,
            tensors=tensors,
            tensor_dtypes=dtypes,
            metadata=metadata,
        )
    except ValidationError as exc:  # the rules above should make this unreachable
        fields_named = ", ".join(
            str(e.get("loc", ("?",))[0]) for e in exc.errors(include_url=False)
        )
        raise error(f"{path.name}: header values of the wrong type ({fields_named}).") from exc
