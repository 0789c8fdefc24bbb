"""The Decide page, driven like a user would: step by step through AppTest, plus its pieces."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from components.decision import architecture_dot, break_even_figure
from ragtune.decision.answers import WizardAnswers
from ragtune.decision.economics import CostInputs, compare_costs
from ragtune.decision.recommend import recommend

PAGE = Path(__file__).resolve().parent.parent / "app_pages" / "decide.py"


@pytest.fixture
def downloads() -> Iterator[dict[str, tuple[str, bytes]]]:
    """What the page's download buttons would serve: file name -> (mime type, bytes).

    A spy on Streamlit's own in-memory media store, which every download button writes to.
    """
    served: dict[str, tuple[str, bytes]] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        data = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
        served[filename] = (mimetype, data)
        return original(self, path_or_data, mimetype, kind, filename)

    with mock.patch.object(MemoryMediaFileStorage, "load_and_get_id", spy):
        yield served


def new_page(**params: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params.update(params)
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def next_step(at: AppTest) -> AppTest:
    return ok(at.button(key="decide.next").click().run())


def progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def test_the_wizard_opens_on_step_one_with_progress() -> None:
    at = ok(new_page())
    assert progress_text(at) == "Step 1 of 5: Your workload"
    assert at.button(key="decide.back").disabled
    assert not at.warning


def test_path_one_a_customer_support_agent_ends_in_a_hybrid(
        downloads: dict[str, tuple[str, bytes]]) -> None:
    at = ok(new_page())
    at.text_input(key="decide.q.name").input("Support bot")
    at = next_step(at)
    assert progress_text(at) == "Step 2 of 5: Knowledge"
    at.checkbox(key="decide.q.facts").check()
    at.selectbox(key="decide.q.change").set_value("monthly")
    at = next_step(at)
    at.checkbox(key="decide.q.strict_format").check()
    at.checkbox(key="decide.q.tone").check()
    at.radio(key="decide.q.prompting").set_value("fails")
    at = next_step(at)
    at.number_input(key="decide.q.prompt_tokens").set_value(6000)
    at = next_step(at)
    assert progress_text(at) == "Step 5 of 5: Volume and prices"
    at.number_input(key="decide.q.requests_per_day").set_value(2000)
    at = ok(at.run())
    assert [m.value for m in at.metric][:2] == ["$900", "$378"]  # live cost preview
    at = next_step(at)

    assert at.query_params == {
        "step": "6", "name": "Support bot", "facts": "1", "change": "monthly",
        "strict_format": "1", "tone": "1", "prompting": "fails", "prompt_tokens": "6000",
        "requests_per_day": "2000",
    }
    assert at.markdown[0].value == ("### Hybrid: RAG for knowledge + a LoRA adapter for the "
                                    "format and the tone")
    assert [m.value for m in at.metric if m.label == "Break-even"] == ["month 1"]
    assert "rag+lora" in " ".join(m.value for m in at.markdown)
    assert at.get("graphviz_chart") and at.get("plotly_chart")

    mime, markdown = downloads["decision-support-bot.md"]
    assert mime == "text/markdown"
    text = markdown.decode()
    assert text.startswith("# Decision record: Support bot")
    for heading in ("## Context", "## Decision", "## Alternatives considered",
                    "## Consequences", "## Costs"):
        assert heading in text
    assert "| Inference per month | $900 | $378 |" in text
    assert at.code[-1].value == text.strip()  # the preview shows the file
    mime, raw = downloads["decision-support-bot.json"]
    assert mime == "application/json"
    record = json.loads(raw)
    assert record["recommendation"]["outcome"] == "hybrid"
    assert record["answers"]["requests_per_day"] == 2000
    assert record["link"].startswith("?step=6&name=Support+bot")


def test_path_two_a_plan_to_bake_documents_ends_in_rag_with_the_trap_warning(
        downloads: dict[str, tuple[str, bytes]]) -> None:
    at = next_step(ok(new_page()))
    at.checkbox(key="decide.q.cite").check()
    at.checkbox(key="decide.q.bake").check()
    at.selectbox(key="decide.q.change").set_value("weekly")
    at = next_step(at)
    at = next_step(at)
    at.number_input(key="decide.q.few_shot").set_value(5)
    at = next_step(at)
    at = next_step(at)

    assert at.markdown[0].value == "### RAG with prompt engineering"
    assert [w.value.split(".")[0] for w in at.warning] == ["**Trap: fine-tuning for knowledge"]
    assert "knowledge-lora" in " ".join(m.value for m in at.markdown)
    text = downloads["decision-workload.md"][1].decode()
    assert "Trap: fine-tuning for knowledge" in text
    assert "$10,400/year" in text


def test_the_wizard_keeps_dollars_as_text_in_labels_help_and_the_cost_preview() -> None:
    """Streamlit reads ``$…$`` as LaTeX: "$20-$2,000" in a tooltip would lose its figures."""
    at = ok(new_page(step="5", tone="1", prompting="fails"))
    widgets = [w for kind in ("number_input", "checkbox", "selectbox", "radio")
               for w in at.get(kind)]
    texts = [t for w in widgets for t in (w.label, w.help or "")]
    texts += [t for m in at.metric for t in (m.label, m.proto.help)]
    texts += [e.value for kind in ("markdown", "caption") for e in at.get(kind)]
    assert any("$" in t for t in texts)
    assert [t for t in texts if re.search(r"(?<!\\)\$", t)] == []


def test_back_keeps_the_answers_given() -> None:
    at = next_step(ok(new_page()))
    at.checkbox(key="decide.q.facts").check()
    at = next_step(at)
    at = ok(at.button(key="decide.back").click().run())
    assert progress_text(at) == "Step 2 of 5: Knowledge"
    assert at.checkbox(key="decide.q.facts").value is True
    assert at.query_params["facts"] == "1"


def test_the_link_reproduces_the_result_in_a_new_session() -> None:
    first = ok(new_page(step="6", facts="1", routing="1"))
    link = dict(first.query_params)
    second = ok(new_page(**link))
    assert second.markdown[0].value == first.markdown[0].value
    assert second.markdown[0].value == ("### Hybrid: RAG for knowledge + a fine-tuned intent "
                                        "classifier for routing")
    assert second.code[-1].value == first.code[-1].value  # the same decision record
    assert "?step=6&routing=1&facts=1" in second.code[0].value


def test_changing_the_answers_from_the_result_keeps_them() -> None:
    at = ok(new_page(step="6", tone="1", prompting="fails"))
    at = ok(at.button(key="decide.edit").click().run())
    assert progress_text(at) == "Step 1 of 5: Your workload"
    assert at.query_params == {"step": "1", "tone": "1", "prompting": "fails"}


def test_start_over_clears_the_link_and_the_answers() -> None:
    at = ok(new_page(step="6", tone="1"))
    at = ok(at.button(key="decide.restart").click().run())
    assert at.query_params == {}
    assert progress_text(at) == "Step 1 of 5: Your workload"


def test_garbage_in_the_link_is_ignored_with_a_visible_warning_and_no_traceback() -> None:
    at = ok(new_page(step="6", cite="1", requests_per_day="lots", price_in="-1", bogus="x"))
    warnings = [w.value for w in at.warning]
    assert any("requests_per_day=lots" in w and "whole number" in w for w in warnings)
    assert any("price_in=-1" in w for w in warnings)
    assert any("'bogus'" in w for w in warnings)
    assert at.markdown[0].value == "### RAG with prompt engineering"
    assert at.query_params == {"step": "6", "cite": "1"}  # the bad parts leave the link


@pytest.mark.parametrize("step", ["0", "7", "-1", "three", ""])
def test_an_impossible_step_starts_the_wizard_from_the_beginning(step: str) -> None:
    at = ok(new_page(step=step))
    assert progress_text(at) == "Step 1 of 5: Your workload"
    assert any("step" in w.value for w in at.warning)


def test_standalone_the_lab_modes_are_listed_with_how_to_reach_the_lab() -> None:
    at = ok(new_page(step="6", facts="1", tone="1", prompting="fails"))
    markdown = " ".join(m.value for m in at.markdown)
    assert "`rag+lora` (recommended)" in markdown
    captions = " ".join(c.value for c in at.caption)
    assert "through app.py" in captions


def test_in_the_app_the_result_links_to_the_lab_with_the_modes(monkeypatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    app = AppTest.from_file(str(PAGE.parent.parent / "app.py"), default_timeout=120)
    app.query_params.update({"step": "6", "facts": "1", "tone": "1", "prompting": "fails"})
    app.switch_page("app_pages/decide.py").run()
    assert not app.exception
    links = app.get("page_link")
    assert links, "no link to the Lab"
    link = links[0].proto
    assert "lab" in link.page and "rag" in link.query_string


# --- the pieces, without a browser ---------------------------------------------------------


def test_the_break_even_chart_marks_the_crossing() -> None:
    costs = compare_costs(CostInputs(requests_per_day=100))
    fig = break_even_figure(costs)
    names = [trace.name for trace in fig.data]
    assert names == ["Prompt approach", "Adapter approach", "Break-even"]
    assert fig.data[2].x[0] == pytest.approx(costs.crossing.month)
    assert "month 16" in fig.layout.annotations[0].text


def test_the_break_even_chart_says_when_there_is_no_crossing() -> None:
    fig = break_even_figure(compare_costs(CostInputs(requests_per_day=0)))
    assert [trace.name for trace in fig.data] == ["Prompt approach", "Adapter approach"]
    assert "does not pay back" in fig.layout.annotations[0].text


@pytest.mark.parametrize(("answers", "drawn", "absent"), [
    (dict(cite=True), {"retriever", "docs", "model"}, {"adapter", "router", "classifier"}),
    (dict(tone=True, prompting="fails"), {"adapter", "model"}, {"retriever", "router"}),
    (dict(facts=True, routing=True, tone=True, prompting="fails"),
     {"router", "retriever", "adapter", "model"}, {"classifier", "constrained"}),
    (dict(task="classify"), {"classifier"}, {"model", "adapter", "retriever"}),
    (dict(strict_format=True, syntax_only=True), {"constrained", "prompt"}, {"adapter"}),
])
def test_the_architecture_draws_only_the_parts_this_workload_needs(
        answers: dict, drawn: set[str], absent: set[str]) -> None:
    dot = architecture_dot(recommend(WizardAnswers(**answers)))
    assert dot.startswith("digraph architecture {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    declared = {line.split()[0] for line in dot.splitlines()[4:] if "[label=" in line}
    assert drawn <= declared
    assert not (absent & declared)
