"""One name rule for every name a user gives: never a path, the same limits as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.errors import InputError
from ragtune.errors import ModeError
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.names import RULES, check_name, inside

HOSTILE = ["../../../x", "..", ".", ".hidden", "a/b", "a\\b", "a..b", "", "   ", "a\x00b", "a\nb", "x" * 200,
           "-leading", "naïve-日本"]


@pytest.mark.parametrize("kind", sorted(RULES))
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_a_hostile_name_is_refused_naming_the_kind_and_the_rule(kind, value):
    with pytest.raises(InputError) as refused:
        check_name(kind, value)
    message = str(refused.value)
    assert f"Invalid {kind} name" in message and "use 1-" in message
    assert len(message) < 250  # the value is cut short, never dumped


@pytest.mark.parametrize(("kind", "value"), [
    ("adapter", "grounded-json"), ("adapter", "My_Adapter.v2"), ("adapter", "a" * 64),
    ("mode", "rag+lora"), ("mode", "rag+constrained"), ("workspace", "team-docs"), ("workspace", "Demo.v2"),
    ("model id", "local:tiny"), ("model id", "qwen2.5-coder-0.5b-instruct-q4_k_m"),
    ("training job", "20261201-101010-" + "a" * 64),
])
def test_the_names_in_use_today_stay_valid(kind, value):
    assert check_name(kind, f"  {value} ") == value


def test_every_built_in_mode_follows_the_rule():
    assert all(check_name("mode", m.id) == m.id for m in BUILTIN_MODES)


def test_a_mode_with_a_path_as_adapter_is_refused():
    with pytest.raises(ModeError, match="adapter"):
        from ragtune.modes import mode_from_form

        mode_from_form({"id": "mine", "label": "Mine", "adapter": "../../etc/x"})
    with pytest.raises(ValueError):
        Mode(id="../x", label="X")


def test_limits_follow_each_kind():
    check_name("adapter", "a" * 64)
    with pytest.raises(InputError):
        check_name("adapter", "a" * 65)
    with pytest.raises(InputError):
        check_name("mode", "Upper")  # mode ids are lower-case (they appear in URLs)
    with pytest.raises(InputError):
        check_name("workspace", "ends-")  # workspace names end with a letter or digit


def test_inside_refuses_a_path_that_leaves_its_folder(tmp_path: Path):
    assert inside(tmp_path, tmp_path / "a.gguf") == (tmp_path / "a.gguf").resolve()
    with pytest.raises(InputError, match="outside"):
        inside(tmp_path / "adapters", tmp_path / "adapters" / ".." / "x.gguf")
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "link.gguf").symlink_to(tmp_path / "elsewhere.gguf")
    with pytest.raises(InputError, match="outside"):
        inside(tmp_path / "adapters", tmp_path / "adapters" / "link.gguf")


def test_training_jobs_refuse_an_id_that_is_a_path(tmp_path, monkeypatch):
    from ragtune.config import load_settings
    from ragtune.training.jobs import TrainingJobs

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    jobs = TrainingJobs(load_settings())
    for job_id in ("../../victim", str(victim), ".."):
        with pytest.raises(InputError):
            jobs.forget(job_id)
        with pytest.raises(InputError):
            jobs.cancel(job_id)
    assert (victim / "keep.txt").read_text() == "keep"
