"""`python -m ragtune train` and the background job worker, end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from ragtune.adapters import AdapterCatalog  # noqa: E402
from ragtune.cli import main  # noqa: E402
from ragtune.config import load_settings  # noqa: E402
from ragtune.errors import AdapterError, InputError, TrainingDataError  # noqa: E402
from ragtune.training.card import load_card  # noqa: E402
from ragtune.training.jobs import JobRequest, TrainingJobs, _write_state, JobState, run_job  # noqa: E402
from ragtune.training.options import TrainOptions  # noqa: E402
from tests.training_fixtures import tiny_jsonl  # noqa: E402

FAST = ["--steps", "2", "--batch", "2", "--rank", "2", "--threads", "2"]


def test_the_train_command_writes_an_adapter_and_its_card(tiny_env: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "codes.jsonl"
    data.write_bytes(tiny_jsonl())
    assert main(["train", "--data", str(data), "--name", "codes", *FAST]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    adapter = Path(summary["adapter"])
    assert summary["steps"] == 2 and summary["examples"] == 6
    entry = next(e for e in AdapterCatalog(load_settings()).list() if e.name == "codes")
    assert entry.path == adapter.resolve() and entry.origin == "user"
    card = load_card(adapter)
    assert card is not None and card.base_model_id == "local:tiny" and card.n_examples == 6
    assert len(card.loss_curve) == 2 and card.options.rank == 2


def test_the_train_command_reports_bad_lines_and_exits_2(tiny_env: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_bytes(tiny_jsonl(2) + b'{"messages": []}\n')
    assert main(["train", "--data", str(data), "--name", "bad", *FAST]) == 2
    assert "line 3:" in capsys.readouterr().err


def test_a_job_runs_to_done_and_its_adapter_joins_the_catalog(tiny_env: Path) -> None:
    settings = load_settings()
    jobs = TrainingJobs(settings)
    folder = jobs.root / "job-1"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_bytes(tiny_jsonl())
    options = TrainOptions(steps=2, batch_size=2, rank=2, threads=2)
    (folder / "request.json").write_text(
        JobRequest(name="codes", base_model_id="local:tiny", data_name="codes.jsonl", options=options).model_dump_json()
    )
    _write_state(folder, JobState(id="job-1", name="codes", base_model_id="local:tiny"))
    assert run_job(folder, settings) == 0
    state = jobs.get("job-1")
    assert state.status == "done" and state.step == 2 and len(state.losses) == 2
    assert Path(state.adapter_path or "").parent == settings.adapters_dir
    assert load_card(Path(state.adapter_path or "")) is not None
    assert "codes" in [e.name for e in AdapterCatalog(settings).list()]


def test_a_cancelled_job_writes_nothing(tiny_env: Path) -> None:
    settings = load_settings()
    folder = TrainingJobs(settings).root / "job-2"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_bytes(tiny_jsonl())
    request = JobRequest(name="never", base_model_id="local:tiny", data_name="x.jsonl", options=TrainOptions(steps=5, batch_size=2))
    (folder / "request.json").write_text(request.model_dump_json())
    (folder / "cancel").touch()
    assert run_job(folder, settings) == 130
    assert TrainingJobs(settings).get("job-2").status == "cancelled"
    assert "never" not in [e.name for e in AdapterCatalog(settings).list()]


def test_starting_a_job_checks_the_data_and_the_name_first(tiny_env: Path) -> None:
    jobs = TrainingJobs(load_settings())
    with pytest.raises(TrainingDataError, match="line 1"):
        jobs.start(name="x", base_model_id="local:tiny", data=b"nope\n", data_name="x.jsonl", options=TrainOptions())
    with pytest.raises(AdapterError, match="not a valid adapter name"):
        jobs.start(name="../x", base_model_id="local:tiny", data=tiny_jsonl(), data_name="x.jsonl", options=TrainOptions())
    with pytest.raises(InputError, match="No training job"):
        jobs.get("missing")


def _taken_peft(settings, kind: str, tmp_path: Path) -> Path:
    """``mine.peft`` in the catalog without ``mine.gguf``: a folder of someone else's files, or a dangling link."""
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    taken = settings.adapters_dir / "mine.peft"
    if kind == "folder":
        taken.mkdir()
        (taken / "adapter_config.json").write_text('{"other": true}', encoding="utf-8")
    else:
        taken.symlink_to(tmp_path / "nowhere.peft", target_is_directory=True)
    return taken


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_starting_a_job_refuses_a_name_whose_peft_folder_is_taken(tiny_env: Path, tmp_path: Path, kind: str) -> None:
    settings = load_settings()
    taken = _taken_peft(settings, kind, tmp_path)
    jobs = TrainingJobs(settings)
    with pytest.raises(AdapterError, match=r"mine\.peft.*move or delete"):
        jobs.start(name="mine", base_model_id="local:tiny", data=tiny_jsonl(), data_name="x.jsonl", options=TrainOptions())
    assert jobs.list() == []  # no job folder, no worker
    assert [p.name for p in settings.adapters_dir.iterdir()] == ["mine.peft"]
    assert taken.is_symlink() == (kind == "dangling link")
    if kind == "folder":
        assert (taken / "adapter_config.json").read_text(encoding="utf-8") == '{"other": true}'


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_installing_a_result_refuses_a_taken_peft_folder_and_moves_nothing(
    tiny_env: Path, tiny_model: Path, random_lora: Path, tmp_path: Path, kind: str
) -> None:
    from ragtune.gguf.files import check_model_file
    from ragtune.training.card import card_paths, peft_folder
    from ragtune.training.jobs import _install

    settings = load_settings()
    taken = _taken_peft(settings, kind, tmp_path)
    staged_dir = tmp_path / "job"
    staged_dir.mkdir()
    staged = staged_dir / "mine.gguf"
    staged.write_bytes(random_lora.read_bytes())
    for card in card_paths(staged):
        card.write_text("the job's card", encoding="utf-8")
    peft_folder(staged).mkdir()
    (peft_folder(staged) / "adapter_config.json").write_text('{"job": true}', encoding="utf-8")
    before = {p.relative_to(staged_dir): p.read_bytes() for p in staged_dir.rglob("*") if p.is_file()}

    with pytest.raises(AdapterError, match=r"mine\.peft.*move or delete.*stays in"):
        _install(staged, settings, check_model_file(tiny_model))

    assert {p.relative_to(staged_dir): p.read_bytes() for p in staged_dir.rglob("*") if p.is_file()} == before
    assert [p.name for p in settings.adapters_dir.iterdir()] == ["mine.peft"]  # no card, no GGUF copied in
    assert taken.is_symlink() == (kind == "dangling link")
    if kind == "folder":
        assert (taken / "adapter_config.json").read_text(encoding="utf-8") == '{"other": true}'
