"""``make serve-model`` / ``python -m ragtune serve-model``: the llama-server command, built without a server.

The live server of tests/servers.py is started from the same plan, so these check the command's
parts and its validation; the server tests check that it serves.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.errors import ConfigError
from ragtune.gguf.sha import sha256_of
from ragtune.serving import plan_server, stage_adapters
from tests.factories import write_lora


@pytest.fixture()
def fake_binary(tmp_path: Path) -> Path:
    """An executable file standing in for llama-server (nothing here runs it)."""
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


@pytest.fixture()
def served_settings(tiny_env, data_dir, random_lora, second_lora, tmp_path, monkeypatch):
    """The tiny model with three user adapters, one of which does not fit it."""
    adapters = data_dir / "adapters"
    adapters.mkdir()
    shutil.copyfile(second_lora, adapters / "b-second.gguf")
    shutil.copyfile(random_lora, adapters / "a-random.gguf")
    write_lora(adapters / "c-other.gguf", architecture="qwen2")
    monkeypatch.setenv("RAGTUNE_N_CTX", "1024")
    monkeypatch.setenv("RAGTUNE_SERVER_PARALLEL", "3")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "2")
    return load_settings()


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def test_the_command_serves_the_model_with_every_fitting_adapter_in_order(served_settings, fake_binary):
    plan = plan_server(served_settings, port=9123, binary=fake_binary)
    argv = plan.argv
    assert argv[0] == str(fake_binary.resolve()) and value(argv, "--model") == str(plan.model_path)
    assert value(argv, "--alias") == plan.model_id and value(argv, "--port") == "9123"
    assert value(argv, "--parallel") == "3" and value(argv, "--ctx-size") == str(1024 * 3)
    assert value(argv, "--threads") == "2" and "--metrics" in argv and "--lora-init-without-apply" in argv
    assert [a.name for a in plan.adapters] == ["a-random", "b-second"]
    assert [name for name, _ in plan.skipped] == ["c-other"]
    served = value(argv, "--lora").split(",")
    assert served == [str(a.served_path) for a in plan.adapters]
    first = plan.adapters[0]
    assert Path(served[0]).name == f"a-random@{sha256_of(first.source)[:16]}.gguf"


def test_the_api_key_goes_in_the_environment_not_on_the_command_line(served_settings, fake_binary, monkeypatch):
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", "s3cret-key")
    plan = plan_server(load_settings(), binary=fake_binary)
    assert plan.env["LLAMA_API_KEY"] == "s3cret-key"
    assert "s3cret-key" not in " ".join(plan.argv) and "s3cret-key" not in plan.command_line()
    assert "LLAMA_API_KEY=<RAGTUNE_SERVER_API_KEY>" in plan.command_line()


def test_a_key_llama_server_would_split_is_refused(served_settings, fake_binary, monkeypatch):
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", "one,two")
    with pytest.raises(ConfigError, match="comma-separated"):
        plan_server(load_settings(), binary=fake_binary)


def test_staging_links_each_adapter_under_its_checksummed_name(served_settings, fake_binary):
    plan = plan_server(served_settings, binary=fake_binary)
    stale = plan.adapters[0].served_path.parent / "gone@0000000000000000.gguf"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    stage_adapters(plan)
    for adapter in plan.adapters:
        assert adapter.served_path.read_bytes() == adapter.source.read_bytes()
    assert not stale.exists()


def test_a_model_without_adapters_is_served_without_lora_options(tiny_env, fake_binary):
    plan = plan_server(load_settings(), binary=fake_binary)
    assert plan.adapters == [] and "--lora" not in plan.argv and "--lora-init-without-apply" not in plan.argv


def test_print_shows_the_command_and_warns_about_adapters_left_out(served_settings, fake_binary, capsys):
    assert main(["serve-model", "--print", "--binary", str(fake_binary), "--port", "9000"]) == 0
    out, err = capsys.readouterr()
    assert "--port 9000" in out and str(fake_binary.resolve()) in out and "LD_LIBRARY_PATH=" in out
    assert "warning: adapter 'c-other' left out" in err


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_port_out_of_range_exits_2_before_anything_loads(port, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve-model", "--print", "--port", port])
    assert exited.value.code == 2
    assert "--port: must be an integer from 1 to 65535" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--host", "bad host"], "SERVER_HOST must be a host name"),
    (["--binary", "/nonexistent/llama-server"], "run `make llama-server`"),
])
def test_invalid_serve_options_exit_2_with_the_reason(tiny_env, fake_binary, argv, message, capsys):
    if "--binary" not in argv:
        argv = [*argv, "--binary", str(fake_binary)]
    assert main(["serve-model", "--print", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_binary_that_is_not_executable_is_refused(tiny_env, fake_binary, capsys):
    os.chmod(fake_binary, 0o644)
    assert main(["serve-model", "--print", "--binary", str(fake_binary)]) == 2
    assert "is not executable" in capsys.readouterr().err


def test_the_build_script_and_the_app_agree_on_where_the_binary_is(monkeypatch, tmp_path):
    from ragtune.serving import default_binary

    monkeypatch.setenv("RAGTUNE_SERVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LLAMA_CMAKE_ARGS", "-DGGML_NATIVE=OFF")
    first = default_binary()
    assert first.parent.parent == tmp_path / "cache" and first.name == "llama-server"
    monkeypatch.setenv("LLAMA_CMAKE_ARGS", "-DGGML_NATIVE=OFF -DGGML_AVX2=ON")
    assert default_binary() != first  # other flags: another build, never a silent reuse
