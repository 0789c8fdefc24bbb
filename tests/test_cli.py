"""``python -m ragtune``: the models and ask commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ragtune.cli import main
from ragtune.config import PROJECT_ROOT


def test_models_lists_the_default_model_as_ready(capsys):
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    default = next(m for m in listing["models"] if m["default"])
    assert default["id"] == "smollm2-135m-instruct-q8_0" and default["available"]


def test_ask_json_prints_text_adapter_and_every_timing(tiny_env, random_lora, capsys):
    assert main(["ask", "Hello?", "--adapter", str(random_lora), "--max-tokens", "6", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["text"]
    assert answer["adapter"][0]["path"] == str(random_lora)
    assert set(answer["timings"]) >= {
        "queue_wait_ms", "prompt_tokens", "cached_prompt_tokens", "prompt_eval_ms", "ttft_ms",
        "generation_ms", "completion_tokens", "tokens_per_s", "total_ms",
    }
    assert answer["timings"]["completion_tokens"] == 6


def test_ask_with_a_bad_adapter_fails_with_a_message_on_stderr(tiny_env, tmp_path, capsys):
    bad = tmp_path / "bad.gguf"
    bad.write_text("text")
    assert main(["ask", "Hello?", "--adapter", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "not a GGUF file" in captured.err and captured.out == ""


def test_the_module_runs_as_a_program_and_reports_bad_settings(tmp_path: Path):
    env = {"RAGTUNE_DATA_DIR": str(tmp_path), "RAGTUNE_N_CTX": "many", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "ragtune", "models"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "RAGTUNE_N_CTX" in done.stderr and "Traceback" not in done.stderr


def looping_env(monkeypatch, looping_model: Path) -> None:
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(looping_model))
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")


def test_ask_says_when_a_loop_was_stopped(looping_model, monkeypatch, capsys):
    looping_env(monkeypatch, looping_model)
    assert main(["ask", "How much does the Poolpilot P1 cost?"]) == 0
    captured = capsys.readouterr()
    assert "· stopped: repetition" in captured.err and captured.out.strip()
    assert main(["ask", "How much does the Poolpilot P1 cost?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["finish_reason"] == "repetition"


def test_lab_prints_stopped_repetition_under_the_answer_and_logs_it(looping_model, monkeypatch, capsys, data_dir):
    from ragtune.config import load_settings
    from ragtune.store import LogFilter, QueryLog

    looping_env(monkeypatch, looping_model)
    assert main(["lab", "How much does the Poolpilot P1 cost?", "--modes", "base"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== base" and lines[2] == "   stopped: repetition"
    assert lines[3] == "   format: asked for JSON · stopped: repetition (the output repeated itself and was " \
        "stopped before it was one complete JSON object)"
    entry = QueryLog(load_settings().query_log_file).entries(LogFilter())[-1]
    assert (entry.finish_reason, entry.parse_status) == ("repetition", "repetition")
    assert main(["lab", "How much does the Poolpilot P1 cost?", "--modes", "base", "--json", "--no-log"]) == 0
    assert json.loads(capsys.readouterr().out)["finish_reason"] == "repetition"


def test_lab_applies_the_pages_plan_a_changed_fact_question_adds_the_knowledge_lora(team_workspace, capsys):
    from ragtune.evaluation.sets import demo_eval_set

    team_workspace(max_tokens=8)
    changed = next(c for c in demo_eval_set().cases if c.id == "c03")
    assert main(["lab", changed.question, "--workspace", "team", "--modes", "base", "--no-log"]) == 0
    captured = capsys.readouterr()
    assert [line for line in captured.out.splitlines() if line.startswith("== ")] == ["== base", "== knowledge-lora"]
    assert "note: This fact changed in version 2" in captured.err
    # the tiny test model has no knowledge adapter: the added column says so, the run still succeeds
    assert "error: mode knowledge-lora" in captured.err and "knowledge-baked" in captured.err
