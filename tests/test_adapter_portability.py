"""The PEFT weights kept beside each GGUF export: the same adapter for engines that take PEFT
(vLLM, SGLang, LoRAX) and for llama.cpp, named with their sha256 on the card."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

import gguf  # noqa: E402

from ragtune.adapters import AdapterCatalog  # noqa: E402
from ragtune.config import load_settings  # noqa: E402
from ragtune.training.card import AdapterCard, card_paths, load_card, peft_folder  # noqa: E402
from ragtune.training.export import ExportSpec, lora_tensors_to_gguf  # noqa: E402
from ragtune.training.options import TrainOptions  # noqa: E402
from ragtune.training.trainer import TrainOutcome, load_base, train_adapter  # noqa: E402
from tests.training_fixtures import tiny_dataset  # noqa: E402


@dataclass
class Trained:
    base: Path
    outcome: TrainOutcome


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Trained:
    folder = tmp_path_factory.mktemp("portable")
    options = TrainOptions(rank=4, alpha=8, steps=2, batch_size=3, learning_rate=0.05, warmup_steps=0, seed=1,
                           target_modules=["q", "k", "v", "o", "up"])
    outcome = train_adapter(
        base_path=tiny_model, base_model_id="tiny-llama", dataset=tiny_dataset(), options=options,
        out_path=folder / "portable.gguf", keep_model=True,
    )
    return Trained(tiny_model, outcome)


def _gguf_tensors(path: Path) -> dict[str, np.ndarray]:
    reader = gguf.GGUFReader(path)
    return {t.name: np.array(t.data, dtype=np.float32).reshape(list(reversed(t.shape.tolist()))) for t in reader.tensors}


def test_the_peft_folder_sits_beside_the_gguf_with_both_files(trained: Trained) -> None:
    folder = peft_folder(trained.outcome.adapter_path)
    assert folder == trained.outcome.adapter_path.with_name("portable.peft")
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]


def test_the_peft_config_names_the_base_model_id_not_a_temp_path(trained: Trained) -> None:
    config = json.loads((peft_folder(trained.outcome.adapter_path) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny-llama"
    assert config["r"] == 4
    assert config["lora_alpha"] == 8


def test_the_saved_peft_adapter_loads_and_holds_the_weights_the_gguf_holds(trained: Trained) -> None:
    import torch
    from peft import PeftModel, get_peft_model_state_dict

    base_model, _ = load_base(trained.base)
    loaded = PeftModel.from_pretrained(base_model, str(peft_folder(trained.outcome.adapter_path)))
    state = {k: v.detach().float().numpy() for k, v in get_peft_model_state_dict(loaded).items()}
    hf = loaded.get_base_model().config
    spec = ExportSpec(architecture="llama", n_layers=hf.num_hidden_layers, n_head=hf.num_attention_heads,
                      n_head_kv=hf.num_key_value_heads, rank=4, alpha=8)
    expected = lora_tensors_to_gguf(state, spec)
    stored = _gguf_tensors(trained.outcome.adapter_path)
    assert sorted(stored) == sorted(expected)
    for name, array in expected.items():
        # the GGUF holds f16 copies: equal to the PEFT weights rounded to f16
        np.testing.assert_array_equal(stored[name], array.astype(np.float16).astype(np.float32), err_msg=name)
    assert any(np.abs(a).max() > 0 for n, a in expected.items() if n.endswith("lora_b"))  # trained, not zeros
    # and the reloaded adapter is the trained one: same weights as the model that was trained
    trained_state = get_peft_model_state_dict(trained.outcome.model)
    for key, value in trained_state.items():
        assert torch.equal(value.detach().float(), torch.from_numpy(state[key])), key


def test_the_card_names_every_file_with_its_sha256(trained: Trained) -> None:
    card = load_card(trained.outcome.adapter_path)
    assert card is not None
    folder = trained.outcome.adapter_path.parent
    assert [f.path for f in card.files] == [
        "portable.gguf", "portable.peft/adapter_model.safetensors", "portable.peft/adapter_config.json",
    ]
    for f in card.files:
        data = (folder / f.path).read_bytes()
        assert f.sha256 == hashlib.sha256(data).hexdigest()
        assert f.bytes == len(data)
    markdown = card_paths(trained.outcome.adapter_path)[1].read_text()
    assert "`portable.peft/adapter_model.safetensors` (sha256 `" + card.files[1].sha256 in markdown


def test_the_card_records_the_machine(trained: Trained) -> None:
    import os

    card = trained.outcome.card
    assert card.machine is not None
    assert card.machine.device == "cpu"
    assert card.machine.cores == os.cpu_count()
    assert card.machine.torch_threads and card.machine.torch_threads >= 1
    assert card.machine.cpu
    assert f"on cpu ({card.threads} threads), {card.machine.cpu}, {card.machine.cores} cores" in card.to_markdown()


def test_a_card_without_files_or_machine_still_loads(trained: Trained, tmp_path: Path) -> None:
    data = json.loads(trained.outcome.card.model_dump_json())
    del data["files"], data["machine"]
    old = tmp_path / "old.gguf"
    old.write_bytes(b"")
    card_paths(old)[0].write_text(json.dumps(data), encoding="utf-8")
    card = load_card(old)
    assert isinstance(card, AdapterCard)
    assert card.files == [] and card.machine is None
    assert "Files:" not in card.to_markdown()


def test_metrics_render_the_n_they_were_computed_over(trained: Trained) -> None:
    from ragtune.training.card import Metric

    card = trained.outcome.card.model_copy(update={"evaluation": [
        Metric(name="abstains", value=75.0, unit="%", baseline=10.0, n=4, note="unanswerable only"),
        Metric(name="legacy", value=50.0, unit="%", note="n=40"),
    ]})
    lines = card.to_markdown().splitlines()
    assert "| metric | adapter | base model | n | note |" in lines
    assert "| abstains | 75% | 10% | 4 | unanswerable only |" in lines
    assert "| legacy | 50% |  |  | n=40 |" in lines


def test_deleting_a_user_adapter_removes_its_peft_folder_and_nothing_else(
    trained: Trained, tmp_path: Path
) -> None:
    import shutil

    catalog = AdapterCatalog(load_settings(), shipped_dir=tmp_path / "shipped")
    user = catalog.user_dir
    user.mkdir(parents=True, exist_ok=True)
    source = trained.outcome.adapter_path
    for path in [source, *card_paths(source)]:
        shutil.copyfile(path, user / path.name)
    shutil.copytree(peft_folder(source), user / "portable.peft")
    (user / "other.peft").mkdir()
    (user / "other.peft" / "adapter_config.json").write_text("{}")
    (user / "notes.txt").write_text("keep me")
    assert [e.name for e in catalog.list()] == ["portable"]
    catalog.remove("portable")
    assert sorted(p.name for p in user.iterdir()) == ["notes.txt", "other.peft"]
    assert (user / "other.peft" / "adapter_config.json").read_text() == "{}"


def test_a_job_installs_the_peft_folder_with_its_adapter(trained: Trained, tmp_path: Path) -> None:
    import shutil

    from ragtune.gguf.files import check_model_file
    from ragtune.training.jobs import _install

    staged_dir = tmp_path / "job"
    staged_dir.mkdir()
    source = trained.outcome.adapter_path
    for path in [source, *card_paths(source)]:
        shutil.copyfile(path, staged_dir / path.name)
    shutil.copytree(peft_folder(source), staged_dir / "portable.peft")
    settings = load_settings()
    target = _install(staged_dir / "portable.gguf", settings, check_model_file(trained.base))
    assert target == settings.adapters_dir / "portable.gguf"
    installed = peft_folder(target)
    assert (installed / "adapter_model.safetensors").read_bytes() == (
        peft_folder(source) / "adapter_model.safetensors"
    ).read_bytes()
    card = load_card(target)
    assert card is not None
    for f in card.files:  # the card's relative paths hold in the catalog too
        assert hashlib.sha256((target.parent / f.path).read_bytes()).hexdigest() == f.sha256


def test_train_refuses_a_name_whose_peft_folder_is_already_there(tiny_env: Path, tmp_path: Path, capsys) -> None:
    from ragtune.cli import main
    from tests.training_fixtures import tiny_jsonl

    data = tmp_path / "data.jsonl"
    data.write_bytes(tiny_jsonl())
    out = tmp_path / "out"
    (out / "mine.peft").mkdir(parents=True)
    (out / "mine.peft" / "adapter_config.json").write_text("{}")
    assert main(["train", "--data", str(data), "--name", "mine", "--out", str(out), "--steps", "1"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["mine.peft"]
    assert (out / "mine.peft" / "adapter_config.json").read_text() == "{}"


def test_the_card_says_what_precision_the_training_ran_in(trained: Trained) -> None:
    from ragtune.training.machine import cpu_has_native_bf16

    card = trained.outcome.card
    assert card.precision == ("bf16 autocast" if cpu_has_native_bf16() else "float32")
    assert f"{card.machine.cores} cores, {card.precision};" in card.to_markdown()


@pytest.mark.parametrize(("flags", "native"), [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse avx2 amx_bf16 amx_tile", True),
    ("fpu sse avx2 fma avx512f", False),  # AVX-512 without its bf16 instructions
])
def test_auto_precision_uses_bf16_only_on_a_cpu_with_native_bf16(tmp_path: Path, flags: str, native: bool) -> None:
    from ragtune.training.machine import cpu_has_native_bf16

    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(info) is native
    assert cpu_has_native_bf16(tmp_path / "missing") is False


def test_a_failed_peft_swap_puts_the_previous_folder_back_whole(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import ragtune.training.peft_files as peft_files

    folder = tmp_path / "mine.peft"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"previous": true}', encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"previous weights")
    real_replace = os.replace
    calls: list[str] = []

    def replace(src, dst):  # type: ignore[no-untyped-def]
        calls.append(str(src))
        if len(calls) == 2:  # the old folder has been moved aside; the new one cannot be swapped in
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(peft_files.os, "replace", replace)
    with pytest.raises(PermissionError):
        peft_files.save_peft_folder(trained.outcome.model, folder, base_model_id="tiny-llama")
    monkeypatch.undo()
    assert ".mine.peft.partial-" in calls[1]  # the failed call was the swap itself
    assert (folder / "adapter_config.json").read_text(encoding="utf-8") == '{"previous": true}'
    assert (folder / "adapter_model.safetensors").read_bytes() == b"previous weights"
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine.peft"]  # no staging or set-aside folder left
