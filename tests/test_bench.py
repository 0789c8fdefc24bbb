"""The performance benchmark runs end to end in quick mode (figures printed, no timing asserts)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ragtune.bench import BenchConfig, run_bench, synthetic_documents, to_markdown
from ragtune.cli import main
from ragtune.config import load_settings


def test_synthetic_documents_are_deterministic_and_sized():
    docs = synthetic_documents(25)
    assert len(docs) == 3 and docs == synthetic_documents(25)
    assert sum(text.count(b"## Section") for _, text in docs) == 25


def test_quick_bench_measures_every_section_on_the_tiny_model(tiny_model, random_lora):
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    # The few-shot prompt of the token-tax section needs more context than tiny_runtime has.
    runtime = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048)
    # The demo section loads a registry model in a process of its own: tests/test_bench_demo.py runs it.
    config = BenchConfig.quick_config(adapter=random_lora, corpus_sizes=[30], search_queries=3, repeats=1, warmup=0,
                                      sections=["runtime", "adapter", "switch", "rag", "tax", "retrieval"])
    try:
        report = run_bench(load_settings(), runtime, config)
    finally:
        runtime.close()
    sections = {f.section for f in report.figures}
    assert {"runtime", "adapter", "switch", "rag", "tax", "retrieval"} <= sections
    assert all(math.isfinite(f.value) and f.value >= 0 for f in report.figures)
    ratio = report.figure("runtime", "ragtune / raw")
    ours = report.figure("runtime", "ragtune runtime, wall time").value
    raw = report.figure("runtime", "raw llama-cpp-python, wall time").value
    assert math.isclose(ratio.value, ours / raw)
    table = to_markdown(report)
    assert "| runtime | ragtune / raw |" in table and report.machine["cores"]


def test_the_bench_command_prints_a_table_and_writes_json(tiny_env, tmp_path: Path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--repeats", "1", "--only", "runtime,switch", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "| section | measure | value | unit | target |" in captured.out
    # The shipped grounded-json adapter is for the default model, not the tiny one: skipped, said.
    assert "adapter figures are skipped" in captured.err
    report = json.loads(out.read_text())
    assert report["model_id"] == "local:tiny" and report["figures"]


def test_an_unknown_bench_section_is_a_clear_error(tiny_env, capsys):
    assert main(["bench", "--quick", "--only", "runtime,speed"]) == 2
    assert "Invalid bench options" in capsys.readouterr().err


def test_the_engine_section_measures_each_lever_against_the_release(data_dir, monkeypatch):
    """On the real model files (the shipped Q4_1, re-quantized to Q8_0 here): each variant's figures, with
    its ratio to the release's settings (the first variant)."""
    import ragtune.bench_engine as engine

    every = engine.variants("smollm2-135m-instruct-q8_0")
    assert every[0].model_id == "smollm2-135m-instruct-q4_1" and not every[0].options  # the release
    assert [v.label for v in every if v.default] == ["Q8_0, flash attention on"]
    keep = [every[0], next(v for v in every if v.default), next(v for v in every if v.adapter)]
    monkeypatch.setattr(engine, "variants", lambda model: keep)
    figures = engine.bench_engine(load_settings(), None, BenchConfig.quick_config(), lambda message: None)
    assert len(figures) == 6 and all(f.value > 0 and f.unit == "tok/s" for f in figures)
    assert figures[0].note == "1.00× the release" and "(default)" in figures[2].name
