"""The browser figures of ``python -m ragtune bench --only demo``: the Lab as a stakeholder sees it.

:func:`measure_browser` serves the app of a source tree (this checkout, or an older release's temporary
worktree for ``--baseline``) with ``streamlit run``, opens its Lab in Debian's Chromium through Playwright,
and times the four-mode comparison (:data:`ragtune.modes.DEFAULT_LAB_MODES`) on the Lab's first demo
question, from the click on Compare:

- to the first token of the first column (its answer text appears under the mode's header);
- to the last answer: every column of the live comparison shows its finished answer (or its error), no
  longer the streaming cursor; or, if the page redraws before that is seen, the address gets the
  comparison's permalink (``?run=...``, a new run id each time), which the Lab sets once every mode has
  ended. Both are drawn by the Lab since before this module existed, so an older tree is measured alike;
- to the page settled: the app has stopped running (the finished cards and charts are drawn).

Both moments are taken in the page itself (a ``MutationObserver`` and the ``performance`` clock), not by
polling from here, so the figures are not rounded up to a poll interval. After the comparisons, the app
process's peak resident memory (``VmHWM``, with its children's) is read from ``/proc``.

Only what every tree has is used: ``python -m streamlit run app.py``, the Lab's widget labels and its
containers' keys. Nothing here imports Streamlit; the app runs in its own process group and is stopped at
the end, errors included. Every wait has a limit; a missing browser or a limit reached gives a figure
whose value is NaN and whose note says why, never an exception or a hang.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ragtune.bench import Figure, median
from ragtune.bench_server import free_port, stop_group

Progress = Callable[[str], None]

SECTION = "demo"
LAST_ANSWER = "browser: click → last answer of four modes, p50"
FIRST_TOKEN = "browser: click → first token, p50"
SETTLED = "browser: click → page settled (cards drawn), p50"
MEMORY = "app resident memory (peak)"

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (``make test`` installs it with apt-get); Playwright's own browsers are never downloaded."""
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]

START_LIMIT_S = 180.0
"""From ``streamlit run`` to ``/_stcore/health`` answering."""
WARMUP_LIMIT_S = 1200.0
"""The Lab's first drawing and the warm-up comparison: the model loads and, on a fresh data directory, the demo
knowledge base is built (minutes on two cores)."""
RUN_LIMIT_S = 300.0
"""One timed comparison, click to last answer, and the redrawing after it."""
UI_LIMIT_S = 30.0
"""A click or a choice on a page that has finished running (Compare, the demo question)."""


class BrowserRun(BaseModel):
    """One timed comparison, in seconds from the click on Compare (``first_token_s`` None: not seen)."""

    last_answer_s: float
    first_token_s: float | None = None
    settled_s: float | None = None
    """When the app stopped running (the finished cards and charts drawn after the answers)."""
    signal: str = "columns"
    """What showed the last answer: every column complete ("columns") or the new permalink ("address")."""


class BrowserLimit(Exception):
    """A wait reached its limit, or the app or the page failed (the message says which)."""


# -- the app -------------------------------------------------------------------------------------------------


@contextmanager
def served_app(tree: Path, *, env: dict[str, str] | None, progress: Progress,
               start_limit_s: float = START_LIMIT_S) -> Iterator[tuple[str, int, Path]]:
    """``python -m streamlit run app.py`` in ``tree`` on a free loopback port, in its own process group;
    yields (URL, pid, log file) once ``/_stcore/health`` answers, and stops the whole group at the end.

    ``env`` is merged over this process's environment; RAGTUNE_DATA_DIR is a fresh temporary directory
    (removed at the end) unless ``env`` names one (this process's own is not used).

    Raises:
        BrowserLimit: the app ended or did not answer within ``start_limit_s`` (with its log's end).
    """
    tree = tree.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="ragtune-bench-browser-"))
    merged = {**os.environ, **(env or {})}
    # never this shell's data directory: a measurement starts from nothing and leaves nothing behind
    merged["RAGTUNE_DATA_DIR"] = (env or {}).get("RAGTUNE_DATA_DIR") or str(scratch / "data")
    merged["PYTHONPATH"] = str(tree)  # the tree's own ragtune, not this checkout's
    port = free_port()
    log = scratch / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    progress(f"starting the app of {tree} on port {port}")
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=tree, env=merged, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_limit_s
        while not _healthy(url):
            if process.poll() is not None:
                raise BrowserLimit(f"the app stopped before it answered (exit {process.returncode})" + tail(log))
            if time.monotonic() > deadline:
                raise BrowserLimit(f"the app did not answer {url}/_stcore/health within {start_limit_s:.0f} s"
                                   + tail(log))
            time.sleep(0.5)
        yield url, process.pid, log
    finally:
        stop_group(process)
        shutil.rmtree(scratch, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def tail(log: Path, chars: int = 1500) -> str:
    """The end of the app's log, to put after a message (empty when there is none)."""
    try:
        text = log.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""
    return f"; the end of its log: {text}" if text else ""


def peak_memory_bytes(pid: int) -> int | None:
    """The peak resident memory (``VmHWM``) of process ``pid`` plus that of every other living process of its
    group (the children it started); None when ``/proc`` cannot tell (not Linux, or the process is gone).

    The sum is an upper bound of the group's peak: each process's peak may have come at another moment."""
    total, found = 0, False
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            group = int(stat[stat.rindex(")") + 2:].split()[2])  # after the name: state, ppid, pgrp
            if int(entry.name) != pid and group != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
                    found = True
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    return total if found else None


# -- the page ------------------------------------------------------------------------------------------------

# Installed in the page before each click. It notes (performance.now(), ms) the click on Compare; the first
# answer text under the first column's header of the live comparison ("first"); and the moment every column
# of that comparison shows a finished answer or its error ("done"): text under its header, without the
# streaming cursor or a waiting note. Headers that existed before the click are not this comparison's. The
# address getting a new run id (the permalink, set once every mode has ended) also counts as done: the page
# may draw the finished cards before the observer sees the columns complete.
_WATCH = r"""
(button) => {
  const old = window.__ragtuneWatch;
  if (old) { old.observer.disconnect(); clearInterval(old.timer); }
  const HEAD = '[class*="st-key-lab_live_head_"]';
  const CURSOR = "\u258c";
  const waiting = ["Sent: waiting for the first token", "Waiting for the model"];
  const runOf = () => new URLSearchParams(window.location.search).get("run");
  const before = new WeakSet(document.querySelectorAll(HEAD));
  const w = {click: null, first: null, done: null, run: runOf(), by: null};
  const answer = (column) => {  // the column's text under its header; null: none yet or still coming
    const head = column.querySelector(HEAD);
    if (!head || before.has(head)) return null;
    const rest = column.innerText.replace(head.innerText, "").trim();
    if (!rest || waiting.some((t) => rest.startsWith(t))) return null;
    return rest;
  };
  const check = () => {
    if (w.click === null || w.done !== null) return;
    const now = performance.now();
    const head0 = [...document.querySelectorAll('[class*="st-key-lab_live_head_0_"]')].find((h) => !before.has(h));
    const row = head0 && head0.closest('[data-testid="stHorizontalBlock"]');
    if (row) {
      const columns = [...row.querySelectorAll('[data-testid="stColumn"]')]
        .filter((c) => c.closest('[data-testid="stHorizontalBlock"]') === row);
      const texts = columns.map(answer);
      if (w.first === null && texts[0] !== null) w.first = now;
      if (columns.length && texts.every((t) => t !== null && !t.includes(CURSOR))) { w.done = now; w.by = "columns"; }
    }
    const run = runOf();
    if (w.done === null && run && run !== w.run) { w.done = now; w.by = "address"; }
  };
  w.observer = new MutationObserver(check);
  w.observer.observe(document.body, {subtree: true, childList: true, characterData: true});
  w.timer = setInterval(check, 10);  // the address changes without a DOM mutation
  button.addEventListener("click", () => { if (w.click === null) w.click = performance.now(); },
                          {capture: true, once: true});
  window.__ragtuneWatch = w;
}
"""

_SEEN = """() => { const w = window.__ragtuneWatch;
  return w ? {click: w.click, first: w.first, done: w.done, by: w.by, settled: window.__ragtuneBusy.at} : null; }"""


def open_lab(page: Any, url: str, *, question: str | None, limit_s: float) -> str:
    """Open the Lab and set its question: ``question``, or the first demo question (picked in its list, which
    fills the box); returns the question asked. The modes are the Lab's defaults."""
    from playwright.sync_api import expect

    ms = limit_s * 1000
    page.goto(f"{url}/lab", timeout=ms)
    expect(page.get_by_role("heading", name="Lab", exact=True)).to_be_visible(timeout=ms)
    box = page.get_by_label("Question (up to", exact=False)
    expect(box).to_be_visible(timeout=ms)
    wait_idle(page, limit_s)
    if question is None:  # the list's first entry is "(your own question)"
        ui = UI_LIMIT_S * 1000
        page.get_by_test_id("stSelectbox").filter(has_text="Demo question").click(timeout=ui)
        options = page.get_by_role("option")
        expect(options.nth(1)).to_be_visible(timeout=ui)
        options.nth(1).click(timeout=ui)
        expect(box).not_to_have_value("", timeout=ui)
        wait_idle(page, limit_s)
        return box.input_value()
    box.fill(question)
    box.press("Tab")  # the text area sends its value when it loses focus
    wait_idle(page, limit_s)
    return question


# Streamlit marks its root with the script's state ("running", "notRunning", ...). A run that ends in st.rerun is
# followed by the next at once, so "idle" is the state staying "notRunning" for a while, with every change of the
# attribute noted as it happens (a short run between two polls is not missed).
_IDLE = r"""
(quietMs) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (!window.__ragtuneBusy) {
    window.__ragtuneBusy = {at: performance.now()};
    new MutationObserver(() => { window.__ragtuneBusy.at = performance.now(); })
      .observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
  }
  if (app.getAttribute("data-test-script-state") !== "notRunning") {
    window.__ragtuneBusy.at = performance.now();
    return false;
  }
  return performance.now() - window.__ragtuneBusy.at >= quietMs;
}
"""


def wait_idle(page: Any, limit_s: float, *, quiet_ms: int = 500) -> None:
    """Wait until the app has stopped running the page: its script state "notRunning" for ``quiet_ms``."""
    page.wait_for_function(_IDLE, arg=quiet_ms, timeout=limit_s * 1000, polling=50)


def timed_comparison(page: Any, *, limit_s: float) -> BrowserRun:
    """Click Compare, wait until every column shows its finished answer (or the permalink comes) and the app
    has stopped running; the times are the page's own.

    Raises:
        BrowserLimit: the answers did not all come within ``limit_s``.
    """
    from playwright.sync_api import Error as PlaywrightError

    button = page.get_by_role("button", name="Compare")
    try:
        button.wait_for(timeout=UI_LIMIT_S * 1000)  # the page is idle: the button is there or never will be
        page.evaluate(_WATCH, button.element_handle())
        button.click(timeout=UI_LIMIT_S * 1000)
    except PlaywrightError as exc:
        raise BrowserLimit(f"the Lab's Compare button could not be clicked ({_first_line(exc)})") from exc
    try:
        page.wait_for_function("() => window.__ragtuneWatch.done !== null", timeout=limit_s * 1000, polling=100)
        wait_idle(page, limit_s)
    except PlaywrightError as exc:
        raise BrowserLimit(f"the comparison did not finish within {limit_s:.0f} s ({_first_line(exc)})") from exc
    seen = page.evaluate(_SEEN)
    if seen is None or seen["click"] is None:
        raise BrowserLimit("the click on Compare was not seen by the page")

    def since_click(at: float | None) -> float | None:
        return None if at is None else (at - seen["click"]) / 1000

    return BrowserRun(last_answer_s=(seen["done"] - seen["click"]) / 1000, first_token_s=since_click(seen["first"]),
                      settled_s=since_click(seen["settled"]), signal=seen["by"])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- the figures ---------------------------------------------------------------------------------------------


def browser_figures(runs: list[BrowserRun], memory_bytes: int | None, *, note: str = "", question: str = ""
                    ) -> list[Figure]:
    """The figures of the timed runs (p50 over them) and of the peak memory; ``note`` (why runs are missing)
    and the question asked go on each time figure."""
    asked = f"question: “{question}”" if question else ""
    by_address = sum(r.signal == "address" for r in runs)
    seen = (f"the last answer was seen by the new permalink in {by_address} of {len(runs)} runs (the page redrew "
            "before the columns were seen complete)") if by_address else ""
    last = [r.last_answer_s for r in runs]
    first = [r.first_token_s for r in runs if r.first_token_s is not None]
    settled = [r.settled_s for r in runs if r.settled_s is not None]
    figures = [Figure(section=SECTION, name=LAST_ANSWER, value=median(last), unit="s", samples=len(last),
                      target="≤ 4 s", note="; ".join(n for n in (note, seen, asked) if n))]
    notes = "; ".join(n for n in (note, asked) if n)
    for name, values in ((FIRST_TOKEN, first), (SETTLED, settled)):
        if values or not runs:
            figures.append(Figure(section=SECTION, name=name, value=median(values), unit="s", samples=len(values),
                                  note=notes))
    if memory_bytes is not None:
        figures.append(Figure(section=SECTION, name=MEMORY, value=round(memory_bytes / 1e9, 3), unit="GB",
                              samples=1, target="≤ 1.5 GB",
                              note="VmHWM of the streamlit process and its children, after the comparisons"))
    else:
        figures.append(Figure(section=SECTION, name=MEMORY, value=math.nan, unit="GB", target="≤ 1.5 GB",
                              note="not measured: /proc could not tell"))
    return figures


def missing_browser(chromium: Path) -> str | None:
    """What is missing to drive a browser here (None: nothing)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    if not chromium.is_file() or not os.access(chromium, os.X_OK):
        return f"Chromium is not installed at {chromium} (apt-get install chromium)"
    return None


def measure_browser(tree: Path, *, repeats: int, progress: Progress, env: dict[str, str] | None = None,
                    question: str | None = None, chromium: Path | None = None,
                    limits: tuple[float, float, float] = (START_LIMIT_S, WARMUP_LIMIT_S, RUN_LIMIT_S)
                    ) -> list[Figure]:
    """Serve the app of ``tree``, compare the Lab's default modes once to warm up, then ``repeats`` times timed;
    return the figures of section "demo": click → last answer (p50, target ≤ 4 s), click → first token of the
    first column (p50), click → page settled (the finished cards drawn, p50), and the app's peak resident
    memory (target ≤ 1.5 GB).

    Args:
        tree: the source tree whose app is served (its ``app.py`` and ``ragtune``).
        repeats: timed comparisons after the warm-up.
        progress: told what happens (the warm-up can take minutes).
        env: environment overrides for the app (RAGTUNE_DATA_DIR: a fresh temporary directory unless given).
        question: the question asked (None: the Lab's first demo question).
        chromium: the browser (None: :data:`CHROMIUM`).
        limits: seconds allowed to start the app, to draw the Lab and warm up, and for each timed comparison.

    Returns:
        The figures; without Playwright or Chromium, one NaN figure saying what is missing. A limit reached
        or a failing app gives NaN (or fewer samples) with a note saying so.
    """
    chromium = chromium or CHROMIUM
    missing = missing_browser(chromium)
    if missing is not None:
        progress(f"browser figures skipped: {missing}")
        return [Figure(section=SECTION, name=LAST_ANSWER, value=math.nan, unit="s", samples=0, target="≤ 4 s",
                       note=f"not measured: {missing}")]
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    start_s, warmup_s, run_s = limits
    runs: list[BrowserRun] = []
    memory: int | None = None
    note, asked = "", question or ""
    try:
        with served_app(tree, env=env, progress=progress, start_limit_s=start_s) as (url, pid, log), \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS,
                                                 timeout=start_s * 1000)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1400})
                try:
                    progress("opening the Lab (on a fresh data directory the demo documents are indexed first)")
                    asked = open_lab(page, url, question=question, limit_s=warmup_s)
                    progress(f"warm-up comparison (the model loads): “{asked}”")
                    timed_comparison(page, limit_s=warmup_s)
                    for index in range(repeats):
                        runs.append(timed_comparison(page, limit_s=run_s))
                        progress(f"comparison {index + 1} of {repeats}: last answer {runs[-1].last_answer_s:.2f} s")
                except (BrowserLimit, PlaywrightError, AssertionError) as exc:  # expect() fails with AssertionError
                    note = (f"stopped after {len(runs)} of {repeats} timed comparisons: {_first_line(exc)}"
                            + tail(log, chars=600))
                    progress(note)
                memory = peak_memory_bytes(pid)
            finally:
                browser.close()
    except (BrowserLimit, PlaywrightError, AssertionError) as exc:  # expect() fails with AssertionError
        note = f"not measured: {exc}"
        progress(note)
    return browser_figures(runs, memory, note=note, question=asked)
