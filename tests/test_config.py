"""Settings: RAGTUNE_* variables, validated, one data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.errors import ConfigError


def test_the_data_directory_comes_from_the_environment(data_dir: Path):
    assert load_settings().data_dir == data_dir.resolve()


def test_the_data_directory_is_created_with_a_gitignore(tmp_path: Path, monkeypatch):
    target = tmp_path / "nested" / "data"
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(target))
    load_settings().ensure_data_dir()
    assert (target / ".gitignore").read_text().strip().endswith("*")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RAGTUNE_N_CTX", "lots"), ("RAGTUNE_N_CTX", "10"), ("RAGTUNE_TEMPERATURE", "-1"),
     ("RAGTUNE_MAX_UPLOAD_MB", "0"), ("RAGTUNE_VERIFY_SHA256", "sometimes")],
)
def test_an_invalid_setting_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_a_model_path_that_does_not_exist_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="RAGTUNE_MODEL_PATH"):
        load_settings()


def test_a_data_directory_under_a_file_is_a_config_error(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(blocker / "data"))
    with pytest.raises(ConfigError, match="RAGTUNE_DATA_DIR"):
        load_settings().ensure_data_dir()


def test_an_empty_data_directory_is_refused_not_read_as_the_current_one(monkeypatch):
    monkeypatch.setenv("RAGTUNE_DATA_DIR", "  ")
    with pytest.raises(ConfigError, match="RAGTUNE_DATA_DIR: must not be empty"):
        load_settings()


def test_a_data_directory_that_is_a_file_is_a_config_error(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(blocker))
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        load_settings().ensure_data_dir()


def test_a_setting_error_is_one_short_line_without_pydantic_text(monkeypatch):
    monkeypatch.setenv("RAGTUNE_SEED", "9" * 5000)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "RAGTUNE_SEED" in message and len(message) < 300 and "errors.pydantic.dev" not in message
