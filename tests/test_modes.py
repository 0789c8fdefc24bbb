"""Modes as data: the built-in set, validation, the user's saved modes, URL lists."""

from __future__ import annotations

import pytest

from ragtune.decision.recommendation import LAB_MODES
from ragtune.errors import ModeError
from ragtune.modes import (
    BUILTIN_MODES,
    DEFAULT_LAB_MODES,
    Mode,
    ModeStore,
    mode_from_form,
    parse_mode_ids,
)


def test_the_builtin_modes_are_the_ones_the_decide_page_links_to():
    assert [m.id for m in BUILTIN_MODES] == list(LAB_MODES)
    assert set(DEFAULT_LAB_MODES) <= set(LAB_MODES)


def test_the_four_main_modes_differ_only_in_retrieval_and_adapter():
    base, rag, lora, both = (next(m for m in BUILTIN_MODES if m.id == i) for i in DEFAULT_LAB_MODES)
    assert {m.prompt for m in (base, rag, lora, both)} == {"grounded"}
    assert (base.retrieval, rag.retrieval, lora.retrieval, both.retrieval) == (False, True, False, True)
    assert (base.adapter, rag.adapter) == (None, None)
    assert lora.adapter == both.adapter == "grounded-json"


def test_constrained_output_needs_a_json_prompt():
    with pytest.raises(ModeError, match="constrained"):
        mode_from_form({"id": "x", "label": "X", "prompt": "plain", "constrained": True})


def test_a_form_with_an_empty_adapter_means_no_adapter():
    mode = mode_from_form({"id": "mine", "label": "Mine", "adapter": "", "retrieval": True, "k": 3})
    assert mode.adapter is None and mode.k == 3 and mode.search is None


def test_invalid_form_values_name_the_field():
    with pytest.raises(ModeError, match="k:"):
        mode_from_form({"id": "mine", "label": "Mine", "k": 0})
    with pytest.raises(ModeError, match="id:"):
        mode_from_form({"id": "Has Spaces", "label": "Mine"})


def test_user_modes_are_saved_listed_and_deleted(tmp_path):
    store = ModeStore(tmp_path / "modes.json")
    mine = Mode(id="rag-k8", label="RAG k=8", retrieval=True, k=8)
    store.save(mine)
    reopened = ModeStore(tmp_path / "modes.json")
    assert reopened.get("rag-k8") == mine
    assert reopened.ids()[: len(BUILTIN_MODES)] == [m.id for m in BUILTIN_MODES]
    reopened.delete("rag-k8")
    assert "rag-k8" not in ModeStore(tmp_path / "modes.json").ids()


def test_builtin_modes_cannot_be_overwritten_or_deleted(tmp_path):
    store = ModeStore(tmp_path / "modes.json")
    with pytest.raises(ModeError, match="built-in"):
        store.save(Mode(id="rag", label="Mine"))
    with pytest.raises(ModeError, match="built-in"):
        store.delete("base")


def test_an_unknown_mode_lists_the_known_ones(tmp_path):
    with pytest.raises(ModeError, match="Known modes: base, rag"):
        ModeStore(tmp_path / "modes.json").get("nope")


def test_a_corrupt_modes_file_is_a_clear_error(tmp_path):
    path = tmp_path / "modes.json"
    path.write_text('[{"id": "x"}]')
    with pytest.raises(ModeError, match="unreadable"):
        ModeStore(path).all()


def test_mode_lists_from_urls_keep_order_and_report_unknown_ids():
    known = [m.id for m in BUILTIN_MODES]
    assert parse_mode_ids("RAG+LoRA, base,,base,magic", known) == (["rag+lora", "base"], ["magic"])
    assert parse_mode_ids(None, known) == ([], [])
