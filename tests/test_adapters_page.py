"""The Adapters page, run standalone under AppTest on the tiny model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.training.card import AdapterCard, LossPoint, Metric, SpeedCost, save_card
from ragtune.training.options import TrainOptions

PAGE = str(PROJECT_ROOT / "app_pages" / "adapters.py")


@pytest.fixture(autouse=True)
def no_demo_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")


@pytest.fixture()
def user_adapter(data_dir: Path, random_lora: Path) -> Path:
    folder = data_dir / "adapters"
    folder.mkdir(exist_ok=True)
    path = folder / "style.gguf"
    path.write_bytes(random_lora.read_bytes())
    card = AdapterCard(
        name="style", description="A test adapter.", base_model_id="local:tiny", base_model_file="tiny.gguf",
        base_sha256="c" * 64, architecture="llama", data_file="style.jsonl", data_sha256="d" * 64, n_examples=12,
        options=TrainOptions(rank=4, steps=3), training_seconds=30.0,
        loss_curve=[LossPoint(step=i, loss=3.0 - i / 2, elapsed_s=i) for i in range(1, 4)],
        evaluation=[Metric(name="format valid", value=95.0, unit="%", baseline=10.0)],
        speed=SpeedCost(base_tokens_per_s=100.0, adapter_tokens_per_s=80.0, prompts=5),
    )
    save_card(card, path)
    return path


def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.error] + [s.value for s in at.success] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def test_cards_render_with_their_loss_curve_quality_and_speed_cost(tiny_env: Path, user_adapter: Path) -> None:
    at = page()
    assert "**style** · shared" in texts(at)
    assert "fits the loaded model" in texts(at)
    assert {m.label for m in at.metric} >= {"Examples", "LoRA", "Training time", "Generation speed"}
    speed = [m for m in at.metric if m.label == "Generation speed" and m.value == "80 tok/s"]
    assert len(speed) == 1 and "-20%" in str(speed[0].delta)
    assert len(at.get("plotly_chart")) >= 1
    assert not at.error


def test_a_bad_upload_is_rejected_with_its_reason(tiny_env: Path) -> None:
    at = page()
    at.file_uploader(key="ad_upload").set_value(("broken.gguf", b"definitely not gguf", "application/octet-stream"))
    at.run()
    at.button(key="ad_upload_save").click().run()
    assert not at.exception
    assert any("Rejected" in e.value and "not a GGUF file" in e.value for e in at.error)


def test_an_upload_whose_check_fails_in_pydantic_is_rejected_in_words_and_not_stored(
    tiny_env: Path, data_dir: Path, random_lora: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragtune.adapters
    from pydantic import BaseModel, Field, ValidationError

    class Header(BaseModel):
        rank: int = Field(ge=1)

    def check(path, base):  # type: ignore[no-untyped-def]
        try:
            Header(rank=0)
        except ValidationError as exc:
            raise exc from None

    monkeypatch.setattr(ragtune.adapters, "check_adapter_file", check)
    at = page()
    at.file_uploader(key="ad_upload").set_value(("odd.gguf", random_lora.read_bytes(), "application/octet-stream"))
    at.run()
    at.button(key="ad_upload_save").click().run()
    assert not at.exception
    (shown,) = [e.value for e in at.error]
    assert shown.startswith("Rejected:") and "rank" in shown
    assert "validation error for" not in shown and "pydantic.dev" not in shown
    assert not list((data_dir / "adapters").glob("*.gguf"))  # nothing stored


def test_an_adapter_for_another_model_size_is_rejected(tiny_env: Path, tmp_path: Path) -> None:
    from tests.factories import write_lora

    wrong = write_lora(tmp_path / "wide.gguf", shape_delta=8)
    at = page()
    at.file_uploader(key="ad_upload").set_value(("wide.gguf", wrong.read_bytes(), "application/octet-stream"))
    at.run()
    at.button(key="ad_upload_save").click().run()
    assert any("do not fit the base weight" in e.value for e in at.error)


def test_delete_asks_for_confirmation_first(tiny_env: Path, user_adapter: Path) -> None:
    at = page()
    at.button(key="ad_delete_style").click().run()
    assert user_adapter.exists()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="ad_delete_style_yes").click().run()
    assert not user_adapter.exists() and not user_adapter.with_name("style.card.json").exists()
    assert "**style**" not in texts(at)


def test_the_try_box_compares_base_and_adapter_side_by_side(tiny_env: Path, user_adapter: Path) -> None:
    at = page()
    at.text_area(key="ad_try_input").set_value("Hello there")
    at.button(key="ad_try_run").click().run()
    assert not at.exception and not at.error
    assert {"**Base model**", "**With the adapter**"} <= {m.value for m in at.markdown}


def test_training_says_how_to_install_the_extras_when_they_are_missing(
    tiny_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ragtune.training.deps as deps

    monkeypatch.setattr(deps.importlib.util, "find_spec", lambda name: None)
    at = page()
    assert any("requirements-train.txt" in i.value for i in at.info)


def test_a_training_job_starts_in_the_background_and_reports_progress(tiny_env: Path) -> None:
    pytest.importorskip("torch")
    from ragtune.training.jobs import TrainingJobs
    from tests.training_fixtures import tiny_jsonl

    at = page()
    at.file_uploader(key="ad_train_file").set_value(("codes.jsonl", tiny_jsonl(), "application/octet-stream"))
    at.run()
    at.text_input(key="ad_train_name").set_value("codes")
    at.number_input(key="ad_train_steps").set_value(2)
    at.number_input(key="ad_train_batch").set_value(2).run()
    at.button(key="ad_train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Started 'codes': 2 steps" in s.value for s in at.success)

    jobs = TrainingJobs(load_settings())
    deadline = time.monotonic() + 90
    while (job := jobs.list()[0]).status == "starting" and time.monotonic() < deadline:
        time.sleep(0.5)  # the worker is a separate process: wait for its first report
    assert job.status in {"loading", "training", "exporting", "done"}, job
    at.run()
    assert any("**codes** on `local:tiny`" in m.value for m in at.markdown)
    jobs.cancel(job.id)  # stop it before its next step (it would finish on its own)
    assert (jobs.root / job.id / "cancel").exists()


def test_a_failed_job_shows_the_end_of_its_log_as_text(tiny_env: Path) -> None:
    from ragtune.training.jobs import JobState, TrainingJobs

    folder = TrainingJobs(load_settings()).root / "20260101-000000-broken"
    folder.mkdir(parents=True)
    state = JobState(id=folder.name, name="broken", base_model_id="local:tiny", status="failed",
                     error="The training process ended unexpectedly; see log.txt in the job folder.")
    (folder / "state.json").write_text(state.model_dump_json(), encoding="utf-8")
    lines = [f"step {i}" for i in range(30)] + ["Traceback (most recent call last):", "**MemoryError** <b>x</b>"]
    (folder / "log.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    at = page()
    assert any("ended unexpectedly" in e.value for e in at.error)
    (log,) = [e for e in at.expander if e.label == "log"]
    (shown,) = [c.value for c in log.code]
    assert shown.splitlines() == lines[-20:]  # the last lines, verbatim: no Markdown, no HTML
    assert "step 11" not in shown and "**MemoryError** <b>x</b>" in shown
