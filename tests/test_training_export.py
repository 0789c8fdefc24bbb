"""End to end on tiny models: train a LoRA with PEFT, export it to GGUF, run it in llama.cpp,
and compare next-token logits with Hugging Face + PEFT.

The tolerance comes from the same comparison without an adapter (the two engines'
numeric noise on the same weights) plus 0.1% of the adapter's own effect; a wrong q/k
permutation must land more than ten times outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from ragtune.errors import AdapterError  # noqa: E402
from ragtune.gguf.files import check_adapter_file, check_model_file  # noqa: E402
from ragtune.runtime.base import AdapterUse  # noqa: E402
from ragtune.runtime.llamacpp import LlamaCppRuntime  # noqa: E402
from ragtune.training.export import export_peft_model  # noqa: E402
from ragtune.training.options import TrainOptions  # noqa: E402
from ragtune.training.trainer import load_base, prompt_token_ids, train_adapter  # noqa: E402
from tests.training_fixtures import PROBE_PROMPTS, hf_last_logits, kl, tiny_base, tiny_dataset  # noqa: E402


@dataclass
class Trained:
    architecture: str
    base: Path
    adapter: Path
    wrong: Path
    runtime: LlamaCppRuntime
    noise: list[float]  # KL(HF base || llama.cpp base) per probe prompt
    hf_adapter_logits: list[np.ndarray]
    hf_base_logits: list[np.ndarray]
    tokenizer: object


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Trained]:
    architecture = request.param
    folder = tmp_path_factory.mktemp(f"export-{architecture}")
    # llama: the session's tiny model (its transformers copy is then reused by the job tests)
    base = tiny_model if architecture == "llama" else tiny_base(folder, architecture)
    model, tokenizer = load_base(base)
    hf_base = [hf_last_logits(model, tokenizer, p) for p in PROBE_PROMPTS]
    # A high learning rate so that a few steps give an adapter that clearly moves the logits.
    options = TrainOptions(rank=4, alpha=8, steps=4, batch_size=3, learning_rate=0.05, warmup_steps=0, seed=1)
    outcome = train_adapter(
        base_path=base, base_model_id=f"tiny-{architecture}", dataset=tiny_dataset(), options=options,
        out_path=folder / "right.gguf", keep_model=True, loaded=(model, tokenizer),
    )
    peft_model = outcome.model
    # The GGUF stores the factors in f16: round PEFT's copies the same way, so the comparison
    # below measures the export (names, layout, permutation, scale), not f16 rounding.
    import torch

    with torch.no_grad():
        for param_name, param in peft_model.named_parameters():
            if "lora_" in param_name:
                param.copy_(param.half().float())
    right_rule = architecture == "llama"
    wrong = export_peft_model(
        peft_model, folder / "wrong.gguf", architecture=architecture, name="wrong", permute_qk=not right_rule
    )
    hf_adapter = [hf_last_logits(peft_model, tokenizer, p) for p in PROBE_PROMPTS]
    runtime = LlamaCppRuntime(base, summary=check_model_file(base), model_id="tiny", n_ctx=512, n_threads=2)
    noise = [kl(h, np.array(runtime.last_token_logits(p))) for h, p in zip(hf_base, PROBE_PROMPTS)]
    yield Trained(architecture, base, outcome.adapter_path, wrong, runtime, noise, hf_adapter, hf_base, tokenizer)
    runtime.close()


def tolerance(trained: Trained, i: int) -> float:
    """How far llama.cpp + adapter may be from HF + PEFT on probe prompt ``i`` (KL, nats).

    Without an adapter the two engines differ by arithmetic alone (f16 weights, op order):
    that is the noise floor, and 5x its largest value is allowed. With an adapter,
    llama.cpp also rounds the activations entering the f16 LoRA factors to f16, an error
    that grows with the adapter's own effect, so 0.1% of that effect (KL base -> adapter
    under HF) is added. A wrong layout is off by the same order as the effect itself.
    """
    moved = kl(trained.hf_adapter_logits[i], trained.hf_base_logits[i])
    return 5 * max(trained.noise) + 1e-3 * moved


def test_the_training_tokens_are_the_runtime_tokens(trained: Trained) -> None:
    for prompt in PROBE_PROMPTS:
        ids = prompt_token_ids(trained.tokenizer, [m.model_dump() for m in prompt])
        runtime_ids, _ = trained.runtime._prompt_tokens(prompt)
        assert ids == runtime_ids


def test_the_exported_adapter_fits_its_base(trained: Trained) -> None:
    summary = check_adapter_file(trained.adapter, check_model_file(trained.base))
    assert summary.metadata["adapter.lora.alpha"] == 8.0
    assert {dtype for dtype in summary.tensor_dtypes.values()} == {"F16"}


def test_the_adapter_changes_the_logits_well_beyond_the_noise(trained: Trained) -> None:
    moved = [kl(a, b) for a, b in zip(trained.hf_adapter_logits, trained.hf_base_logits)]
    assert min(moved) > 1000 * max(trained.noise), (moved, trained.noise)


def test_llama_cpp_with_the_adapter_matches_hf_with_peft(trained: Trained) -> None:
    use = [AdapterUse(path=trained.adapter)]
    diffs = [
        kl(hf, np.array(trained.runtime.last_token_logits(prompt, adapters=use)))
        for hf, prompt in zip(trained.hf_adapter_logits, PROBE_PROMPTS)
    ]
    assert all(d <= tolerance(trained, i) for i, d in enumerate(diffs)), (diffs, trained.noise)


def test_a_wrong_rope_permutation_is_detected(trained: Trained) -> None:
    use = [AdapterUse(path=trained.wrong)]
    diffs = [
        kl(hf, np.array(trained.runtime.last_token_logits(prompt, adapters=use)))
        for hf, prompt in zip(trained.hf_adapter_logits, PROBE_PROMPTS)
    ]
    assert all(d > 10 * tolerance(trained, i) for i, d in enumerate(diffs)), (diffs, trained.noise)


def test_a_base_answer_after_an_adapter_request_has_no_adapter_left(trained: Trained) -> None:
    prompt = PROBE_PROMPTS[0]
    trained.runtime.last_token_logits(prompt, adapters=[AdapterUse(path=trained.adapter)])
    base_again = np.array(trained.runtime.last_token_logits(prompt))
    assert kl(trained.hf_base_logits[0], base_again) <= 5 * max(trained.noise)


def test_unknown_architectures_are_refused_before_training(tmp_path: Path) -> None:
    from ragtune.training.export import architecture_rule

    with pytest.raises(AdapterError, match="gemma3"):
        architecture_rule("gemma3")
