"""``python -m ragtune doctor``: one line per check, the fix for each problem, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.doctor import run_doctor
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.store import QueryLog
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture


@pytest.fixture()
def healthy(data_dir: Path, embedding_function) -> Path:  # noqa: F811
    """A data directory with a workspace, a query log and an evaluation store."""
    from ragtune.evaluation.store import EvalStore

    settings = load_settings()
    kb = KnowledgeBase.from_settings(settings, embedding_function)
    kb.create_workspace("team")
    assert kb.ingest_bytes("team", [("warranty.md", b"# Warranty\n\nTwo years on parts.\n")]).ok
    kb.manifest.close()
    QueryLog(settings.query_log_file)
    EvalStore.from_settings(settings)
    return data_dir


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_healthy_data_directory_passes_with_one_line_per_check(healthy, capsys):
    assert main(["doctor"]) == 0
    lines = _lines(capsys)
    assert not [line for line in lines if line.startswith("FAIL")]
    for expected in ("knowledge.sqlite3", "queries.sqlite3", "evaluations.sqlite3", "chroma.sqlite3",
                     "workspace team: 1 chunks", "(default)", "grounded-json"):
        assert any(expected in line and line.startswith("OK") for line in lines), expected
    assert ": 0 failed, " in lines[-1]


def test_json_output_lists_every_check(healthy, capsys):
    assert main(["doctor", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert {c["area"] for c in checks} == {"settings", "data", "stores", "models", "adapters", "runtime"}
    assert all(set(c) == {"area", "name", "status", "detail", "fix"} for c in checks)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database " * 200)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: max(len(data) // 3, 200)])


@pytest.mark.parametrize(("relative", "damage"), [
    ("knowledge.sqlite3", _garbage),
    ("knowledge.sqlite3", _truncate),
    ("queries.sqlite3", _garbage),
    ("evaluations.sqlite3", _garbage),
    ("chroma/chroma.sqlite3", _garbage),
    ("chroma/chroma.sqlite3", _truncate),
])
def test_a_corrupt_store_is_a_fail_line_naming_the_file_and_the_fix(healthy, relative, damage, capsys):
    target = healthy / relative
    for sidecar in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    damage(target)
    before = target.read_bytes()
    assert main(["doctor"]) == 2
    out, err = capsys.readouterr()
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and str(target) in failed[0] and "Fix: " in failed[0] and "mv " in failed[0]
    assert "Traceback" not in out + err
    assert target.read_bytes() == before  # doctor changes nothing


def test_a_damaged_vector_index_is_a_fail_line_naming_its_folder(healthy, capsys):
    import os

    folders = [p for p in (healthy / "chroma").iterdir() if p.is_dir() and any(p.iterdir())]
    assert folders, "no persisted vector index to damage"
    for file in folders[0].iterdir():
        file.write_bytes(os.urandom(64) + b"\xff" * 512)
    assert main(["doctor"]) == 2  # the index is read in a child process: even an abort is reported
    failed = [line for line in _lines(capsys) if line.startswith("FAIL")]
    assert len(failed) == 1 and "workspace team" in failed[0] and str(folders[0]) in failed[0]


def test_a_broken_user_adapter_fails_by_name(healthy, capsys):
    settings = load_settings()
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    (settings.adapters_dir / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    assert main(["doctor"]) == 2
    failed = [line for line in _lines(capsys) if line.startswith("FAIL")]
    assert len(failed) == 1 and "adapters: broken" in failed[0] and "rm " in failed[0]


def test_a_data_directory_that_is_a_file_fails_and_the_other_checks_still_run(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(blocker))
    report = run_doctor()
    data = [c for c in report.checks if c.area == "data"]
    assert data[0].status == "FAIL" and "is a file" in data[0].detail and "RAGTUNE_DATA_DIR" in data[0].fix
    assert any(c.area == "models" for c in report.checks) and not report.ok


def test_an_invalid_setting_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.setenv("RAGTUNE_TOP_K", "0")
    assert main(["doctor"]) == 2
    line = _lines(capsys)[0]
    assert line.startswith("FAIL settings") and "RAGTUNE_TOP_K" in line


def test_doctor_creates_nothing(tmp_path, monkeypatch):
    missing = tmp_path / "not-yet"
    monkeypatch.setenv("RAGTUNE_DATA_DIR", str(missing))
    report = run_doctor()
    assert report.ok and not missing.exists()


def test_the_chunk_settings_check_reads_a_copy_of_the_manifest_never_the_file(healthy, capsys):
    """Opening a manifest can write to it (WAL mode, schema, migration); doctor's stale-chunking
    check opens a copy, so an empty manifest file stays empty and no WAL file appears."""
    target = healthy / "knowledge.sqlite3"
    for sidecar in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    target.write_bytes(b"")
    main(["doctor"])
    assert "Traceback" not in "".join(capsys.readouterr())
    assert target.read_bytes() == b""
    assert not target.with_name(target.name + "-wal").exists()


def test_doctor_reports_the_in_process_runtime(data_dir, capsys):
    run = run_doctor()
    [line] = [c for c in run.checks if c.area == "runtime"]
    assert line.status == "OK" and "inprocess" in line.detail


def test_doctor_reports_a_healthy_model_server_and_its_model(llama_server, tiny_env, monkeypatch):
    from tests.servers import API_KEY

    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    monkeypatch.setenv("RAGTUNE_SERVER_URL", llama_server.url)
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", API_KEY)
    lines = [c for c in run_doctor().checks if c.area == "runtime"]
    assert lines[0].status == "OK" and "healthy" in lines[0].detail and "tiny.gguf" in lines[0].detail
    assert all(c.status != "FAIL" for c in lines)


def test_doctor_fails_on_a_model_server_that_is_down(tiny_env, monkeypatch, capsys):
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    monkeypatch.setenv("RAGTUNE_SERVER_URL", url)
    assert main(["doctor"]) == 2
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("FAIL runtime")]
    assert url in line and "make serve-model" in line


def test_doctor_checks_the_source_of_a_default_model_not_made_yet_and_makes_nothing(data_dir, capsys):
    for made in (data_dir / "models").glob("*.gguf"):
        made.unlink()  # the session's copy (tests/conftest.py): as on a fresh installation
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "Not made yet: it is re-quantized from 'smollm2-135m-instruct-q4_1'" in out
    assert "Its source 'smollm2-135m-instruct-q4_1': llama, Q4_1, header and checksum verified." in out
    assert not list((data_dir / "models").glob("*.gguf"))
