"""``bench --baseline GIT_REF``: the same sections on an older ref and on this checkout, side by side.

Absolute times drift between machines and runs, so a change is judged by the ratio of two figures
measured in one run on one machine. The ref is checked out in a temporary ``git worktree add --detach``
(removed at the end, also on errors and Ctrl-C) and both sides run in fresh processes of the same
virtualenv, each with a temporary data directory of its own (the user's is neither read nor changed):

- the sections the ref's own ``bench`` knows run through ``python -m ragtune bench --only ... --out F``
  in that side's tree;
- the ``demo`` section runs :mod:`ragtune.bench_probe` (this checkout's script) against each tree, so
  both sides are measured by the same code, in two rounds when there are repeats to split;
- the browser figure starts each side's app.

The steps alternate which side goes first, so neither always runs on a cooler (or warmer) machine.
A side that fails a step is reported as that side's failure; the other side's figures still stand.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragtune.bench import BenchConfig, Figure, machine_info
from ragtune.bench_table import fmt, notes, side_by_side
from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError, RagtuneError

Progress = Callable[[str], None]
Side = Literal["baseline", "current"]
SIDES: tuple[Side, Side] = ("baseline", "current")
# What the demo probe imports from a tree (it must exist on the ref): file, then a name defined in it.
_DEMO_NEEDS = (("ragtune/bench.py", "def _demo_pipeline"), ("ragtune/lab.py", "LAB_QUESTIONS"),
               ("ragtune/lab.py", "def compare"), ("ragtune/modes.py", "DEFAULT_LAB_MODES"),
               ("ragtune/evaluation/sets.py", "def demo_eval_set"))


class SideReport(BaseModel):
    """One side's figures and the steps it failed."""

    label: str
    figures: list[Figure] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class BaselineReport(BaseModel):
    """A ``--baseline`` run: both sides' figures, measured in one run on one machine."""

    ref: str
    commit: str
    machine: dict[str, Any]
    config: BenchConfig
    baseline: SideReport
    current: SideReport
    started: str
    seconds: float


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise InputError("--baseline needs git, which is not installed (or not on PATH).") from exc


def resolve_baseline(ref: str, repo: Path = PROJECT_ROOT, *, demo: bool = True) -> str:
    """The commit ``ref`` names in the git checkout ``repo``, checked to be a ragtune the bench can run.

    Raises:
        InputError: ``repo`` is not the top of a git checkout, ``ref`` names no commit, the commit has no
            ``ragtune/`` package, or (``demo``) it lacks what the demo measurement imports.
    """
    ref = ref.strip()
    if not ref or ref.startswith("-"):
        raise InputError(f"--baseline needs a git ref (a branch, tag or commit), not {ref!r}.")
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != repo.resolve():
        raise InputError(f"--baseline compares with an older commit of this checkout, but {repo} is not the top "
                         "of a git checkout (a copy without .git, or a folder inside another repository). Run it "
                         "from a git clone of ragtune.")
    found = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise InputError(f"--baseline: no commit {ref!r} in {repo} (give a branch, a tag or a commit; "
                         "`git log --oneline` lists them).")
    commit = found.stdout.strip()
    if _git(repo, "cat-file", "-e", f"{commit}:ragtune/__main__.py").returncode != 0:
        raise InputError(f"--baseline: {ref} ({commit[:9]}) has no ragtune/ package to run: choose a commit of "
                         "ragtune that has `python -m ragtune bench`.")
    if demo:
        for path, name in _DEMO_NEEDS:
            shown = _git(repo, "show", f"{commit}:{path}")
            if shown.returncode != 0 or name not in shown.stdout:
                raise InputError(f"--baseline: {ref} ({commit[:9]}) predates the Lab comparison the demo section "
                                 f"measures ({path} has no {name.split()[-1]}): choose a later ref, or leave out "
                                 "the demo section (--only).")
    return commit


@contextmanager
def baseline_worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary folder, removed at the end whatever happens.

    Raises:
        InputError: git could not add the worktree (its message is given).
    """
    parent = Path(tempfile.mkdtemp(prefix="ragtune-baseline-"))
    tree = parent / "tree"
    previous = None
    if threading.current_thread() is threading.main_thread():
        # A terminated bench (SIGTERM) unwinds like Ctrl-C, so the worktree below is still removed.
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        if added.returncode != 0:
            raise InputError(f"--baseline: git could not check out {commit[:9]} in a temporary worktree: "
                             f"{added.stderr.strip() or added.stdout.strip()}")
        env_file = repo / ".env"
        if env_file.is_file():  # the settings file both sides read (it is not in git)
            shutil.copy2(env_file, tree / ".env")
        yield tree
    finally:
        if tree.exists() and _git(repo, "worktree", "remove", "--force", str(tree)).returncode != 0:
            shutil.rmtree(tree, ignore_errors=True)
        _git(repo, "worktree", "prune")
        shutil.rmtree(parent, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _own_bench(tree: Path, sections: list[str], config: BenchConfig, progress: Progress, *,
               env: dict[str, str], model_id: str | None, adapter: str | None) -> list[Figure]:
    """The sections ``tree``'s own ``python -m ragtune bench`` knows, run there; its figures."""
    from ragtune.bench_demo import run_side

    with tempfile.TemporaryDirectory(prefix="ragtune-side-") as scratch:
        out = Path(scratch) / "bench.json"
        command = [sys.executable, "-P", "-m", "ragtune", "bench", "--only", ",".join(sections), "--out", str(out),
                   "--repeats", str(config.repeats)]
        command += ["--quick"] if config.quick else []
        command += ["--model", model_id] if model_id else []
        command += ["--adapter", adapter] if adapter else []
        run_side(command, tree, env=env, progress=progress, what=f"bench --only {','.join(sections)}")
        return read_figures(json.loads(out.read_text()))


def read_figures(report: dict[str, Any]) -> list[Figure]:
    """The figures of a bench report's JSON (any side's; a value written as null is not a number)."""
    figures = []
    for raw in report.get("figures", []):
        value = raw.get("value")
        figures.append(Figure(**{**raw, "value": float("nan") if value is None else value}))
    return figures


def _rounds(repeats: int) -> list[int]:
    """The demo's repeats in two rounds (ABBA: each side goes first once), or one when there is one repeat."""
    return [repeats] if repeats < 2 else [math.ceil(repeats / 2), repeats // 2]


def run_baseline(ref: str, config: BenchConfig, progress: Progress, *, repo: Path = PROJECT_ROOT,
                 current: Path = PROJECT_ROOT, model_id: str | None = None, adapter: str | None = None
                 ) -> BaselineReport:
    """Run ``config``'s sections on ``ref`` (a worktree of ``repo``) and on the tree ``current``.

    Raises:
        InputError: the ref cannot be measured (:func:`resolve_baseline`).
    """
    from ragtune.bench_demo import browser_figures, demo_figures, pooled, run_probe

    commit = resolve_baseline(ref, repo, demo="demo" in config.sections)
    started, start = datetime.now(UTC), time.perf_counter()
    own = [s for s in config.sections if s != "demo"]
    state = _git(current, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    head = _git(current, "rev-parse", "--short", "HEAD").stdout.strip() or "?"
    sides = {"baseline": SideReport(label=f"{ref} ({commit[:9]})"),
             "current": SideReport(label=f"this checkout ({head}{', with uncommitted changes' if state else ''})")}
    with baseline_worktree(repo, commit) as base_tree, tempfile.TemporaryDirectory(prefix="ragtune-data-") as data:
        trees = {"baseline": base_tree, "current": current}
        envs = {side: {"RAGTUNE_DATA_DIR": str(Path(data) / side)} for side in SIDES}
        probes: dict[str, list[Any]] = {side: [] for side in SIDES}
        browser: dict[str, list[Figure]] = {side: [] for side in SIDES}
        steps: list[tuple[str, Callable[[Side, Progress], None]]] = []
        if own:
            steps.append((f"bench --only {','.join(own)}", lambda side, say: sides[side].figures.extend(
                _own_bench(trees[side], own, config, say, env=envs[side], model_id=model_id, adapter=adapter))))
        if "demo" in config.sections:
            for n, repeats in enumerate(_rounds(config.repeats)):
                steps.append((f"demo, round {n + 1}", lambda side, say, repeats=repeats: probes[side].append(
                    run_probe(trees[side], config, say, model_id=model_id, env=envs[side], repeats=repeats))))
            if config.browser:
                steps.append(("demo, browser", lambda side, say: browser[side].extend(
                    browser_figures(trees[side], config.repeats, say, env=envs[side]))))
        for i, (name, step) in enumerate(steps):
            for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                progress(f"[{side}] {name}")
                try:
                    step(side, lambda message, side=side: progress(f"[{side}] {message}"))
                except RagtuneError as exc:
                    sides[side].errors.append(f"{name}: {exc}")
        for side in SIDES:
            if probes[side]:
                sides[side].figures += demo_figures(pooled(probes[side]), quick=config.quick)
            sides[side].figures += browser[side]
    return BaselineReport(ref=ref, commit=commit, machine=machine_info(), config=config, baseline=sides["baseline"],
                          current=sides["current"], started=started.isoformat(timespec="seconds"),
                          seconds=round(time.perf_counter() - start, 1))


def baseline_markdown(report: BaselineReport) -> str:
    """Both sides as one table (ratio current / baseline; the verdict is the current figure's), then each
    side's notes and failures."""
    m, c = report.machine, report.config
    lines = [
        f"Baseline {report.baseline.label} vs {report.current.label}; {c.repeats} runs after {c.warmup} warm-up "
        f"(medians){' — quick mode' if c.quick else ''}; {report.started}; {fmt(report.seconds)} s.",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}.",
        "",
        side_by_side(report.baseline.figures, report.current.figures),
    ]
    for side in (report.baseline, report.current):
        name = "baseline" if side is report.baseline else "current"
        text = notes(side.figures)
        if text:
            lines.append(text.replace("\nNotes:", f"Notes ({name}):", 1))
        if side.errors:
            lines.append(f"Failed ({name}):\n" + "\n".join(f"- {error}" for error in side.errors) + "\n")
    return "\n".join(lines)
