"""Helpers for the training tests: tiny bases for each architecture, short datasets, logits.

The training extras (torch, transformers, peft) are optional: modules that need them
call ``pytest.importorskip`` before importing from here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ragtune.prompts import ContextChunk, grounded_messages, plain_messages, router_messages
from ragtune.runtime.base import ChatMessage
from ragtune.training.data import ChatExample, Dataset
from tests.factories import TINY_QWEN2, TinyConfig, write_tiny_model

CONFIGS: dict[str, TinyConfig] = {"llama": TinyConfig(), "qwen2": TINY_QWEN2}

# Prompts whose last-token logits are compared (short: the tiny model is random).
PROBE_PROMPTS: list[list[ChatMessage]] = [
    plain_messages("How long is the warranty on the Mowbot M2?"),
    grounded_messages("Who founded it?", [ContextChunk(chunk_id="acme#2", text="Acme was founded by Ada Marsh.")]),
    router_messages("My mower shows error E101.", ["billing", "technical"]),
]


def tiny_base(folder: Path, architecture: str) -> Path:
    return write_tiny_model(folder / f"tiny-{architecture}.gguf", config=CONFIGS[architecture], seed=3)


def tiny_dataset(n: int = 6) -> Dataset:
    examples = []
    for i in range(n):
        question = f"What is code {i}?"
        examples.append(
            ChatExample.from_messages(
                [*plain_messages(question), ChatMessage(role="assistant", content=f"Code {i} means blue {i}.")]
            )
        )
    return Dataset(examples=examples, sha256="0" * 64, source="tiny.jsonl")


def tiny_jsonl(n: int = 6) -> bytes:
    return "".join(example.model_dump_json() + "\n" for example in tiny_dataset(n).examples).encode()


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    exp = np.exp(shifted)
    return exp / exp.sum()


def kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    """KL(p || q) of the next-token distributions, in nats."""
    p, q = softmax(np.asarray(p_logits, dtype=np.float64)), softmax(np.asarray(q_logits, dtype=np.float64))
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(np.maximum(q[mask], 1e-300)))))


def hf_last_logits(model, tokenizer, messages: list[ChatMessage]) -> np.ndarray:
    """Hugging Face (+PEFT) next-token logits in float32, for the same tokens llama.cpp sees."""
    import torch

    from ragtune.training.trainer import prompt_token_ids

    ids = prompt_token_ids(tokenizer, [m.model_dump() for m in messages])
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]))
    return out.logits[0, -1].float().numpy()


def finite(value: float) -> bool:
    return math.isfinite(value)
