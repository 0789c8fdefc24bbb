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
