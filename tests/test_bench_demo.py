"""``bench --only demo``: the targets' verdicts, the figures' arithmetic on given samples, and the section end to
end on the tiny model (no timing is asserted)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from ragtune.bench import BenchConfig, BenchReport
from ragtune.bench_demo import BROWSER_LAST, FOUR_MODES, MEMORY, RAG_TOTAL, RAG_TTFT, bench_demo, demo_figures
from ragtune.bench_probe import ComparisonSample, ModeSample, ProbeResult
from ragtune.bench_table import MET, MISSED, NOT_MEASURED, bound, to_markdown, verdict


@pytest.mark.parametrize(("value", "target", "unit", "expected"), [
    (2.9, "≤ 3.0 s", "s", MET),
    (3100.0, "≤ 3.0 s", "ms", MISSED),  # the target's unit, converted
    (0.9e9, "≤ 1.5 GB", "B", MET),
    (900.0, "≤ 1,000 (seed: < 1,500)", "ms", MET),
    (0.97, "seed: overhead < 2% (≥ 0.98)", "ratio", MISSED),  # the % bound does not fit a ratio: the next one
    (2.5, "≥ 2", "ratio", MET),
    (1.0, "0", "requests", MISSED),  # a bare count: not to be exceeded
    (float("nan"), "≤ 4 s", "s", NOT_MEASURED),
    (5.0, "", "s", ""),
    (5.0, "fast", "s", ""),  # no bound to read: no verdict rather than a guess
])
def test_a_figure_is_judged_by_the_first_bound_of_its_target_that_fits_its_unit(value, target, unit, expected):
    assert verdict(value, target, unit) == expected


def test_a_bound_in_another_dimension_is_not_read_as_this_figures():
    assert bound("≤ 1.5 GB", "s") is None and bound("< 1 s", "ms") == ("<", 1000.0)


def mode(name: str, total: float, ttft: float = 0.0, prompt: int = 0, cached: int = 0, error: str = "") -> ModeSample:
    return ModeSample(mode=name, total_ms=total, ttft_ms=ttft, prompt_tokens=prompt, cached_prompt_tokens=cached,
                      error=error)


def probe_result() -> ProbeResult:
    failed = "Mode 'LoRA' needs the adapter 'grounded-json'. Train one."
    return ProbeResult(
        model_id="m", mode_ids=["base", "rag", "lora", "rag+lora"], question_ids=["a13", "u03"],
        warmup_question_id="a01", repeats=1, peak_rss_bytes=1_200_000_000, load_ms=10.0,
        comparisons=[
            ComparisonSample(question_id="a13", wall_ms=2600.0, first_token_ms=100.0, modes=[
                mode("base", 500), mode("rag", 900, ttft=400, prompt=500, cached=100), mode("lora", 0, error=failed),
                mode("rag+lora", 1000, prompt=520, cached=0)]),
            ComparisonSample(question_id="u03", wall_ms=4100.0, first_token_ms=None, modes=[
                mode("base", 700), mode("rag", 1300, ttft=800, prompt=600, cached=300), mode("lora", 600),
                mode("rag+lora", 1400, prompt=610, cached=10)]),
        ])


def test_the_demo_figures_are_medians_of_the_samples_and_a_failed_mode_is_counted_in_the_note():
    figures = {f.name: f for f in demo_figures(probe_result())}
    four = figures[FOUR_MODES]
    assert four.value == pytest.approx((2.4 + 4.0) / 2) and four.target == "≤ 3.0 s" and four.samples == 2
    assert "1 of 8 mode answers failed" in four.note and "lora: Mode 'LoRA' needs the adapter 'grounded-json'" \
        in four.note and "Train one" not in four.note
    assert figures[RAG_TOTAL].value == pytest.approx(1.1) and figures[RAG_TTFT].value == pytest.approx(0.6)
    assert figures["four-mode comparison: first token of the first column, median"].samples == 1
    assert figures["rag: prompt tokens evaluated per answer, median"].value == 350  # (400 + 300) / 2
    assert figures["rag: prompt tokens from the cache per answer, median"].value == 200
    assert figures["lora: total p50"].samples == 1  # the failed answer is not a sample
    memory = figures[MEMORY]
    assert memory.value == pytest.approx(1.2) and memory.unit == "GB"
    assert verdict(memory.value, memory.target, memory.unit) == MET


def test_the_table_marks_each_figure_met_or_missed_and_lists_the_notes():
    figures = demo_figures(probe_result())
    report = BenchReport(machine={"cores": 2}, model_id="m", config=BenchConfig.quick_config(), figures=figures,
                         started="now", seconds=1.0)
    table = to_markdown(report)
    assert "| section | measure | value | unit | target | verdict |" in table and "— quick mode" in table
    assert f"| demo | {FOUR_MODES} | 3.20 | s | ≤ 3.0 s | {MISSED} |" in table
    assert f"| demo | {RAG_TOTAL} | 1.10 | s | ≤ 1.0 s | {MISSED} |" in table
    assert "Notes:\n- demo / four-mode comparison: sum of mode totals, median: 2 demo questions × 1 repeat; " \
        "1 of 8 mode answers failed" in table


def test_without_the_browser_measurement_the_figure_says_it_is_not_available(monkeypatch):
    from ragtune.bench_demo import browser_figures

    monkeypatch.setitem(sys.modules, "ragtune.bench_browser", None)  # as if the module were not there
    (figure,) = browser_figures(Path("."), 1, lambda message: None)
    assert figure.name == BROWSER_LAST and math.isnan(figure.value) and figure.note.startswith("not available")


def test_the_demo_section_runs_on_the_tiny_model_in_a_process_of_its_own(tiny_env, monkeypatch):
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    lines: list[str] = []
    config = BenchConfig.quick_config(repeats=1, warmup=0)
    figures = {f.name: f for f in bench_demo(config, lines.append)}
    assert figures[FOUR_MODES].samples == 1 and figures[FOUR_MODES].value > 0
    # the tiny model has no grounded-json adapter: its two adapter modes fail, and the note says so
    assert "quick: 1 of the 4 demo questions × 1 repeat; 2 of 4 mode answers failed" in figures[FOUR_MODES].note
    assert figures[RAG_TOTAL].value > 0 and figures["rag: prompt tokens evaluated per answer, median"].value > 0
    assert 0 < figures[MEMORY].value < 1.5
    assert BROWSER_LAST not in figures  # quick mode leaves the browser out, and says so
    assert any("demo: round 1/1, question 1/1 (a13)" in line for line in lines)
    assert "demo: the browser figure is skipped (quick mode)" in lines
