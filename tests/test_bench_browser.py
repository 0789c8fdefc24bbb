"""The browser figures of `bench --only demo`: the served app's Lab, driven in Debian's Chromium."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ragtune import bench_browser
from ragtune.bench_browser import (FIRST_TOKEN, LAST_ANSWER, MEMORY, SETTLED, BrowserRun, browser_figures,
                                   measure_browser, peak_memory_bytes)
from ragtune.config import PROJECT_ROOT


@pytest.mark.slow
@pytest.mark.skipif(not bench_browser.CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_lab_is_timed_in_the_browser_from_click_to_last_answer(tiny_model: Path):
    said: list[str] = []
    figures = measure_browser(PROJECT_ROOT, repeats=1, progress=said.append,
                              env={"RAGTUNE_MODEL_PATH": str(tiny_model), "RAGTUNE_N_THREADS": "1"})
    by_name = {f.name: f for f in figures}
    assert set(by_name) == {LAST_ANSWER, FIRST_TOKEN, SETTLED, MEMORY}, figures
    last, first, memory = by_name[LAST_ANSWER], by_name[FIRST_TOKEN], by_name[MEMORY]
    assert all(f.section == "demo" for f in figures)
    assert last.samples == first.samples == 1 and last.unit == first.unit == "s", figures
    assert 0 < first.value <= last.value, figures  # the first token comes before the last answer
    assert "stopped" not in last.note and "question: “" in last.note
    assert memory.unit == "GB" and 0.05 < memory.value < 64
    assert any("warm-up" in line for line in said)


@pytest.mark.slow
@pytest.mark.skipif(not bench_browser.CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_a_comparison_past_its_limit_is_a_note_not_a_hang(tiny_model: Path):
    figures = measure_browser(PROJECT_ROOT, repeats=2, progress=lambda _: None, limits=(120.0, 600.0, 0.001),
                              env={"RAGTUNE_MODEL_PATH": str(tiny_model), "RAGTUNE_N_THREADS": "1",
                                   "RAGTUNE_DEMO_WORKSPACE": ""})  # no documents to index: a quick start
    last = next(f for f in figures if f.name == LAST_ANSWER)
    assert math.isnan(last.value) and last.samples == 0
    assert "stopped after 0 of 2 timed comparisons: the comparison did not finish within 0 s" in last.note
    assert next(f for f in figures if f.name == MEMORY).value > 0  # the app was up: its memory is still read


def test_without_chromium_the_figure_is_nan_and_says_what_is_missing(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(bench_browser, "CHROMIUM", tmp_path / "no-chromium")
    said: list[str] = []
    figures = measure_browser(PROJECT_ROOT, repeats=3, progress=said.append)
    assert len(figures) == 1
    assert figures[0].name == LAST_ANSWER and math.isnan(figures[0].value) and figures[0].samples == 0
    assert "Chromium is not installed at" in figures[0].note and "no-chromium" in figures[0].note
    assert said and "skipped" in said[0]


def test_an_app_that_does_not_start_gives_nan_with_its_log_and_ran_on_a_fresh_data_directory(
        tmp_path: Path, data_dir: Path):
    (tmp_path / "app.py").write_text("raise SystemExit(3)\n")  # a tree whose app cannot serve
    broken = tmp_path / "streamlit"  # `python -m streamlit` from the tree finds this first and fails
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "__main__.py").write_text(
        "import os, sys\nprint('no streamlit here', 'data=' + os.environ['RAGTUNE_DATA_DIR'],"
        " 'path=' + os.environ['PYTHONPATH'], flush=True)\nsys.exit(3)\n")
    figures = measure_browser(tmp_path, repeats=1, progress=lambda _: None, limits=(20.0, 20.0, 20.0))
    last = next(f for f in figures if f.name == LAST_ANSWER)
    assert math.isnan(last.value) and last.samples == 0
    assert "stopped before it answered (exit 3)" in last.note and "no streamlit here" in last.note
    assert f"path={tmp_path}" in last.note  # the tree's own code
    scratch = Path(last.note.split("data=")[1].split()[0])  # never this shell's data directory
    assert scratch != data_dir and "ragtune-bench-browser-" in str(scratch) and not scratch.exists()


def test_the_figures_are_medians_of_the_runs_and_skip_first_tokens_not_seen():
    runs = [BrowserRun(last_answer_s=3.0, first_token_s=0.5), BrowserRun(last_answer_s=1.0),
            BrowserRun(last_answer_s=2.0, first_token_s=0.25)]
    figures = {f.name: f for f in browser_figures(runs, 1_250_000_000)}
    assert figures[LAST_ANSWER].value == 2.0 and figures[LAST_ANSWER].samples == 3
    assert figures[FIRST_TOKEN].value == 0.375 and figures[FIRST_TOKEN].samples == 2
    assert figures[MEMORY].value == 1.25 and figures[MEMORY].unit == "GB"


def test_peak_memory_is_read_for_this_process_and_not_for_one_that_is_gone():
    import os

    assert (peak_memory_bytes(os.getpid()) or 0) > 10_000_000
    assert peak_memory_bytes(2**22 + 12345) is None
