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


def test_quick_bench_measures_every_section_on_the_tiny_model(tiny_runtime, random_lora):
    config = BenchConfig.quick_config(adapter=random_lora, corpus_sizes=[30], search_queries=3, repeats=2)
    report = run_bench(load_settings(), tiny_runtime, config)
    sections = {f.section for f in report.figures}
    assert {"runtime", "adapter", "switch", "retrieval"} <= sections
    assert all(math.isfinite(f.value) and f.value >= 0 for f in report.figures)
    ratio = report.figure("runtime", "ragtune / raw")
    ours = report.figure("runtime", "ragtune runtime, wall time").value
    raw = report.figure("runtime", "raw llama-cpp-python, wall time").value
    assert math.isclose(ratio.value, ours / raw)
    table = to_markdown(report)
    assert "| runtime | ragtune / raw |" in table and report.machine["cores"]


def test_the_bench_command_prints_a_table_and_writes_json(tiny_env, tmp_path: Path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--repeats", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| section | measure | value | unit | target |" in printed
    report = json.loads(out.read_text())
    assert report["model_id"] == "local:tiny" and report["figures"]
