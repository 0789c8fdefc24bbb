"""LoRA training with PEFT on a GGUF base model, on a CPU by default.

The base model is the very GGUF file the app runs: transformers reads it with
``gguf_file=`` (dequantized to float32), so the adapter is trained against the
same weights and the same tokenizer llama.cpp uses. Conversations are rendered with
the file's own chat template, and the loss covers the assistant turns only
(their text and the end-of-turn token).

torch, transformers and peft are imported inside the functions: the rest of ragtune
(and the app) works without them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ragtune.errors import RagtuneError, TrainingCancelled, TrainingDataError
from ragtune.gguf.sha import sha256_of
from ragtune.training.card import AdapterCard, LossPoint, peft_folder, save_card
from ragtune.training.data import ChatExample, Dataset
from ragtune.training.deps import require_training_packages
from ragtune.training.export import architecture_rule, export_peft_model
from ragtune.training.machine import cpu_has_native_bf16, describe_machine, package_versions, session_threads
from ragtune.training.options import TrainOptions
from ragtune.training.peft_files import card_files, save_peft_folder

IGNORE = -100


class TrainProgress(BaseModel):
    """One progress report: where the run is, its latest loss and the time left."""

    phase: Literal["loading", "training", "exporting", "done"]
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    message: str = ""


ProgressFn = Callable[[TrainProgress], None]


@dataclass
class EncodedExample:
    input_ids: list[int]
    labels: list[int]


@dataclass
class TrainOutcome:
    adapter_path: Path
    card: AdapterCard
    model: Any = None  # the PEFT model, when keep_model=True (tests compare its logits)
    tokenizer: Any = None


# Reading a GGUF into transformers parses its whole header in Python (seconds, even for a
# tiny model). A process that trains more than once on the same base (a sweep, the tests)
# loads it once and trains on copies; the app never trains in process (jobs are workers).
_BASE_CACHE: dict[tuple[str, int, int], tuple[Any, Any]] = {}
_BASE_CACHE_SIZE = 2


def load_base(base_path: Path) -> tuple[Any, Any]:
    """Load a GGUF model and its tokenizer into transformers (float32, eval mode).

    Returns a fresh copy of the model each call (training modifies it in place).

    Raises:
        TrainingUnavailable: the training packages are missing.
    """
    require_training_packages()
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    base_path = Path(base_path).resolve()
    stat = base_path.stat()
    key = (str(base_path), stat.st_size, stat.st_mtime_ns)
    if key not in _BASE_CACHE:
        tokenizer = AutoTokenizer.from_pretrained(str(base_path.parent), gguf_file=base_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(base_path.parent), gguf_file=base_path.name, dtype=torch.float32
        )
        model.eval()
        while len(_BASE_CACHE) >= _BASE_CACHE_SIZE:
            _BASE_CACHE.pop(next(iter(_BASE_CACHE)))
        _BASE_CACHE[key] = (model, tokenizer)
    model, tokenizer = _BASE_CACHE[key]
    return copy.deepcopy(model), tokenizer


_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file, read from the start of its header.

    The full header parse (``gguf.GGUFReader``) walks a 49k-token vocabulary in Python and
    takes seconds; the architecture is one of the first keys.

    Raises:
        ModelError: not a GGUF file, or no architecture key.
    """
    import struct

    from ragtune.errors import ModelError

    with Path(path).open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelError(f"{Path(path).name} is not a GGUF file.")
        _version, _n_tensors, n_kv = struct.unpack("<IQQ", handle.read(20))

        def read_string() -> bytes:
            (length,) = struct.unpack("<Q", handle.read(8))
            return handle.read(length)

        def skip(kind: int) -> None:
            if kind == _STRING:
                read_string()
            elif kind == _ARRAY:
                item, count = struct.unpack("<IQ", handle.read(12))
                for _ in range(count):
                    skip(item)
            else:
                handle.seek(_SCALAR_SIZES[kind], 1)

        for _ in range(n_kv):
            key = read_string()
            (kind,) = struct.unpack("<I", handle.read(4))
            if key == b"general.architecture" and kind == _STRING:
                return read_string().decode("utf-8")
            skip(kind)
    raise ModelError(f"{Path(path).name} has no general.architecture key.")


def render(tokenizer: Any, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    """The chat template's text for ``messages`` (the template inside the GGUF file)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def encode_example(tokenizer: Any, example: ChatExample, *, max_length: int) -> EncodedExample | None:
    """Token ids with labels on the assistant turns only; None when over ``max_length``.

    The text is split where the template switches between prompt and answer, and each
    piece is tokenized on its own: every split falls next to a special token, so the
    pieces tokenize exactly as the whole prompt does at inference.
    """
    messages = [m.model_dump() for m in example.messages]
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], add_generation_prompt=True)
        full = render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not prompt.startswith(rendered) or not full.startswith(prompt):
            raise RagtuneError(
                "The model's chat template does not render conversations incrementally; "
                "training on it would put the loss on the wrong tokens."
            )
        for text, trainable in ((prompt[len(rendered):], False), (full[len(prompt):], True)):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
            ids.extend(piece)
            labels.extend(piece if trainable else [IGNORE] * len(piece))
        rendered = full
    if len(ids) > max_length:
        return None
    return EncodedExample(input_ids=ids, labels=labels)


def prompt_token_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The token ids of a prompt (up to the assistant's turn), as training sees them."""
    return tokenizer(render(tokenizer, messages, add_generation_prompt=True), add_special_tokens=False)["input_ids"]


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainingSession:
    """A prepared run: the PEFT model, its optimizer and the encoded examples.

    :meth:`step` runs one optimizer step; :func:`train_adapter` loops over it and the
    throughput sweep (:mod:`ragtune.training.sweep`) times it, so both measure the same code.
    """

    model: Any
    tokenizer: Any
    options: TrainOptions
    usable: list[EncodedExample]
    skipped: int
    total: int
    device: str
    architecture: str
    optimizer: Any
    params: list[Any]
    pad_id: int
    use_bf16: bool
    rng: random.Random
    order: list[int]
    tokens_seen: int = 0

    def next_batch(self) -> list[EncodedExample]:
        """The next ``batch_size`` examples of a reshuffled pass over the data."""
        size = self.options.batch_size
        if len(self.order) < size:
            more = list(range(len(self.usable)))
            self.rng.shuffle(more)
            self.order.extend(more)
        batch = [self.usable[i] for i in self.order[:size]]
        del self.order[:size]
        return batch

    def step(self, step: int) -> tuple[float, int]:
        """One optimizer step (``step`` sets the learning rate); returns (loss, tokens in the batch)."""
        import torch

        batch = self.next_batch()
        width = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, example in enumerate(batch):
            n = len(example.input_ids)
            ids[row, :n] = torch.tensor(example.input_ids)
            labels[row, :n] = torch.tensor(example.labels)
            mask[row, :n] = 1
        tokens = int(mask.sum())
        self.tokens_seen += tokens
        options = self.options
        for group in self.optimizer.param_groups:
            group["lr"] = options.learning_rate * _lr_factor(step, self.total, options.warmup_steps)
        # Project to the vocabulary only from the first position that predicts an answer token:
        # with ~49k tokens in the vocabulary, the output layer over the whole prompt is a large
        # share of a CPU step, spent on positions the loss ignores.
        _, answer_cols = (labels != IGNORE).nonzero(as_tuple=True)
        first = int(answer_cols.min()) if len(answer_cols) else 1
        keep_from = max(0, first - 1)
        device = self.device
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=self.use_bf16):
            out = self.model(
                input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=width - keep_from
            )
        logits = out.logits[:, :-1].float()
        targets = labels[:, keep_from + 1 :].to(device)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach()), tokens


def prepare_training(
    *,
    base_path: Path,
    dataset: Dataset,
    options: TrainOptions,
    loaded: tuple[Any, Any] | None = None,
    report: ProgressFn | None = None,
) -> TrainingSession:
    """Load the base, encode the examples and wrap the model with a fresh LoRA.

    Raises:
        TrainingUnavailable: the training packages are missing.
        AdapterError: the architecture cannot be exported.
        TrainingDataError: every example is longer than ``options.max_length``.
    """
    require_training_packages()
    rule_arch = gguf_architecture(base_path)
    architecture_rule(rule_arch)  # refuse unknown architectures before the long part

    import torch
    from peft import LoraConfig, get_peft_model

    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    if report is not None:
        report(TrainProgress(phase="loading", message=f"Loading {Path(base_path).name} into transformers"))
    model, tokenizer = loaded or load_base(base_path)
    if model.config.model_type != rule_arch:
        raise RagtuneError(
            f"transformers read {Path(base_path).name} as '{model.config.model_type}', the GGUF says "
            f"'{rule_arch}'; refusing to train an adapter whose layout may not match."
        )

    encoded = [encode_example(tokenizer, ex, max_length=options.max_length) for ex in dataset.examples]
    usable = [e for e in encoded if e is not None]
    if not usable:
        raise TrainingDataError(
            f"All {len(encoded)} examples are longer than max_length={options.max_length} tokens; "
            "raise max_length or shorten the examples."
        )

    device = "cuda" if options.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    n_layers = int(model.config.num_hidden_layers)
    layers = None
    if options.last_layers is not None and options.last_layers < n_layers:
        layers = list(range(n_layers - options.last_layers, n_layers))
    lora = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=options.hf_target_modules(),
        layers_to_transform=layers,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.to(device)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    # bf16 autocast where asked, on a GPU, or on a CPU with native bf16 instructions (AVX512-BF16,
    # AMX): there `adapters sweep` measured a step ~4x faster than float32. On a CPU without them
    # (AVX2 only) a bf16 matmul was measured 35x slower than float32, so auto stays float32 there.
    use_bf16 = options.precision == "bf16" or (
        options.precision == "auto" and (device == "cuda" or cpu_has_native_bf16())
    )
    return TrainingSession(
        model=model,
        tokenizer=tokenizer,
        options=options,
        usable=usable,
        skipped=len(encoded) - len(usable),
        total=options.total_steps(len(usable)),
        device=device,
        architecture=rule_arch,
        optimizer=torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=0.0),
        params=params,
        pad_id=pad_id,
        use_bf16=use_bf16,
        rng=random.Random(options.seed),
        order=[],
    )


def train_adapter(
    *,
    base_path: Path,
    base_model_id: str,
    dataset: Dataset,
    options: TrainOptions,
    out_path: Path,
    name: str | None = None,
    description: str = "",
    prompt_builder: str = "",
    base_sha256: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_model: bool = False,
    loaded: tuple[Any, Any] | None = None,
) -> TrainOutcome:
    """Train a LoRA on ``dataset`` and write ``out_path`` (GGUF, f16) with its card, and the
    PEFT weights in ``name.peft/`` beside it (for engines that take PEFT adapters).

    Args:
        base_path: The base model's GGUF file.
        base_model_id: Its registry id (recorded in the card and the PEFT config).
        dataset: Validated examples (see :func:`ragtune.training.data.load_examples`).
        options: Hyperparameters.
        out_path: Where the adapter goes; the card and the PEFT folder are written next to it.
        progress: Called after loading, after every step and at the end.
        should_stop: Polled every step; True cancels the run.
        keep_model: Return the trained PEFT model and tokenizer (for tests).
        loaded: An already loaded ``(model, tokenizer)`` to reuse (it gets modified).

    Raises:
        TrainingUnavailable: the training packages are missing.
        AdapterError: the architecture cannot be exported.
        TrainingDataError: every example is longer than ``options.max_length``.
        TrainingCancelled: ``should_stop`` returned True.
    """
    start = time.perf_counter()
    report = progress or (lambda _p: None)
    session = prepare_training(base_path=base_path, dataset=dataset, options=options, loaded=loaded, report=report)
    model, tokenizer, total = session.model, session.tokenizer, session.total
    curve: list[LossPoint] = []
    train_start = time.perf_counter()

    for step in range(total):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(f"Training cancelled at step {step} of {total}; no adapter was written.")
        value, _ = session.step(step)
        elapsed = time.perf_counter() - train_start
        curve.append(LossPoint(step=step + 1, loss=round(value, 5), elapsed_s=round(elapsed, 2)))
        report(
            TrainProgress(
                phase="training",
                step=step + 1,
                total_steps=total,
                loss=value,
                elapsed_s=elapsed,
                eta_s=elapsed / (step + 1) * (total - step - 1),
            )
        )

    model.eval()
    report(TrainProgress(phase="exporting", step=total, total_steps=total, message="Writing the GGUF adapter"))
    out_path = Path(out_path)
    adapter_name = name or out_path.stem
    base_digest = base_sha256 or sha256_of(base_path)
    export_peft_model(
        model,
        out_path,
        architecture=session.architecture,
        name=adapter_name,
        metadata={"base_model": base_model_id, "base_sha256": base_digest},
    )
    peft_dir = save_peft_folder(model, peft_folder(out_path), base_model_id=base_model_id)
    card = AdapterCard(
        name=adapter_name,
        description=description,
        base_model_id=base_model_id,
        base_model_file=Path(base_path).name,
        base_sha256=base_digest,
        architecture=session.architecture,
        data_file=dataset.source,
        data_sha256=dataset.sha256,
        n_examples=len(session.usable),
        n_skipped=session.skipped,
        n_tokens_trained=session.tokens_seen,
        prompt_builder=prompt_builder,
        options=options,
        loss_curve=curve,
        training_seconds=round(time.perf_counter() - start, 1),
        device=session.device,
        precision="bf16 autocast" if session.use_bf16 else "float32",
        threads=session_threads(session.device),
        versions=package_versions(),
        files=card_files(out_path, peft_dir),
        machine=describe_machine(session.device),
    )
    save_card(card, out_path)
    report(TrainProgress(phase="done", step=total, total_steps=total, elapsed_s=time.perf_counter() - start))
    return TrainOutcome(
        adapter_path=out_path,
        card=card,
        model=model if keep_model else None,
        tokenizer=tokenizer if keep_model else None,
    )
