"""Every CLI option is checked before anything loads: exit 2, one error line naming the option and the rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from ragtune.cli import main
from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError


@pytest.fixture()
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model or opening the knowledge base fails the test: validation must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded although the options were invalid")

    import ragtune.retrieval.knowledge
    import ragtune.runtime

    monkeypatch.setattr(ragtune.runtime, "load_runtime", refuse)
    monkeypatch.setattr(ragtune.retrieval.knowledge.KnowledgeBase, "from_settings", classmethod(refuse))


BAD_OPTIONS = [
    (["ask", "hi", "--max-tokens", "-5"], "--max-tokens"),
    (["ask", "hi", "--max-tokens", "0"], "--max-tokens"),
    (["ask", "hi", "--max-tokens", "10000000"], "--max-tokens"),
    (["ask", "hi", "--max-tokens", "many"], "--max-tokens"),
    (["ask", "hi", "--adapter", "x", "--scale", "9"], "--scale"),
    (["ask", "hi", "--adapter", "x", "--scale", "nan"], "--scale"),
    (["ask", "hi", "--adapter", "x", "--scale", "inf"], "--scale"),
    (["search", "q", "-k", "0"], "-k"),
    (["search", "q", "-k", "1000"], "-k"),
    (["search-bench", "--texts", "-1"], "--texts"),
    (["eval", "--limit", "0"], "--limit"),
    (["eval", "--limit", "-3"], "--limit"),
    (["report", "--limit", "0"], "--limit"),
    (["bench", "--repeats", "0"], "--repeats"),
    (["bench", "--repeats", "1000"], "--repeats"),
    (["train", "--data", "x.jsonl", "--name", "n", "--rank", "0"], "--rank"),
    (["train", "--data", "x.jsonl", "--name", "n", "--rank", "100000"], "--rank"),
    (["train", "--data", "x.jsonl", "--name", "n", "--alpha", "0"], "--alpha"),
    (["train", "--data", "x.jsonl", "--name", "n", "--alpha", "nan"], "--alpha"),
    (["train", "--data", "x.jsonl", "--name", "n", "--dropout", "1"], "--dropout"),
    (["train", "--data", "x.jsonl", "--name", "n", "--epochs", "0"], "--epochs"),
    (["train", "--data", "x.jsonl", "--name", "n", "--steps", "0"], "--steps"),
    (["train", "--data", "x.jsonl", "--name", "n", "--lr", "-1"], "--lr"),
    (["train", "--data", "x.jsonl", "--name", "n", "--lr", "inf"], "--lr"),
    (["train", "--data", "x.jsonl", "--name", "n", "--batch", "0"], "--batch"),
    (["train", "--data", "x.jsonl", "--name", "n", "--max-length", "1"], "--max-length"),
    (["train", "--data", "x.jsonl", "--name", "n", "--seed", "-1"], "--seed"),
    (["train", "--data", "x.jsonl", "--name", "n", "--threads", "0"], "--threads"),
    (["adapters", "measure", "--rounds", "0"], "--rounds"),
]


@pytest.mark.parametrize(("argv", "option"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_number_exits_2_naming_the_option_before_anything_loads(argv, option, nothing_loads, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"argument {option}" in errors[0] and "must be" in errors[0]
    assert out == "" and "Traceback" not in err


def test_the_bounds_of_an_option_are_its_models_bounds(capsys):
    with pytest.raises(SystemExit):
        main(["ask", "hi", "--max-tokens", "8193"])
    assert "from 1 to 8192" in capsys.readouterr().err
    assert main(["ask", "   ", "--max-tokens", "8192"]) == 2  # 8192 passes the option check


REFUSED_BEFORE_LOADING = [
    (["ask", "hi", "--scale", "0.5"], "--adapter"),
    (["ask", "   "], "empty"),
    (["lab", "   "], "empty"),
    (["lab", "hi", "--modes", "nope,nada"], "No known mode"),
    (["lab", "hi", "--modes", ""], "No known mode"),
    (["train", "--data", "x.jsonl", "--name", "../../../x"], "adapter name"),
    (["train", "--data", "x.jsonl", "--name", ".hidden"], "adapter name"),
    (["train", "--data", "x.jsonl", "--name", "a/b"], "adapter name"),
    (["train", "--data", "x.jsonl", "--name", "n", "--targets", "q,nope"], "target_modules"),
    (["models", "add", "/nonexistent.gguf", "--id", "../x"], "model id"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED_BEFORE_LOADING,
                         ids=[" ".join(a) for a, _ in REFUSED_BEFORE_LOADING])
def test_a_refused_input_is_one_error_line_and_exit_2(argv, message, nothing_loads, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_train_with_a_path_as_name_writes_nothing_outside(tmp_path, data_dir, capsys):
    escaped = data_dir.parent / "escaped"
    assert main(["train", "--data", str(tmp_path / "x.jsonl"), "--name", f"../../{escaped.name}"]) == 2
    assert not escaped.exists() and not list(data_dir.parent.glob("escaped*"))


def test_lab_with_an_unknown_workspace_fails_before_the_model_loads(monkeypatch, capsys):
    import ragtune.runtime

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded for a workspace that does not exist")

    monkeypatch.setattr(ragtune.runtime, "load_runtime", refuse)
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    assert main(["lab", "hi", "--modes", "rag", "--workspace", "nowhere"]) == 2
    out, err = capsys.readouterr()
    assert "nowhere" in err and err.startswith("error: ") and out == ""


@pytest.mark.parametrize("command", [["eval"], ["bench"]])
def test_an_unwritable_out_file_is_refused_before_the_run(command, tmp_path, nothing_loads, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as exited:
        main([*command, "--out", str(blocker / "results.csv")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --out" in err and "is a file, not a folder" in err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_out_folder_that_cannot_be_created_is_refused_even_for_root(nothing_loads, capsys):
    with pytest.raises(SystemExit) as exited:  # /proc lets root pass every permission check, then refuses
        main(["eval", "--out", "/proc/nowhere/results.csv"])
    assert exited.value.code == 2 and "cannot create /proc/nowhere/results.csv" in capsys.readouterr().err


def test_an_out_path_that_is_a_directory_is_refused(tmp_path, nothing_loads, capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--out", str(tmp_path)])
    assert "is a directory" in capsys.readouterr().err


# -- settings: every command reports an invalid data directory ---------------------------------


def _bad_data_dirs(tmp_path: Path) -> dict[str, str]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return {"a file": str(a_file), "under a file": str(a_file / "data"), "empty": ""}


@pytest.mark.parametrize("kind", ["a file", "under a file", "empty"])
@pytest.mark.parametrize("argv", [["ask", "hi"], ["models"], ["search", "q"], ["workspaces"], ["lab", "hi"],
                                  ["eval"], ["train", "--data", "x", "--name", "n"]])
def test_every_command_reports_an_invalid_data_directory(argv, kind, tmp_path, monkeypatch, nothing_loads, capsys):
    monkeypatch.setenv("RAGTUNE_DATA_DIR", _bad_data_dirs(tmp_path)[kind])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "RAGTUNE_DATA_DIR" in err and "Traceback" not in err


def test_an_invalid_setting_stops_every_command_with_its_variable(monkeypatch, nothing_loads, capsys):
    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "0")
    assert main(["ask", "hi"]) == 2
    err = capsys.readouterr().err
    assert "RAGTUNE_MAX_TOKENS" in err and "greater than or equal to 1" in err and "(got '0')" in err


# -- the one translation point and unexpected errors --------------------------------------------


class _Opts(BaseModel):
    k: int = Field(ge=1)
    name: str = Field(max_length=5)


def test_from_validation_names_each_field_and_rule_and_cuts_the_input():
    try:
        _Opts(k=0, name="x" * 10_000)
    except Exception as exc:
        err = InputError.from_validation(exc, what="Invalid options")
    message = str(err)
    assert message.startswith("Invalid options: k: ") and "greater than or equal to 1 (got 0)" in message
    assert "name: String should have at most 5 characters" in message
    assert len(message) < 300 and "https://errors.pydantic.dev" not in message


def test_an_escaped_validation_error_is_translated_not_dumped(monkeypatch, capsys):
    from ragtune import cli

    args = cli.build_parser().parse_args(["models"])
    args.handler = lambda _a: _Opts(k=-1, name="ok")
    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    assert cli.main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Invalid input: k: ") and "validation error" not in err


@pytest.mark.parametrize(("raised", "code", "expected"), [
    (ZeroDivisionError("boom"), 1, "internal error (ZeroDivisionError: boom); please report it"),
    (PermissionError(13, "Permission denied", "/some/where.csv"), 2, "/some/where.csv: Permission denied"),
    (IsADirectoryError(21, "Is a directory", "/some/dir"), 2, "/some/dir: Is a directory"),
])
def test_unexpected_errors_are_one_line_without_a_traceback(raised, code, expected, monkeypatch, capsys):
    from ragtune import cli

    args = cli.build_parser().parse_args(["models"])

    def fail(_args: object) -> int:
        raise raised

    args.handler = fail
    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    monkeypatch.delenv("RAGTUNE_DEBUG", raising=False)
    assert cli.main(["models"]) == code
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_ragtune_debug_shows_the_traceback(monkeypatch):
    from ragtune import cli

    args = cli.build_parser().parse_args(["models"])
    args.handler = lambda _a: 1 / 0
    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    monkeypatch.setenv("RAGTUNE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["models"])


# -- through a real process: the model file is never read -----------------------------------------


@pytest.mark.parametrize("argv", [
    ["ask", "hi", "--max-tokens", "-5"],
    ["ask", "hi", "--scale", "nan", "--adapter", "x"],
    ["ask", "hi", "--scale", "0.5"],
    ["lab", "hi", "--modes", "nope"],
])
def test_in_a_process_a_bad_option_never_touches_the_model_file(argv, tmp_path):
    # An empty file as the model: loading it (even reading its header) would fail naming it.
    model = tmp_path / "model.gguf"
    model.write_bytes(b"")
    env = {"RAGTUNE_DATA_DIR": str(tmp_path / "data"), "RAGTUNE_MODEL_PATH": str(model), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "ragtune", *argv], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "GGUF" not in done.stderr and "model.gguf" not in done.stderr
    assert done.stdout == ""


def test_doctor_runs_even_when_a_setting_is_invalid(tmp_path):
    env = {"RAGTUNE_DATA_DIR": str(tmp_path), "RAGTUNE_N_CTX": "many", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "ragtune", "doctor", "--json"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    checks = json.loads(done.stdout)
    assert checks[0]["status"] == "FAIL" and "RAGTUNE_N_CTX" in checks[0]["detail"]
