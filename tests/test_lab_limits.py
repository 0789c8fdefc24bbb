"""Progress and limits: while a comparison runs the Lab says which mode of how many is answering,
and a question over the limit is a clear message with its length (the page, the core and the CLI
share one limit), never a paste that silently does nothing."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.errors import InputError
from ragtune.lab import MAX_QUESTION_CHARS, Started, check_question, compare, progress_text
from ragtune.modes import BUILTIN_MODES
from ragtune.store import QueryLog

PAGE = str(PROJECT_ROOT / "app_pages" / "lab.py")


def test_progress_says_which_mode_of_how_many():
    event = Started(mode=BUILTIN_MODES[1], index=1, total=4)
    assert progress_text(event) == "Mode 2 of 4: RAG"


def _live() -> None:
    from components.lab import render_live_comparison
    from ragtune.lab import Failed, Started
    from ragtune.modes import BUILTIN_MODES

    def events():
        for index, mode in enumerate(BUILTIN_MODES[:3]):
            yield Started(mode=mode, index=index, total=3)
            yield Failed(mode=mode, error="unavailable here", index=index)

    render_live_comparison(events(), 3, key="live")


def test_the_live_comparison_shows_a_progress_bar_that_ends_done():
    at = AppTest.from_function(_live, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    [bar] = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "3 of 3 modes done."


def _streamed() -> None:
    """40 tokens arriving 10 ms apart (a clock that the test controls), then the answer: how often the
    streaming column is redrawn is written to the page."""
    from unittest import mock

    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    import components.safe as safe
    from components.lab import render_live_comparison
    from components.safe import CURSOR
    from ragtune.lab import Started, Token
    from ragtune.modes import BUILTIN_MODES

    clock = iter(0.01 * n for n in range(10_000))
    mode = BUILTIN_MODES[0]

    def events():
        yield Started(mode=mode, index=0, total=1)
        for n in range(40):
            yield Token(mode=mode, text=f"w{n} ", index=0)

    drawn = []
    markdown = DeltaGenerator.markdown

    def counting(self, body, *args, **kwargs):
        if str(body).endswith(CURSOR):
            drawn.append(body)
        return markdown(self, body, *args, **kwargs)

    with mock.patch.object(safe.time, "monotonic", lambda: next(clock)), \
            mock.patch.object(DeltaGenerator, "markdown", counting):
        render_live_comparison(events(), 1, key="live")
    st.write(f"redraws: {len(drawn)}; first: {drawn[0].startswith('w0')}")


def test_a_streaming_column_is_redrawn_a_few_times_a_second_not_per_token():
    at = AppTest.from_function(_streamed, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    # 40 tokens over 0.4 s at one redraw per 0.15 s at most: the first token at once, then 2 more
    assert at.markdown[-1].value == "redraws: 3; first: True"


@pytest.mark.parametrize("question", ["", "   ", "x" * (MAX_QUESTION_CHARS + 1)])
def test_the_core_refuses_an_empty_or_over_long_question_before_anything_runs(question):
    with pytest.raises(InputError):
        check_question(question)
    with pytest.raises(InputError):  # compare checks it too: no Started event, nothing logged
        next(compare(None, question, list(BUILTIN_MODES[:1]), None, log=None, source="cli"))  # type: ignore[arg-type]


def test_a_question_of_exactly_the_limit_is_asked():
    assert check_question(" " + "x" * MAX_QUESTION_CHARS + "\n") == "x" * MAX_QUESTION_CHARS


def test_an_over_long_paste_is_a_clear_message_on_the_page_and_nothing_runs(team_workspace):
    team_workspace(max_tokens=8)
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert "up to 2,000 characters" in at.text_area(key="lab_question").label
    at.text_area(key="lab_question").set_value("y" * 2345).run()
    assert any("2,345 characters" in e.value and "2,000" in e.value for e in at.error)
    assert at.text_area(key="lab_question").value == "y" * 2345  # kept whole: the user shortens it
    at = at.button(key="lab_run").click().run()
    assert not at.exception and any("2,345 characters" in e.value for e in at.error)
    assert QueryLog(load_settings().query_log_file).count() == 0
