"""Whether a file is a GGUF chat model ragtune can run, or a LoRA adapter that fits the loaded model."""

from __future__ import annotations

from pathlib import Path

from ragtune.errors import AdapterError, ModelError
from ragtune.gguf.checker import shown_name
from ragtune.gguf.keys import ADAPTER_DTYPES, SUPPORTED_ARCHITECTURES
from ragtune.gguf.summary import GGUFSummary, read_summary


def check_model_file(path: Path) -> GGUFSummary:
    """Check that ``path`` is a GGUF chat model ragtune can run.

    Raises:
        ModelError: the file is missing, not GGUF, damaged, an adapter, of an
            unsupported architecture, or has a header key of a wrong type or range.
    """
    summary = read_summary(path, error=ModelError)
    if summary.file_type != "model":
        kind = shown_name(summary.file_type)
        raise ModelError(
            f"{path.name} is a GGUF {repr(kind) if kind else 'file of another type'}, not a model. "
            "Load it as an adapter, or pick a model file."
        )
    if summary.architecture not in SUPPORTED_ARCHITECTURES:
        arch = shown_name(summary.architecture)
        raise ModelError(
            f"{path.name} has {'architecture ' + repr(arch) if arch else 'an unknown architecture'}, "
            f"which ragtune does not support; supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}."
        )
    return summary


def check_adapter_file(path: Path, base: GGUFSummary) -> GGUFSummary:
    """Check that ``path`` is a LoRA adapter that fits the base model ``base``.

    Every ``<name>.lora_a`` / ``<name>.lora_b`` pair must modify a tensor the base has,
    with shapes ``lora_a: (n_in, r)`` and ``lora_b: (r, n_out)`` in ggml order, where the
    base weight is ``(n_in, n_out)``. The header keys llama.cpp reads must have their
    types (``adapter.lora.alpha`` a FLOAT32 ...) and the weights must be finite.

    Raises:
        AdapterError: not a GGUF LoRA, other architecture, wrong key types, NaN/Inf
            weights, or shapes that do not fit.
    """
    summary = read_summary(path, error=AdapterError)
    adapter_type = summary.metadata.get("adapter.type")
    if summary.file_type != "adapter" or adapter_type != "lora":
        raise AdapterError(
            f"{path.name} is not a LoRA adapter: general.type must be 'adapter' and adapter.type "
            "'lora'."
        )
    if summary.architecture != base.architecture:
        arch = shown_name(summary.architecture)
        raise AdapterError(
            f"{path.name} was made for {repr(arch) if arch else 'another'} model architecture, but the "
            f"loaded model is '{base.architecture}' ({base.path.name}). Pick an adapter trained on this model."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in summary.tensors.items():
        label = f"'{name}'" if shown_name(name) else "a tensor"
        stem, dot, part = name.rpartition(".")
        if not dot or part not in ("lora_a", "lora_b"):
            raise AdapterError(
                f"{path.name}: unexpected tensor {label} in a LoRA adapter (only .lora_a/.lora_b)."
            )
        dtype = summary.tensor_dtypes[name]
        if dtype not in ADAPTER_DTYPES:
            raise AdapterError(
                f"{path.name}: tensor {label} has type {dtype}; adapters must be "
                f"{', '.join(sorted(ADAPTER_DTYPES))}."
            )
        pairs.setdefault(stem, {})[part] = shape
    if not pairs:
        raise AdapterError(f"{path.name} contains no LoRA tensors.")
    for stem, parts in sorted(pairs.items()):
        label = f"'{stem}'" if shown_name(stem) else "a tensor"
        if set(parts) != {"lora_a", "lora_b"}:
            missing = ({"lora_a", "lora_b"} - set(parts)).pop()
            raise AdapterError(f"{path.name}: {label} has no {missing} tensor.")
        if stem not in base.tensors:
            raise AdapterError(
                f"{path.name}: it modifies {label}, which the loaded model does not have. "
                "The adapter was trained on another model."
            )
        base_shape = base.tensors[stem]
        a, b = parts["lora_a"], parts["lora_b"]
        if len(base_shape) != 2 or len(a) != 2 or len(b) != 2:
            raise AdapterError(f"{path.name}: {label} is not a 2-D weight with 2-D LoRA factors.")
        n_in, n_out = base_shape
        if a[0] != n_in or b[1] != n_out or a[1] != b[0]:
            raise AdapterError(
                f"{path.name}: the LoRA factors of {label} have shapes lora_a={a}, lora_b={b}, "
                f"which do not fit the base weight {base_shape} (expected ({n_in}, r) and "
                f"({'r'}, {n_out})). The adapter was trained on a model of another size."
            )
    return summary
