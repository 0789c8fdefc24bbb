"""The adapter catalog: stored adapters are never lost or replaced by a bad upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import AdapterError
from ragtune.gguf.files import check_model_file


@pytest.fixture()
def catalog(tmp_path: Path) -> AdapterCatalog:
    return AdapterCatalog(load_settings(), shipped_dir=tmp_path / "shipped")


def test_a_valid_upload_is_stored_and_listed(catalog, tiny_model, random_lora):
    entry = catalog.add("style.gguf", random_lora.read_bytes(), base=check_model_file(tiny_model))
    assert entry.path.read_bytes() == random_lora.read_bytes()
    assert [e.name for e in catalog.list()] == ["style"]
    assert catalog.resolve("style") == entry.path


def test_an_invalid_upload_is_refused_and_stores_nothing(catalog, tiny_model):
    with pytest.raises(AdapterError, match="not a GGUF file"):
        catalog.add("junk.gguf", b"hello", base=check_model_file(tiny_model))
    assert catalog.list() == []
    assert not any(catalog.user_dir.glob("*"))


def test_an_upload_never_replaces_a_stored_adapter(catalog, tiny_model, random_lora, zero_lora):
    base = check_model_file(tiny_model)
    catalog.add("style", random_lora.read_bytes(), base=base)
    with pytest.raises(AdapterError, match="exists already"):
        catalog.add("style", zero_lora.read_bytes(), base=base)
    assert catalog.resolve("style").read_bytes() == random_lora.read_bytes()


def test_an_adapter_for_another_model_is_refused(catalog, random_lora):
    from tests.factories import default_model_path

    with pytest.raises(AdapterError, match="do not fit"):
        catalog.add("wrong", random_lora.read_bytes(), base=check_model_file(default_model_path()))
    assert catalog.list() == []


@pytest.mark.parametrize("name", ["", "../escape", "a b", "x" * 80, ".hidden"])
def test_bad_names_are_refused(catalog, tiny_model, random_lora, name):
    with pytest.raises(AdapterError, match="not a valid adapter name"):
        catalog.add(name, random_lora.read_bytes(), base=check_model_file(tiny_model))


def test_shipped_adapters_cannot_be_deleted(catalog, random_lora):
    catalog.shipped_dir.mkdir()
    (catalog.shipped_dir / "format.gguf").write_bytes(random_lora.read_bytes())
    with pytest.raises(AdapterError, match="ships with ragtune"):
        catalog.remove("format")
    assert (catalog.shipped_dir / "format.gguf").exists()


def test_an_unknown_adapter_name_lists_the_known_ones(catalog):
    with pytest.raises(AdapterError, match="Known adapters"):
        catalog.resolve("nothing-here")


def _adapter_with_card(catalog: AdapterCatalog, tiny_model: Path, random_lora: Path) -> list[Path]:
    from ragtune.training.card import card_paths

    entry = catalog.add("style", random_lora.read_bytes(), base=check_model_file(tiny_model))
    json_card, md_card = card_paths(entry.path)
    json_card.write_text('{"name": "style"}', encoding="utf-8")
    md_card.write_text("# style\n", encoding="utf-8")
    return [entry.path, json_card, md_card]


def test_deleting_an_adapter_removes_its_file_and_its_card_and_leaves_nothing_behind(catalog, tiny_model, random_lora):
    _adapter_with_card(catalog, tiny_model, random_lora)
    catalog.remove("style")
    assert catalog.list() == []
    assert list(catalog.user_dir.iterdir()) == []


def test_a_delete_failing_half_way_leaves_the_adapter_whole(catalog, tiny_model, random_lora, monkeypatch):
    import os

    import ragtune.adapters

    files = _adapter_with_card(catalog, tiny_model, random_lora)
    before = {path: path.read_bytes() for path in files}
    real_replace = os.replace
    calls = []

    def replace(src, dst):  # type: ignore[no-untyped-def]
        calls.append(src)
        if len(calls) == 2:  # the second file of the adapter cannot be moved
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(ragtune.adapters.os, "replace", replace)
    with pytest.raises(AdapterError, match="left as it was"):
        catalog.remove("style")
    monkeypatch.undo()
    assert {path: path.read_bytes() for path in files} == before  # file and card, all there
    assert sorted(p.name for p in catalog.user_dir.iterdir()) == sorted(p.name for p in files)
    assert [e.name for e in catalog.list()] == ["style"]


def test_deleting_an_unknown_adapter_is_refused(catalog):
    with pytest.raises(AdapterError, match="No adapter named 'ghost'"):
        catalog.remove("ghost")


def test_deleting_a_symlinked_adapter_removes_the_links_and_never_their_targets(catalog, random_lora, tmp_path):
    from ragtune.training.card import card_paths, peft_folder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "keep.gguf"
    target.write_bytes(random_lora.read_bytes())
    for card in card_paths(target):
        card.write_text("the target's own card", encoding="utf-8")
    (elsewhere / "keep.peft").mkdir()
    (elsewhere / "keep.peft" / "adapter_config.json").write_text("{}", encoding="utf-8")
    (elsewhere / "other.peft").mkdir()
    (elsewhere / "other.peft" / "adapter_model.safetensors").write_bytes(b"weights")
    before = {p: p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()}

    user = catalog.user_dir
    user.mkdir(parents=True, exist_ok=True)
    link = user / "mine.gguf"
    link.symlink_to(target)
    peft_link = peft_folder(link)  # a linked PEFT folder, pointing at a folder of another name
    peft_link.symlink_to(elsewhere / "other.peft", target_is_directory=True)
    assert [e.name for e in catalog.list()] == ["mine"]

    catalog.remove("mine")

    assert catalog.list() == []
    assert list(user.iterdir()) == []  # both links gone, no dangling link, no trash folder
    assert sorted(p.name for p in elsewhere.iterdir()) == sorted(
        ["keep.gguf", *(c.name for c in card_paths(target)), "keep.peft", "other.peft"]
    )
    assert {p: p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()} == before


def test_deleting_an_adapter_with_a_dangling_peft_link_removes_the_link(catalog, tiny_model, random_lora, tmp_path):
    from ragtune.training.card import peft_folder

    entry = catalog.add("style", random_lora.read_bytes(), base=check_model_file(tiny_model))
    peft_folder(entry.path).symlink_to(tmp_path / "gone.peft", target_is_directory=True)
    catalog.remove("style")
    assert list(catalog.user_dir.iterdir()) == []


def test_a_dangling_link_or_a_folder_named_like_an_adapter_is_not_listed(tmp_path) -> None:
    from ragtune.adapters import AdapterCatalog
    from ragtune.config import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    catalog = AdapterCatalog(settings, shipped_dir=tmp_path / "none")
    settings.adapters_dir.mkdir(parents=True)
    (settings.adapters_dir / "gone.gguf").symlink_to(tmp_path / "missing.gguf")
    (settings.adapters_dir / "folder.gguf").mkdir()
    assert catalog.list() == []


def test_each_model_sees_the_adapters_shipped_for_it(tmp_path, monkeypatch):
    """The default model's shipped adapters are the top of models/adapters; another model's are in
    its own folder under the same names; a model with none shipped sees none of the others'."""
    import ragtune.adapters as adapters_module

    shipped = tmp_path / "models-adapters"
    (shipped / "qwen-x").mkdir(parents=True)
    (shipped / "grounded-json.gguf").write_bytes(b"default model's")
    (shipped / "qwen-x" / "grounded-json.gguf").write_bytes(b"qwen's")
    monkeypatch.setattr(adapters_module, "SHIPPED_ADAPTERS_DIR", shipped)
    settings = load_settings()
    default = AdapterCatalog(settings)
    assert default.resolve("grounded-json").read_bytes() == b"default model's"
    assert default.for_model("qwen-x").resolve("grounded-json").read_bytes() == b"qwen's"
    assert AdapterCatalog(settings, model_id="qwen-x").resolve("grounded-json").read_bytes() == b"qwen's"
    for other in ("another-model", "local:my-file", "../escape"):
        assert [e.name for e in default.for_model(other).list()] == []
    # a catalog given its shipped folder (a build's output, a test) keeps it for any model
    fixed = AdapterCatalog(settings, shipped_dir=shipped / "qwen-x")
    assert fixed.for_model("another-model").resolve("grounded-json").read_bytes() == b"qwen's"


def test_every_shipped_adapter_is_for_the_model_of_its_folder_with_its_card_and_peft_files():
    """What `make adapters` / `make adapters-qwen` committed: each GGUF under models/adapters has a
    card naming the model of its folder, and the card's files (GGUF and PEFT folder) are the ones on
    disk, byte for byte."""
    import hashlib

    from ragtune.adapters import DEFAULT_ADAPTER_MODEL, SHIPPED_ADAPTERS_DIR
    from ragtune.training.card import load_card

    found = 0
    for gguf in sorted(SHIPPED_ADAPTERS_DIR.rglob("*.gguf")):
        if ".peft" in gguf.parent.name:
            continue
        model = DEFAULT_ADAPTER_MODEL if gguf.parent == SHIPPED_ADAPTERS_DIR else gguf.parent.name
        card = load_card(gguf)
        assert card is not None and card.base_model_id == model, gguf
        names = {f.path for f in card.files}
        assert {f"{gguf.stem}.gguf", f"{gguf.stem}.peft/adapter_model.safetensors",
                f"{gguf.stem}.peft/adapter_config.json"} <= names, gguf
        for entry in card.files:
            data = (gguf.parent / entry.path).read_bytes()
            assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry.sha256, entry.bytes), entry.path
        found += 1
    assert found >= 3


def test_a_new_adapter_may_not_take_a_name_shipped_for_any_model(tmp_path, monkeypatch, tiny_model, random_lora):
    import ragtune.adapters as adapters_module

    shipped = tmp_path / "models-adapters"
    (shipped / "qwen-x").mkdir(parents=True)
    (shipped / "qwen-x" / "only-for-qwen.gguf").write_bytes(b"qwen's")
    monkeypatch.setattr(adapters_module, "SHIPPED_ADAPTERS_DIR", shipped)
    catalog = AdapterCatalog(load_settings())  # the default model's view: only-for-qwen is not listed
    assert "only-for-qwen" not in [e.name for e in catalog.list()]
    with pytest.raises(AdapterError, match="exists already"):
        catalog.add("only-for-qwen", random_lora.read_bytes(), base=check_model_file(tiny_model))
    assert not any(catalog.user_dir.glob("*.gguf"))
