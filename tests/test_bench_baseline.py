"""``bench --baseline GIT_REF``: refs refused before anything runs, the temporary worktree always removed, the
side-by-side table computed from two reports, and a run end to end on the tiny model (no timing is asserted)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from ragtune.bench import BenchConfig, BenchReport, Figure
from ragtune.bench_baseline import baseline_markdown, baseline_worktree, read_figures, resolve_baseline, run_baseline
from ragtune.bench_table import MET, MISSED, side_by_side
from ragtune.cli import main
from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository with two commits: one without ragtune/, one with a ragtune that has no Lab."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    (path / "README.md").write_text("hello\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "first")
    git(path, "tag", "no-ragtune")
    (path / "ragtune").mkdir()
    (path / "ragtune" / "__main__.py").write_text("print('old')\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "second")
    return path


def test_an_unknown_ref_is_refused_before_anything_runs(tiny_env, capsys):
    before = worktrees(PROJECT_ROOT)
    assert main(["bench", "--baseline", "no-such-ref-anywhere", "--only", "demo"]) == 2
    assert "--baseline: no commit 'no-such-ref-anywhere'" in capsys.readouterr().err
    assert worktrees(PROJECT_ROOT) == before


@pytest.mark.parametrize(("argv", "message"), [
    (["--runtime", "server", "--baseline", "HEAD"], "--baseline applies only to the in-process benchmark"),
    (["--runtime", "server", "--no-browser"], "--no-browser applies only to the in-process benchmark"),
])
def test_the_baseline_and_browser_options_are_refused_with_the_server_runtime(tiny_env, capsys, argv, message):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_that_is_not_a_git_checkout_is_refused(tmp_path: Path):
    with pytest.raises(InputError, match="is not the top of a git checkout"):
        resolve_baseline("HEAD", tmp_path)


def test_a_ref_without_ragtune_or_without_the_lab_is_refused(repo: Path):
    with pytest.raises(InputError, match=r"no-ragtune \(\w{9}\) has no ragtune/ package"):
        resolve_baseline("no-ragtune", repo)
    with pytest.raises(InputError, match="predates the Lab comparison the demo section measures"):
        resolve_baseline("HEAD", repo)
    assert resolve_baseline("HEAD", repo, demo=False) == git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(InputError, match="needs a git ref"):
        resolve_baseline("--all", repo)  # not an option smuggled into git


def test_the_worktree_is_removed_after_use_and_after_a_failure(repo: Path):
    commit = git(repo, "rev-parse", "HEAD").strip()
    with baseline_worktree(repo, commit) as tree:
        assert (tree / "ragtune" / "__main__.py").is_file() and len(worktrees(repo)) == 2
    assert not tree.exists() and len(worktrees(repo)) == 1
    with pytest.raises(RuntimeError), baseline_worktree(repo, commit) as tree:
        raise RuntimeError("a side failed")
    assert not tree.parent.exists() and len(worktrees(repo)) == 1 and not git(repo, "status", "--porcelain")


def report_json(path: Path, figures: list[Figure]) -> Path:
    report = BenchReport(machine={}, model_id="m", config=BenchConfig(), figures=figures, started="now", seconds=1)
    path.write_text(report.model_dump_json())
    return path


def test_the_side_by_side_table_gives_the_ratio_and_the_current_figures_verdict(tmp_path: Path):
    four = dict(section="demo", name="four-mode comparison", unit="s", target="≤ 3.0 s")
    old = report_json(tmp_path / "old.json", [Figure(value=5.0, **four), Figure(section="rag", name="gone", value=1,
                                                                                  unit="ms")])
    new = report_json(tmp_path / "new.json", [Figure(value=2.5, **four),
                                              Figure(section="demo", name="browser", value=float("nan"), unit="s",
                                                     target="≤ 4 s")])
    baseline, current = (read_figures(json.loads(p.read_text())) for p in (old, new))
    assert math.isnan(current[1].value)  # written as null, read back as not a number
    table = side_by_side(baseline, current)
    assert f"| demo | four-mode comparison | s | 5.00 | 2.50 | 0.50 | ≤ 3.0 s | {MET} |" in table
    assert "| demo | browser | s | — | n/a | — | ≤ 4 s | not measured |" in table
    assert "| rag | gone | ms | 1.00 | — | — |  |  |" in table
    slower = side_by_side(current[:1], [Figure(value=6.0, **four)])
    assert f"| 6.00 | 2.40 | ≤ 3.0 s | {MISSED} |" in slower


def test_a_baseline_run_measures_both_sides_and_a_failing_side_is_reported(tiny_env, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    clone = tmp_path / "clone"  # the ref comes from a clone: the checkout's own repository gets no worktree
    subprocess.run(["git", "clone", "--quiet", "--shared", str(PROJECT_ROOT), str(clone)], check=True)
    config = BenchConfig.quick_config(sections=["runtime", "demo"], repeats=1, warmup=0)
    report = run_baseline("HEAD", config, lambda message: None, repo=clone)
    assert not report.baseline.errors and not report.current.errors, (report.baseline.errors, report.current.errors)
    for side in (report.baseline, report.current):
        names = {(f.section, f.name) for f in side.figures}
        assert ("runtime", "ragtune / raw") in names and ("demo", "RAG end to end p50") in names
    table = baseline_markdown(report)
    assert "| demo | four-mode comparison: sum of mode totals, median | s |" in table and "— quick mode" in table
    assert "Notes (baseline):" in table and "Notes (current):" in table
    assert len(worktrees(clone)) == 1

    failed = run_baseline("HEAD", config.model_copy(update={"sections": ["demo"]}), lambda message: None,
                          repo=clone, model_id="no-such-model")
    for side in (failed.baseline, failed.current):
        (error,) = side.errors
        assert error.startswith("demo, round 1: The demo measurement failed (exit 2)") and "no-such-model" in error
    assert "Failed (baseline):\n- demo, round 1:" in baseline_markdown(failed) and len(worktrees(clone)) == 1
