"""Training jobs that run in a background process and survive a page reload.

A job is a folder under ``<data dir>/training-jobs/<id>/``:

* ``request.json`` - what to train (name, base model, options); ``data.jsonl`` - the examples;
* ``state.json`` - status, step, loss curve, time left: rewritten atomically by the worker,
  read by the page on every refresh;
* ``cancel`` - a flag file: the worker checks it before every step and stops;
* ``log.txt`` - the worker's output, for when something goes wrong.

The worker is ``python -m ragtune train --job-dir <folder>``, started in its own session
so it outlives the Streamlit script run (and the browser tab) that started it. When it
finishes, the adapter and its card move into the data directory's adapters folder and
appear in the catalog, the Adapters page and the lab.

A job records who started it (``owner``; '' before sign-in, or with ``RAGTUNE_AUTH=none``); a
``personal`` job's adapter goes to its owner's personal adapters folder instead of the shared one
(:func:`ragtune.adapters.personal_adapters_dir`). :class:`ragtune.access.ScopedTrainingJobs` shows each
user their own jobs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from ragtune.adapters import AdapterCatalog, PersonalAdapterCatalog
from ragtune.config import PROJECT_ROOT, Settings
from ragtune.errors import AdapterError, InputError, RagtuneError, TrainingCancelled, shown_input
from ragtune.names import RULES, check_name, inside
from ragtune.training.card import LossPoint, card_paths, peft_folder
from ragtune.training.data import parse_examples
from ragtune.training.deps import require_training_packages
from ragtune.training.options import TrainOptions

JobStatus = Literal["starting", "loading", "training", "exporting", "done", "failed", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"starting", "loading", "training", "exporting"})


class JobRequest(BaseModel):
    name: str
    base_model_id: str
    data_name: str
    options: TrainOptions
    owner: str = ""
    personal: bool = False
    """The adapter goes to the owner's personal folder (not the shared one)."""

    def adapters_dir(self, settings: Settings) -> Path:
        """Where the trained adapter is installed."""
        if self.personal:
            return PersonalAdapterCatalog(settings, self.owner).ensure_folder()
        return settings.adapters_dir


class JobState(BaseModel):
    """What the page shows about a job."""

    id: str
    name: str
    base_model_id: str
    status: JobStatus = "starting"
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    losses: list[LossPoint] = Field(default_factory=list)
    message: str = ""
    error: str | None = None
    adapter_path: str | None = None
    pid: int | None = None
    owner: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0


def _write_state(folder: Path, state: JobState) -> None:
    state.updated_at = datetime.now(timezone.utc)
    tmp = folder / f".state.json.tmp{os.getpid()}"
    tmp.write_text(state.model_dump_json(indent=1), encoding="utf-8")
    os.replace(tmp, folder / "state.json")


def _read_state(folder: Path) -> JobState | None:
    try:
        return JobState.model_validate_json((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        # Reap it if it is our own finished child (otherwise it lingers as a zombie that "exists").
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrainingJobs:
    """Start, list, cancel and forget background training jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def root(self) -> Path:
        return self.settings.data_dir / "training-jobs"

    def start(self, *, name: str, base_model_id: str, data: bytes, data_name: str, options: TrainOptions,
              owner: str = "", personal: bool = False) -> JobState:
        """Validate everything that can be checked now, then start the worker process.

        ``owner`` is recorded on the job; ``personal`` installs the adapter in the owner's personal
        adapters folder.

        Raises:
            TrainingUnavailable: the training extras are not installed.
            TrainingDataError: the JSONL has invalid lines (reported by number).
            AdapterError: the adapter name is invalid or taken (by an adapter, or by a ``name.peft``
                folder or link already in the catalog).
            InputError: a job with that name is already running.
        """
        require_training_packages()
        try:
            stem = check_name("adapter", name.removesuffix(".gguf"))
        except InputError:
            raise AdapterError(
                f"{shown_input(name)} is not a valid adapter name: {RULES['adapter'].describe()}."
            ) from None
        taken = AdapterCatalog(self.settings).taken_names()
        if personal:
            taken |= PersonalAdapterCatalog(self.settings, owner).taken_names()
        if stem in taken:
            raise AdapterError(f"An adapter named '{stem}' exists already; choose another name.")
        request = JobRequest(name=stem, base_model_id=base_model_id, data_name=data_name, options=options,
                             owner=owner, personal=personal)
        _refuse_taken_peft((PersonalAdapterCatalog(self.settings, owner).folder if personal
                            else self.settings.adapters_dir) / f"{stem}.gguf")
        if any(job.name == stem and job.active for job in self.list()):
            raise InputError(f"A job training '{stem}' is already running.")
        dataset = parse_examples(data, source=data_name)
        self.settings.ensure_data_dir()
        job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{stem}"
        folder = self._folder(job_id)
        folder.mkdir(parents=True, exist_ok=False)
        (folder / "data.jsonl").write_bytes(data)
        (folder / "request.json").write_text(request.model_dump_json(indent=1), encoding="utf-8")
        state = JobState(
            id=job_id,
            name=stem,
            base_model_id=base_model_id,
            total_steps=options.total_steps(len(dataset.examples)),
            message=f"Starting: {len(dataset.examples)} examples",
            owner=owner,
        )
        _write_state(folder, state)
        with (folder / "log.txt").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "ragtune", "train", "--job-dir", str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(PROJECT_ROOT),
                start_new_session=True,  # outlive the script run that started it
            )
        state.pid = process.pid
        current = _read_state(folder)
        if current is not None and current.status == "starting":  # the worker may have written already
            current.pid = process.pid
            _write_state(folder, current)
            state = current
        return state

    def list(self) -> list[JobState]:
        """Every job, newest first; a job whose worker died is reported as failed."""
        if not self.root.is_dir():
            return []
        jobs = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            state = _read_state(folder) if folder.is_dir() else None
            if state is None:
                continue
            if state.active and state.pid and not _alive(state.pid):
                state = _read_state(folder) or state  # it may have finished between the two reads
                if state.active:
                    state.status = "failed"
                    state.error = "The training process ended unexpectedly; see log.txt in the job folder."
                    _write_state(folder, state)
            jobs.append(state)
        return jobs

    def _folder(self, job_id: str) -> Path:
        """A job's folder; the id follows the name rule and the folder stays under ``root``."""
        return inside(self.root, self.root / check_name("training job", job_id))

    def get(self, job_id: str) -> JobState:
        state = _read_state(self._folder(job_id))
        if state is None:
            raise InputError(f"No training job '{job_id}'.")
        return state

    def cancel(self, job_id: str) -> None:
        """Ask a running job to stop (it stops before its next step; nothing is written)."""
        folder = self._folder(job_id)
        if not folder.is_dir():
            raise InputError(f"No training job '{job_id}'.")
        (folder / "cancel").touch()

    def forget(self, job_id: str) -> None:
        """Delete a finished job's folder (the adapter it produced stays)."""
        state = self.get(job_id)
        if state.active:
            raise InputError("Cancel the job before removing it.")
        shutil.rmtree(self._folder(job_id), ignore_errors=True)

    def log_tail(self, job_id: str, lines: int = 20) -> str:
        try:
            text = (self._folder(job_id) / "log.txt").read_text(encoding="utf-8", errors="replace")
        except (OSError, InputError):
            return ""
        return "\n".join(text.splitlines()[-lines:])


def run_job(folder: Path, settings: Settings) -> int:
    """The worker: train the job in ``folder``, keeping ``state.json`` current. Returns an exit code."""
    from ragtune.models import ModelRegistry
    from ragtune.training.trainer import TrainProgress, train_adapter

    folder = Path(folder)
    request = JobRequest.model_validate_json((folder / "request.json").read_text(encoding="utf-8"))
    state = _read_state(folder) or JobState(id=folder.name, name=request.name, base_model_id=request.base_model_id,
                                            owner=request.owner)
    state.pid = os.getpid()
    state.status = "loading"
    state.message = "Checking the base model"
    _write_state(folder, state)
    last_write = [0.0]

    def progress(p: TrainProgress) -> None:
        state.status = p.phase if p.phase != "done" else "exporting"
        state.step, state.total_steps = p.step, p.total_steps or state.total_steps
        state.elapsed_s, state.eta_s = p.elapsed_s, p.eta_s
        state.message = p.message
        if p.loss is not None:
            state.loss = p.loss
            state.losses.append(LossPoint(step=p.step, loss=round(p.loss, 5), elapsed_s=round(p.elapsed_s, 2)))
        now = time.monotonic()
        if p.phase != "training" or now - last_write[0] > 0.5 or p.step == p.total_steps:
            last_write[0] = now
            _write_state(folder, state)

    try:
        registry = ModelRegistry(settings)
        spec = registry.get(request.base_model_id)
        base = registry.verify(spec)
        dataset = parse_examples((folder / "data.jsonl").read_bytes(), source=request.data_name)
        staged = inside(folder, folder / f"{check_name('adapter', request.name)}.gguf")
        train_adapter(
            base_path=base.path,
            base_model_id=spec.id,
            base_sha256=spec.sha256,
            dataset=dataset,
            options=request.options,
            out_path=staged,
            name=request.name,
            description=f"Trained from {request.data_name} on the Adapters page or with `python -m ragtune train`.",
            progress=progress,
            should_stop=lambda: (folder / "cancel").exists(),
        )
        target = _install(staged, settings, base, request.adapters_dir(settings))
        state.status = "done"
        state.adapter_path = str(target)
        state.message = f"Saved as {target.name}"
        _write_state(folder, state)
        return 0
    except TrainingCancelled as exc:
        state.status = "cancelled"
        state.message = str(exc)
        _write_state(folder, state)
        return 130
    except RagtuneError as exc:
        state.status = "failed"
        state.error = str(exc)
        _write_state(folder, state)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the page must learn about any failure, not see a stale "training"
        state.status = "failed"
        state.error = f"{type(exc).__name__}: {exc}"
        _write_state(folder, state)
        raise


def _install(staged: Path, settings: Settings, base: object, target_dir: Path | None = None) -> Path:
    """Check the trained adapter against its base and move it (and its card) into the catalog's
    ``target_dir`` (default: the shared adapters folder; or the owner's personal one)."""
    from ragtune.gguf.files import check_adapter_file

    check_adapter_file(staged, base)  # type: ignore[arg-type]
    target_dir = target_dir or settings.adapters_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    target = inside(target_dir, target_dir / staged.name)
    if target.exists() or staged.stem in AdapterCatalog(settings).taken_names():
        raise AdapterError(f"An adapter named '{staged.stem}' appeared meanwhile; the result stays in {staged.parent}.")
    _refuse_taken_peft(target, staged=staged)
    for source, dest in zip(card_paths(staged), card_paths(target)):
        if source.exists():
            shutil.copyfile(source, dest)
    staged_peft, target_peft = peft_folder(staged), peft_folder(target)
    if staged_peft.is_dir():
        os.replace(staged_peft, target_peft)
    os.replace(staged, target)  # last: the adapter appears with its card already in place
    return target


def _refuse_taken_peft(target: Path, *, staged: Path | None = None) -> None:
    """Refuse a name whose ``name.peft`` (a folder, a file or a link, even a dangling one) is in the
    catalog already: the new adapter's card would name files that belong to something else.

    Raises:
        AdapterError: naming the folder and the way out; nothing has been moved yet.
    """
    folder = peft_folder(target)
    if folder.exists() or folder.is_symlink():
        kept = f" The result stays in {staged.parent}." if staged is not None else ""
        raise AdapterError(
            f"'{folder.name}' is already in {folder.parent} without its adapter '{target.name}'; "
            f"move or delete {folder}, or choose another name.{kept}"
        )
