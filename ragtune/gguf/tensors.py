"""The tensor table and data: the layout gguf.cpp expects, and a scan of adapter weights for NaN and infinities."""

from __future__ import annotations

import math
from pathlib import Path

import gguf
import numpy as np

from ragtune.errors import RagtuneError
from ragtune.gguf.checker import shown_name
from ragtune.gguf.keys import MAX_DIMS, MAX_TENSOR_NAME


def check_tensor_table(
    path: Path, reader: gguf.GGUFReader, size: int, error: type[RagtuneError]
) -> None:
    """Check the tensor table as gguf.cpp does: shapes, types, sizes and the exact layout.

    gguf.cpp expects tensor ``i`` at the sum of the padded sizes of the tensors before
    it; a tensor elsewhere, overlapping another or running past the end of the file is
    refused here with its name.
    """
    alignment = int(reader.alignment)
    expected = 0
    data_start = int(reader.data_offset)
    for index, tensor in enumerate(reader.tensors):
        name = tensor.name
        label = f"tensor '{name}'" if shown_name(name) else f"tensor #{index}"
        if not 0 < len(name.encode()) <= MAX_TENSOR_NAME:
            raise error(
                f"{path.name}: tensor #{index} has a name of {len(name.encode())} bytes; 1..63 allowed."
            )
        dims = [int(d) for d in np.asarray(tensor.shape).reshape(-1)]
        if not 1 <= len(dims) <= MAX_DIMS:
            raise error(f"{path.name}: {label} has {len(dims)} dimensions; 1..{MAX_DIMS} allowed.")
        if any(d < 1 or d >= 1 << 40 for d in dims):
            raise error(f"{path.name}: {label} has a dimension outside 1..2^40.")
        n_elements = math.prod(dims)
        if n_elements >= 1 << 62:
            raise error(f"{path.name}: {label} has too many elements.")
        block, type_bytes = gguf.GGML_QUANT_SIZES[tensor.tensor_type]
        if dims[0] % block:
            raise error(
                f"{path.name}: {label} of type {tensor.tensor_type.name} has rows of {dims[0]} values, "
                f"not a multiple of its block size {block}."
            )
        n_bytes = n_elements // block * type_bytes
        offset = int(tensor.data_offset) - data_start
        if offset != expected:
            raise error(
                f"{path.name}: {label} starts at byte {offset} of the data section, but the tensors "
                f"before it end at {expected}: the tensor table is damaged."
            )
        end = data_start + offset + n_bytes
        if end > size:
            raise error(
                f"{path.name} is truncated: its tensors need {end} bytes, the file has {size}. "
                "Download or export it again."
            )
        expected += -(-n_bytes // alignment) * alignment


def non_finite_tensors(reader: gguf.GGUFReader) -> list[str]:
    """Names of the (adapter) tensors holding NaN or infinite values (F32/F16/BF16/Q8_0)."""
    bad = []
    for tensor in reader.tensors:
        kind = tensor.tensor_type
        data = np.asarray(tensor.data)
        if kind in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            ok = bool(np.isfinite(data).all())
        elif kind == gguf.GGMLQuantizationType.BF16:
            bits = data.reshape(-1).view(np.uint16)
            ok = not bool(((bits & 0x7F80) == 0x7F80).any())
        elif kind == gguf.GGMLQuantizationType.Q8_0:
            # a Q8_0 block is an f16 scale followed by 32 int8 values: only the scale can be non-finite
            blocks = data.reshape(-1).view(np.uint8).reshape(-1, 34)
            ok = bool(np.isfinite(blocks[:, :2].copy().view(np.float16)).all())
        else:
            continue
        if not ok:
            bad.append(tensor.name)
    return bad
