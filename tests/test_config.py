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


# -- Team server: the model server -------------------------------------------------------------


def test_the_server_runtime_needs_a_server_url(monkeypatch):
    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    with pytest.raises(ConfigError, match="RAGTUNE_SERVER_URL: required when RAGTUNE_RUNTIME=server"):
        load_settings()


@pytest.mark.parametrize(("url", "rule"), [
    ("ftp://host:21", "http:// or https://"), ("http://", "must name a host"),
    ("http://host:99999", "not a valid URL"), ("http://host:8080/?x=1", "query"),
    ("http://user:hunter2@host:8080", "must not hold credentials"),
])
def test_an_unusable_server_url_is_refused_without_repeating_it(monkeypatch, url, rule):
    monkeypatch.setenv("RAGTUNE_SERVER_URL", url)
    with pytest.raises(ConfigError, match=rule) as refused:
        load_settings()
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("url", "normalized"), [
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"), ("https://llm.example.org/v1", "https://llm.example.org"),
    ("http://gateway:8000/team/llama/v1/", "http://gateway:8000/team/llama"),
])
def test_a_server_url_is_kept_without_trailing_slash_or_v1(monkeypatch, url, normalized):
    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    monkeypatch.setenv("RAGTUNE_SERVER_URL", url)
    assert load_settings().server_url == normalized


def test_an_api_key_with_spaces_is_refused_without_showing_it(monkeypatch):
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", "my secret key")
    with pytest.raises(ConfigError, match="RAGTUNE_SERVER_API_KEY: must not contain spaces") as refused:
        load_settings()
    assert "secret" not in str(refused.value)
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", "")
    assert load_settings().server_api_key is None


@pytest.mark.parametrize(("variable", "value"), [
    ("RAGTUNE_RUNTIME", "remote"), ("RAGTUNE_SERVER_DIALECT", "vllm"), ("RAGTUNE_SERVER_TIMEOUT_S", "0"),
    ("RAGTUNE_SERVER_PARALLEL", "0"), ("RAGTUNE_SERVER_PARALLEL", "many"),
])
def test_an_invalid_server_setting_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
