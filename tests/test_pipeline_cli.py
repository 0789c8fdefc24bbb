"""``python -m ragtune lab``: the same comparison as the page, printed and logged."""

from __future__ import annotations

import json

import pytest

from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.store import QueryLog


@pytest.fixture()
def env(team_workspace):
    team_workspace(max_tokens=12, docs=[("warranty.md", b"# Warranty\n\nTwo years on parts.\n")])


def test_json_output_has_one_object_per_mode_and_every_answer_is_logged(env, capsys):
    assert main(["lab", "How long is the warranty?", "--workspace", "team", "--modes", "base,rag,lora",
                 "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mode"] for r in records] == ["base", "rag", "lora"]
    base, rag, lora = records
    assert base["retrieved"] == [] and rag["retrieved"] == ["warranty#0"]
    assert rag["parse"]["status"] in {"truncated", "invalid_json"} and rag["parse"]["format_valid"] is False
    assert rag["timings"]["retrieval_ms"] > 0 and rag["cost"]["local_compute_usd"] > 0
    assert "grounded-json" in lora["error"]
    entries = QueryLog(load_settings().query_log_file).entries()
    assert [(e.mode_id, e.source) for e in entries] == [("base", "cli"), ("rag", "cli")]


def test_text_output_names_each_mode_and_unknown_modes_are_warned_about(env, capsys):
    assert main(["lab", "How long is the warranty?", "--workspace", "team", "--modes", "rag,nope",
                 "--no-log"]) == 0
    out, err = capsys.readouterr()
    assert "== rag" in out and "format: " in out and "cost: local $" in out
    assert "unknown modes: nope" in err
    assert QueryLog(load_settings().query_log_file).count() == 0
