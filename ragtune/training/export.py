"""Export PEFT LoRA weights to a GGUF adapter llama.cpp loads, exactly.

What "exactly" takes, per architecture:

* Names: a PEFT key ``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight``
  is the Hugging Face weight ``model.layers.3.self_attn.q_proj.weight`` plus a factor;
  the ``gguf`` package's tensor name map turns it into ``blk.3.attn_q.weight``, and the
  adapter stores ``blk.3.attn_q.weight.lora_a`` (numpy shape (r, n_in)) and
  ``.lora_b`` ((n_out, r)).
* Rotary embeddings: llama.cpp applies "normal" rope to **llama** models, pairing
  adjacent dimensions, while Hugging Face's llama pairs dimension i with i + d/2. The
  GGUF converter therefore permutes the rows of ``q`` and ``k`` in the base model, and
  an adapter's ``lora_b`` (whose rows are q's and k's output rows) must get the same
  permutation. **qwen2** uses NEOX rope in llama.cpp, the same pairing as Hugging Face:
  no permutation.
* Scale: PEFT multiplies the update by alpha/r, llama.cpp by ``adapter.lora.alpha``/r.
  Storing PEFT's alpha keeps them equal (rsLoRA's alpha/sqrt(r) is refused).

Architectures not listed in :data:`ARCHITECTURES` are refused: a guessed rope layout
gives an adapter that loads, generates plausible text, and is subtly wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from ragtune.errors import AdapterError


@dataclass(frozen=True)
class ArchitectureRule:
    """How a Hugging Face architecture's LoRA maps onto llama.cpp's layout."""

    gguf_arch: str
    permute_qk: bool  # llama.cpp's normal rope: q/k rows interleaved per head


ARCHITECTURES: dict[str, ArchitectureRule] = {
    "llama": ArchitectureRule(gguf_arch="llama", permute_qk=True),
    "qwen2": ArchitectureRule(gguf_arch="qwen2", permute_qk=False),
}


def architecture_rule(architecture: str) -> ArchitectureRule:
    """The export rule for an architecture.

    Raises:
        AdapterError: the architecture is not one the exporter has been checked with.
    """
    rule = ARCHITECTURES.get(architecture)
    if rule is None:
        raise AdapterError(
            f"Cannot export a LoRA for the '{architecture}' architecture: ragtune's exporter "
            f"knows {', '.join(sorted(ARCHITECTURES))}. Each architecture needs its own rope "
            "layout rule, checked against llama.cpp, before its adapters can be exported."
        )
    return rule


def rope_permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a q or k projection (or its lora_b) from Hugging Face's
    half-split rope layout to llama.cpp's interleaved one, head by head.

    Within one head of dimension d, Hugging Face row ``j * d/2 + i`` (half j, pair i)
    becomes row ``2 * i + j``.
    """
    n_rows = weight.shape[0]
    if n_rows % (2 * n_head):
        raise AdapterError(f"{n_rows} rows cannot be split into {n_head} heads of even size.")
    head_half = n_rows // n_head // 2
    split = weight.reshape(n_head, 2, head_half, *weight.shape[1:])
    return split.swapaxes(1, 2).reshape(weight.shape)


@dataclass(frozen=True)
class ExportSpec:
    """What the exporter needs to know about the base model."""

    architecture: str
    n_layers: int
    n_head: int
    n_head_kv: int
    rank: int
    alpha: float


_PEFT_PREFIX = "base_model.model."


def lora_tensors_to_gguf(
    state: Mapping[str, np.ndarray], spec: ExportSpec, *, permute_qk: bool | None = None
) -> dict[str, np.ndarray]:
    """PEFT LoRA state (name -> float array) to GGUF adapter tensors (name -> float32 array).

    ``permute_qk`` overrides the architecture's rule; it exists so a test can show that
    the wrong choice is detected. Leave it ``None``.

    Raises:
        AdapterError: unknown architecture, a tensor name with no GGUF equivalent, an
            unpaired factor, or a rank that does not match ``spec.rank``.
    """
    rule = architecture_rule(spec.architecture)
    do_permute = rule.permute_qk if permute_qk is None else permute_qk
    arch_enum = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}[rule.gguf_arch]
    name_map = gguf.get_tensor_name_map(arch_enum, spec.n_layers)
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        name = key.removeprefix(_PEFT_PREFIX)
        if name.endswith(".lora_A.weight"):
            stem, part = name.removesuffix(".lora_A.weight"), "lora_a"
        elif name.endswith(".lora_B.weight"):
            stem, part = name.removesuffix(".lora_B.weight"), "lora_b"
        else:
            raise AdapterError(
                f"Unexpected tensor '{key}' in the LoRA state: only the factors of one adapter "
                "named 'default' can be exported."
            )
        gguf_name = name_map.get_name(stem + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise AdapterError(f"'{stem}' has no GGUF tensor name for the '{rule.gguf_arch}' architecture.")
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 2:
            raise AdapterError(f"'{key}' is not a 2-D LoRA factor (shape {array.shape}).")
        r = array.shape[0] if part == "lora_a" else array.shape[1]
        if r != spec.rank:
            raise AdapterError(f"'{key}' has rank {r}, expected {spec.rank} (rank patterns are not supported).")
        if part == "lora_b" and do_permute:
            kind = gguf_name.split(".")[2]
            if kind == "attn_q":
                array = rope_permute_rows(array, spec.n_head)
            elif kind == "attn_k":
                array = rope_permute_rows(array, spec.n_head_kv)
        out[f"{gguf_name}.{part}"] = array
    stems = {name.rsplit(".", 1)[0] for name in out}
    for stem in stems:
        if f"{stem}.lora_a" not in out or f"{stem}.lora_b" not in out:
            raise AdapterError(f"'{stem}' has only one of its two LoRA factors.")
    if not out:
        raise AdapterError("The LoRA state is empty: nothing to export.")
    return out


def write_gguf_adapter(
    path: Path,
    tensors: Mapping[str, np.ndarray],
    spec: ExportSpec,
    *,
    name: str,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write adapter tensors as an f16 GGUF LoRA (written to a temp name, then moved)."""
    rule = architecture_rule(spec.architecture)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(tmp, rule.gguf_arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_name(name)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(spec.alpha))
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        for key, value in (metadata or {}).items():
            writer.add_string(f"ragtune.{key}", str(value))
        for tensor_name in sorted(tensors):
            writer.add_tensor(tensor_name, np.ascontiguousarray(tensors[tensor_name], dtype=np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(path)
    return path


def export_peft_model(
    model: Any,
    path: Path,
    *,
    architecture: str,
    name: str,
    metadata: Mapping[str, str] | None = None,
    permute_qk: bool | None = None,
) -> Path:
    """Export a PEFT-wrapped Hugging Face model's LoRA weights to a GGUF adapter.

    Raises:
        AdapterError: unknown architecture, unsupported LoRA options (rsLoRA, DoRA,
            per-module ranks) or tensors that do not map.
    """
    from peft import get_peft_model_state_dict

    architecture_rule(architecture)  # refuse before doing any work
    config = model.peft_config["default"]
    if getattr(config, "use_rslora", False) or getattr(config, "use_dora", False):
        raise AdapterError("rsLoRA and DoRA adapters cannot be exported to llama.cpp's LoRA format.")
    if getattr(config, "rank_pattern", None) or getattr(config, "alpha_pattern", None):
        raise AdapterError("Per-module ranks or alphas cannot be exported; use one rank for all modules.")
    hf = model.get_base_model().config
    spec = ExportSpec(
        architecture=architecture,
        n_layers=int(hf.num_hidden_layers),
        n_head=int(hf.num_attention_heads),
        n_head_kv=int(getattr(hf, "num_key_value_heads", None) or hf.num_attention_heads),
        rank=int(config.r),
        alpha=float(config.lora_alpha),
    )
    state = {k: v.detach().float().cpu().numpy() for k, v in get_peft_model_state_dict(model).items()}
    tensors = lora_tensors_to_gguf(state, spec, permute_qk=permute_qk)
    return write_gguf_adapter(path, tensors, spec, name=name, metadata=metadata)
