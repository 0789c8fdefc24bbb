"""Seeded mutations of real GGUF files: each is refused by our checks, or loads without a crash.

The mutants are made from a tiny LoRA adapter (the factories' one), the shipped
``ticket-router`` adapter's header, and a tiny model with a small copy of the default
model's tokenizer (so each check takes milliseconds). They change key types and values
(huge, negative, NaN, strings, arrays), array lengths, the tensor table (dims, types,
offsets), truncate the file or flip header bytes. Every mutant goes through
``check_model_file`` / ``check_adapter_file``; every accepted one is loaded in a worker
subprocess by the real runtime and generates a few tokens (adapters applied to the tiny
model). A worker that dies names its mutant: the fuzz asserts no exit code >= 128 and
no signal, ever, and no exception but a ``RagtuneError``.

Run the worker by hand: ``python tests/test_gguf_fuzz.py worker TASKS.json``.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261201
N_ADAPTER_KV = 110
N_MODEL_KV = 130
N_TABLE = 60
N_BYTES = 60
V = gguf.GGUFValueType


@dataclass
class Mutant:
    label: str
    path: Path
    kind: str  # "model" or "adapter"


# --- values and key mutations -----------------------------------------------------------

_STRANGE_VALUES: list[tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]] = [
    ("8", V.STRING, None),
    ("", V.STRING, None),
    ("x" * 5000, V.STRING, None),
    ("lora", V.STRING, None),
    ("llama", V.STRING, None),
    ("adapter", V.STRING, None),
    (4_000_000_000, V.UINT32, None),
    (0, V.UINT32, None),
    (1, V.UINT32, None),
    (3, V.UINT32, None),
    (2**64 - 1, V.UINT64, None),
    (-1, V.INT32, None),
    (-(2**63), V.INT64, None),
    (7, V.UINT8, None),
    (7, V.INT16, None),
    (float("nan"), V.FLOAT32, None),
    (float("inf"), V.FLOAT32, None),
    (-1.0, V.FLOAT32, None),
    (0.0, V.FLOAT32, None),
    (1e38, V.FLOAT32, None),
    (2048.0, V.FLOAT64, None),
    (True, V.BOOL, None),
    ([1, 2, 3], V.ARRAY, V.UINT32),
    ([], V.ARRAY, V.INT32),
    (["a", "b"], V.ARRAY, V.STRING),
    ([0.5, float("nan")], V.ARRAY, V.FLOAT32),
]


def _mutate_value(rng: random.Random, value: object, vtype: V, sub: V | None):
    """A value related to the original (same type, odd value) or a strange one."""
    if rng.random() < 0.45:
        return rng.choice(_STRANGE_VALUES)
    if vtype == V.ARRAY and isinstance(value, list):
        choice = rng.randrange(4)
        if choice == 0:
            return (value[: rng.randrange(len(value) + 1)], vtype, sub)  # shorter
        if choice == 1 and value:
            return (
                value + value[: rng.randrange(1, min(len(value), 50) + 1)],
                vtype,
                sub,
            )  # longer, repeats
        if choice == 2 and value:
            return (
                value,
                vtype,
                rng.choice([V.INT32, V.UINT32, V.FLOAT32, V.UINT8, V.INT64]),
            )  # retyped items
        return ([rng.choice(value)] * len(value) if value else [], vtype, sub)
    if vtype in (V.UINT32, V.INT32, V.UINT64, V.INT64) and isinstance(value, int):
        new = rng.choice([value * 1000, value + 1, value - 1, 0, value * 3, 2**31 - 1])
        new_type = rng.choice([vtype, V.INT32, V.UINT64, V.FLOAT32])
        if new_type in (V.UINT32, V.UINT64):
            new = abs(new)
        if new_type == V.FLOAT32:
            new = float(new)
        return (new, new_type, None)
    if vtype in (V.FLOAT32, V.FLOAT64) and isinstance(value, float):
        return (rng.choice([-value, value * 1e30, float("nan"), 0.0, float("-inf")]), vtype, None)
    return rng.choice(_STRANGE_VALUES)


def _kv_mutant(rng: random.Random, desc, interesting: list[str]):
    mutated = desc.copy()
    keys = list(mutated.kv)
    for _ in range(rng.choice([1, 1, 1, 2])):
        op = rng.random()
        key = rng.choice(interesting if rng.random() < 0.7 else keys)
        if op < 0.12 and key in mutated.kv:
            del mutated.kv[key]
            continue
        if key in mutated.kv:
            mutated.kv[key] = _mutate_value(rng, *mutated.kv[key])
        else:
            mutated.kv[key] = rng.choice(_STRANGE_VALUES)
    return mutated


# --- building the mutants ---------------------------------------------------------------


def _table_mutant(rng: random.Random, source: Path, out: Path) -> str:
    from tests.factories import tensor_info_offsets

    data = bytearray(source.read_bytes())
    spots = tensor_info_offsets(source)
    index = rng.randrange(len(spots))
    spot = spots[index]
    what = rng.choice(["n_dims", "dim", "type", "offset", "name_len"])
    if what == "n_dims":
        data[spot["n_dims"] : spot["n_dims"] + 4] = rng.choice([0, 3, 5, 2**31]).to_bytes(
            4, "little"
        )
    elif what == "dim":
        value = rng.choice([0, 1, 2**32, 2**62, 2**64 - 1, 33])
        data[spot["dims"] : spot["dims"] + 8] = value.to_bytes(8, "little")
    elif what == "type":
        data[spot["type"] : spot["type"] + 4] = rng.choice([0, 1, 2, 8, 30, 39, 1000]).to_bytes(
            4, "little"
        )
    elif what == "offset":
        value = rng.choice([0, 1, 32, 2**40, 2**64 - 1, rng.randrange(1, 1 << 20)])
        data[spot["offset"] : spot["offset"] + 8] = value.to_bytes(8, "little")
    else:
        data[spot["name_len"] : spot["name_len"] + 8] = rng.choice([0, 64, 2**40]).to_bytes(
            8, "little"
        )
    out.write_bytes(bytes(data))
    return f"table:{what}@{index}"


def _byte_mutant(rng: random.Random, source: Path, out: Path, header_end: int) -> str:
    data = bytearray(source.read_bytes())
    choice = rng.random()
    if choice < 0.3:
        cut = rng.randrange(8, len(data))
        out.write_bytes(bytes(data[:cut]))
        return f"truncated@{cut}"
    n_flips = rng.choice([1, 1, 2, 4, 16])
    for _ in range(n_flips):
        pos = rng.randrange(4, header_end)
        data[pos] ^= 1 << rng.randrange(8)
    out.write_bytes(bytes(data))
    return f"flips:{n_flips}"


def _tensor_value_mutant(rng: random.Random, desc):
    """An adapter whose weights hold NaN/Inf, or stored as F16/BF16/Q8_0 (maybe with NaN)."""
    mutated = desc.copy()
    index = rng.randrange(len(mutated.tensors))
    name, data, _kind = mutated.tensors[index]
    values = np.array(data, dtype=np.float32)
    poison = rng.random() < 0.6
    if poison:
        values.reshape(-1)[rng.randrange(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
    target = rng.choice(["F32", "F16", "BF16", "Q8_0"])
    if target == "F32":
        mutated.tensors[index] = (name, values, gguf.GGMLQuantizationType.F32)
    elif target == "F16":
        mutated.tensors[index] = (name, values.astype(np.float16), gguf.GGMLQuantizationType.F16)
    else:
        qtype = gguf.GGMLQuantizationType[target]
        if target == "Q8_0" and values.shape[-1] % 32:
            mutated.tensors[index] = (name, values, gguf.GGMLQuantizationType.F32)
        else:
            mutated.tensors[index] = (name, gguf.quants.quantize(values, qtype), qtype)
    return mutated, f"weights:{target}{':poisoned' if poison else ''}@{name}"


def _header_end(path: Path) -> int:
    return int(gguf.GGUFReader(path).data_offset)


def make_mutants(tmp: Path, tiny_model: Path, lora: Path) -> list[Mutant]:
    from tests.factories import describe_gguf, write_description

    rng = random.Random(SEED)
    mutants: list[Mutant] = []

    def add(kind: str, label: str, write) -> None:
        path = tmp / f"m{len(mutants):04d}.gguf"
        try:
            label = write(path) or label
        except (ValueError, TypeError, OverflowError, AssertionError, UnicodeError, struct.error):
            # the gguf writer itself refuses some combinations (strings as floats ...): no file
            path.unlink(missing_ok=True)
            return
        mutants.append(Mutant(label, path, kind))

    router = ROOT / "models" / "adapters" / "ticket-router.gguf"
    adapter_desc = describe_gguf(lora)
    router_desc = describe_gguf(router)
    router_interesting = list(router_desc.kv)
    adapter_interesting = [
        "general.type", "general.architecture", "adapter.type", "adapter.lora.alpha",
        "general.alignment", "general.name", "adapter.alora.invocation_tokens", "split.count",
    ]  # fmt: skip
    for i in range(N_ADAPTER_KV):
        desc = adapter_desc if i % 4 else router_desc
        keys = adapter_interesting if i % 4 else router_interesting + adapter_interesting
        mutated = _kv_mutant(rng, desc, keys)
        if desc is router_desc:  # the router is for another model: keep only the header as a probe
            mutated.tensors = adapter_desc.tensors
        add("adapter", f"adapter-kv#{i}", lambda p, m=mutated: write_description(p, m) and None)
    for i in range(30):
        mutated, label = _tensor_value_mutant(rng, adapter_desc)
        add("adapter", label, lambda p, m=mutated: write_description(p, m) and None)

    model_desc = describe_gguf(tiny_model)
    model_interesting = [k for k in model_desc.kv if not k.startswith("general.source")] + [
        "llama.expert_count", "llama.nextn_predict_layers", "llama.rope.scaling.type", "llama.vocab_size",
        "llama.attention.key_length", "llama.rope.scaling.factor", "llama.attention.sliding_window",
        "tokenizer.ggml.add_bos_token", "tokenizer.chat_template.tool_use", "llama.expert_used_count",
    ]  # fmt: skip
    for i in range(N_MODEL_KV):
        mutated = _kv_mutant(rng, model_desc, model_interesting)
        if rng.random() < 0.1:  # a duplicated token (llama.cpp asserts uniqueness)
            tokens = list(mutated.kv["tokenizer.ggml.tokens"][0])  # type: ignore[call-overload]
            tokens[rng.randrange(len(tokens))] = tokens[rng.randrange(len(tokens))]
            mutated.kv["tokenizer.ggml.tokens"] = (tokens, V.ARRAY, V.STRING)
        add("model", f"model-kv#{i}", lambda p, m=mutated: write_description(p, m) and None)

    for i in range(N_TABLE):
        source, kind = (tiny_model, "model") if i % 2 else (lora, "adapter")
        add(kind, "", lambda p, s=source: _table_mutant(rng, s, p))
    model_end, lora_end = _header_end(tiny_model), _header_end(lora)
    for i in range(N_BYTES):
        source, kind, end = (
            (tiny_model, "model", model_end) if i % 2 else (lora, "adapter", lora_end)
        )
        add(kind, "", lambda p, s=source, e=end: _byte_mutant(rng, s, p, e))
    return mutants


# --- the worker -------------------------------------------------------------------------


def _worker(tasks_file: str) -> None:
    """Load each task's model (or the base model with the task's adapter) and generate."""
    from ragtune.errors import RagtuneError
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    tasks = json.loads(Path(tasks_file).read_text())
    messages = [ChatMessage(role="user", content="Route this ticket: my invoice is wrong.")]
    options = GenerationOptions(max_tokens=4)
    base = None
    for index, task in enumerate(tasks):
        status = "ok"
        try:
            if task["adapter"]:
                if base is None:
                    model = Path(task["model"])
                    base = LlamaCppRuntime(
                        model,
                        summary=check_model_file(model),
                        model_id="base",
                        n_ctx=256,
                        n_threads=1,
                    )
                base.stream_chat(
                    messages, adapters=[AdapterUse(path=Path(task["adapter"]))], options=options
                ).consume()
            else:
                model = Path(task["model"])
                runtime = LlamaCppRuntime(
                    model, summary=check_model_file(model), model_id="m", n_ctx=256, n_threads=1
                )
                try:
                    runtime.stream_chat(messages, options=options).consume()
                finally:
                    runtime.close()
        except RagtuneError as exc:
            status = f"refused:{type(exc).__name__}"
        except Exception as exc:  # noqa: BLE001 - reported, and failed by the test
            status = f"raised:{type(exc).__name__}"
        print(json.dumps({"i": index, "status": status}), flush=True)


def _run_worker(
    tasks: list[dict[str, str | None]], folder: Path, tag: str
) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    file = folder / f"tasks-{tag}.json"
    file.write_text(json.dumps(tasks))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "worker", str(file)],
        cwd=ROOT,
        check=False,  # a dying worker is what we look for
        capture_output=True,
        text=True,
        timeout=900,  # only catches a hang
    )
    statuses = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            statuses.append(json.loads(line)["status"])
    return statuses, proc


def load_all(tasks: list[dict[str, str | None]], folder: Path) -> tuple[list[str], list[str]]:
    """Every task's status; a worker that dies is restarted after its culprit, which is
    re-run alone to confirm and report it."""
    statuses: list[str] = []
    crashes: list[str] = []
    remaining = list(range(len(tasks)))
    round_ = 0
    while remaining:
        got, proc = _run_worker([tasks[i] for i in remaining], folder, f"r{round_}")
        statuses.extend(got)
        if len(got) == len(remaining) and proc.returncode == 0:
            break
        culprit = remaining[len(got)] if len(got) < len(remaining) else remaining[-1]
        _, alone = _run_worker([tasks[culprit]], folder, f"alone{culprit}")
        said = [
            line
            for line in alone.stderr.splitlines()
            if "GGML_ASSERT" in line or "error" in line.lower()
        ]
        crashes.append(
            f"{tasks[culprit]['label']} ({tasks[culprit]['adapter'] or tasks[culprit]['model']}): worker exit "
            f"{proc.returncode}, alone exit {alone.returncode}; {' | '.join(said[:3])[:300]}"
        )
        statuses.append(f"crash:{proc.returncode}")
        remaining = remaining[len(got) + 1 :]
        round_ += 1
    return statuses, crashes


# --- the test ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from tests.factories import small_vocab_source, write_lora, write_tiny_model

    folder = tmp_path_factory.mktemp("fuzz")
    source = small_vocab_source(folder / "vocab.gguf")
    model = write_tiny_model(folder / "tiny-small-vocab.gguf", source=source)
    lora = write_lora(folder / "lora.gguf", targets=("attn_q", "attn_v", "ffn_up", "ffn_down"))
    return folder, model, lora


def test_no_mutant_of_a_real_adapter_or_model_crashes_the_process(fuzz_files):
    from ragtune.errors import RagtuneError
    from ragtune.gguf.files import check_adapter_file, check_model_file

    folder, model, lora = fuzz_files
    base = check_model_file(model)
    check_adapter_file(lora, base)  # the unmutated files are fine
    mutants = make_mutants(folder, model, lora)
    assert len(mutants) >= 300

    tasks: list[dict[str, str | None]] = []
    accepted: list[Mutant] = []
    refused = 0
    for mutant in mutants:
        try:
            if mutant.kind == "adapter":
                check_adapter_file(mutant.path, base)
            else:
                check_model_file(mutant.path)
        except RagtuneError as exc:
            refused += 1
            assert "Traceback" not in str(exc)
            continue
        accepted.append(mutant)
        if mutant.kind == "adapter":
            tasks.append({"label": mutant.label, "model": str(model), "adapter": str(mutant.path)})
        else:
            tasks.append({"label": mutant.label, "model": str(mutant.path), "adapter": None})
    # adapters first, then models: one base model serves every adapter task
    order = sorted(range(len(tasks)), key=lambda i: tasks[i]["adapter"] is None)
    statuses, crashes = load_all([tasks[i] for i in order], folder)
    outcome = Counter(s.split(":")[0] for s in statuses)
    print(
        f"\nfuzz: {len(mutants)} mutants, {refused} refused by the check, {len(accepted)} accepted; load: {dict(outcome)}"
    )
    assert not crashes, "a mutant that passed our checks crashed llama.cpp:\n" + "\n".join(crashes)
    raised = [
        f"{accepted[order[k]].label}: {status}"
        for k, status in enumerate(statuses)
        if status.startswith("raised")
    ]
    assert not raised, "a mutant raised a non-RagtuneError while loading:\n" + "\n".join(raised)
    assert outcome["ok"] > 0 and math.isfinite(len(statuses))


def test_mutants_of_the_full_tokenizer_are_refused_or_load(tiny_model: Path, tmp_path: Path):
    """A few seeded mutants of the tiny model with the default model's whole 49k vocabulary
    (slow to parse, so only a few): the same rules hold at full size."""
    from ragtune.errors import RagtuneError
    from ragtune.gguf.files import check_model_file
    from tests.factories import describe_gguf, write_description

    rng = random.Random(SEED + 1)
    desc = describe_gguf(tiny_model)
    keys = [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.eos_token_id",
    ]
    tasks = []
    for i in range(4):
        path = tmp_path / f"full{i}.gguf"
        mutated = _kv_mutant(rng, desc, keys)
        try:
            write_description(path, mutated)
        except (ValueError, TypeError, OverflowError, AssertionError, UnicodeError, struct.error):
            continue
        try:
            check_model_file(path)
        except RagtuneError:
            continue
        tasks.append({"label": f"full-vocab#{i}", "model": str(path), "adapter": None})
    tasks.append({"label": "unmutated", "model": str(tiny_model), "adapter": None})
    statuses, crashes = load_all(tasks, tmp_path)
    assert not crashes, "\n".join(crashes)
    assert statuses[-1] == "ok" and not [s for s in statuses if s.startswith("raised")]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "worker":
    sys.path.insert(0, str(ROOT))
    _worker(sys.argv[2])
