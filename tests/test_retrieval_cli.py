"""``python -m ragtune ingest / search / workspaces`` on a real knowledge base."""

from __future__ import annotations

import json

import pytest

from ragtune.cli import main
from tests.retrieval_fixtures import embedding_function  # noqa: F401


@pytest.fixture(autouse=True)
def no_demo(monkeypatch, embedding_function):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")


def test_ingest_reports_each_file_and_fails_after_ingesting_the_rest(tmp_path, capsys):
    (tmp_path / "guide.md").write_text("# Guide\n\nThe gate code is 4471.")
    (tmp_path / "empty.txt").write_text("")
    assert main(["ingest", "--workspace", "ops", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "created workspace ops" in out and "guide.md: added guide v1 (1 chunks)" in out
    assert "empty.txt: FAILED: empty.txt: the file is empty." in err
    assert "1 of 2 files ingested into ops; 1 failed" in out


def test_search_prints_ranked_citations_and_json(tmp_path, capsys):
    (tmp_path / "guide.md").write_text("# Guide\n\nThe gate code is 4471.")
    assert main(["ingest", "-w", "ops", str(tmp_path / "guide.md")]) == 0
    capsys.readouterr()
    assert main(["search", "-w", "ops", "gate code", "--mode", "keyword", "-k", "1"]) == 0
    assert "[1] guide#0  score" in capsys.readouterr().out
    assert main(["search", "-w", "ops", "gate code", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "hybrid" and result["hits"][0]["chunk"]["text"].endswith("4471.")


def test_workspaces_lists_counts_and_destructive_actions_need_yes(tmp_path, capsys):
    (tmp_path / "a.md").write_text("Alpha.")
    main(["ingest", "-w", "ops", str(tmp_path)])
    capsys.readouterr()
    assert main(["workspaces", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "ops", "n_documents": 1, "n_chunks": 1}]
    assert main(["workspaces", "delete", "ops"]) == 2
    assert main(["workspaces", "rename", "ops", "ops2"]) == 0
    assert main(["workspaces", "delete", "ops2", "--yes"]) == 0
    assert main(["search", "-w", "ops2", "alpha"]) == 2
    assert "No workspace named 'ops2'" in capsys.readouterr().err


def test_the_summary_names_every_failed_path_with_its_reason(tmp_path, capsys):
    (tmp_path / "guide.md").write_text("# Guide\n\nThe gate code is 4471.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "empty.txt").write_text("")
    missing = tmp_path / "missing.md"
    assert main(["ingest", "-w", "ops", str(tmp_path), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert "1 of 3 files ingested into ops; 2 failed:" in out
    summary = err.split("\n")[-3:]
    assert f"  {missing}: {missing}: no such file or folder." in summary
    assert "  sub/empty.txt: empty.txt: the file is empty." in summary


def test_workspace_creation_by_ingest_is_idempotent_and_reserved_names_are_refused(tmp_path, capsys):
    (tmp_path / "a.md").write_text("Alpha.")
    assert main(["ingest", "-w", "ops", str(tmp_path)]) == 0
    assert main(["ingest", "-w", "ops", str(tmp_path)]) == 0
    out, _ = capsys.readouterr()
    assert out.count("created workspace ops") == 1 and "unchanged a v1" in out
    assert main(["ingest", "-w", "demo-eval-v1", str(tmp_path)]) == 2
    assert "reserved for the claims report" in capsys.readouterr().err


def test_restore_demo_brings_back_a_deleted_demo_workspace(monkeypatch, capsys):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "demo")
    assert main(["workspaces", "delete", "demo", "--yes"]) == 0
    capsys.readouterr()
    assert main(["workspaces", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["workspaces", "restore-demo"]) == 0
    assert "restored workspace demo: 25 documents" in capsys.readouterr().out
    assert main(["workspaces", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_documents"] == 25
    assert main(["workspaces", "restore-demo"]) == 2
    assert "nothing to restore" in capsys.readouterr().err
