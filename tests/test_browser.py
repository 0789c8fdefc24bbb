"""End to end in a real browser: the served app answers with the real default model.

This is what `make run` gives a user: `streamlit run app.py` on loopback, Debian's
Chromium driven by Playwright. It needs /usr/bin/chromium (`make test` installs it
with apt-get where it can); without it the test is skipped, and says so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def served_app(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_DEMO_WORKSPACE": "",
           "RAGTUNE_N_CTX": "2048"}
    env.pop("RAGTUNE_MODEL_PATH", None)
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_playground_answers_in_the_browser_with_timings(served_app: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served_app)
        expect(page.get_by_role("heading", name="Playground")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("smollm2-135m-instruct-q4_1")).to_be_visible(timeout=120_000)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("Name one colour of the rainbow.")
        box.press("Enter")
        expect(page.get_by_text("Time to first token")).to_be_visible(timeout=120_000)
        answer = page.get_by_test_id("stChatMessage").nth(1).inner_text()
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
        browser.close()
    assert len(answer.split()) >= 2
    assert "Traceback" not in answer


def test_a_deep_link_on_a_fresh_server_gets_the_whole_app(served_app: str):
    """The first request of a new server process may be a shared link (e.g. /decide?...).

    Streamlit runs a folder named ``pages/`` as old-style pages until the first
    st.navigation call of the process, bypassing app.py; our pages live in ``app_pages/``.
    """
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{served_app}/decide?facts=1")
        expect(page.get_by_role("heading", name="Decide: RAG, fine-tuning, or both?")).to_be_visible(timeout=120_000)
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Playground")).to_be_visible(timeout=60_000)
        expect(nav.get_by_text("Benchmark")).to_be_visible()
        expect(page.get_by_text("smollm2-135m-instruct-q4_1")).to_be_visible(timeout=120_000)
        browser.close()
