"""What a training run ran on: the CPU's bf16 support, the machine, torch's threads, package versions.

The card records it (``Time: 5.4 min on cpu (2 threads), AMD EPYC, 2 cores, bf16 autocast``), and
precision ``auto`` asks :func:`cpu_has_native_bf16`. torch is imported inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragtune.training.card import Machine


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU reports bf16 instructions torch's CPU kernels use (``avx512_bf16`` or
    ``amx_bf16``). False where it cannot tell (no /proc/cpuinfo)."""
    try:
        flags = next((line for line in cpuinfo.read_text(errors="replace").splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def describe_machine(device: str) -> Machine:
    """What the run trained on: CPU model and cores, torch threads, device, GPU name on CUDA."""
    import platform

    import torch

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if device == "cuda" and torch.cuda.is_available() else None
    return Machine(
        cpu=cpu or platform.processor() or platform.machine(),
        cores=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        device=device,
        gpu=gpu,
    )


def session_threads(device: str) -> int | None:
    """torch's CPU threads, when training ran on the CPU."""
    import torch

    return torch.get_num_threads() if device == "cpu" else None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "gguf"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
