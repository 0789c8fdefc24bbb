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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT
from ragtune.tour import TOUR

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


@contextmanager
def serve(data_dir: Path, log_path: Path, *, streamlit_args: Sequence[str] = (), **env_overrides: str
          ) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port, as `make run` starts it; yields its URL.

    The default model unless ``env_overrides`` name another (RAGTUNE_MODEL_PATH); ``streamlit_args`` are more
    options for ``streamlit run`` (e.g. ``--secrets.files``)."""
    port = free_port()
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_DEMO_WORKSPACE": "", "RAGTUNE_N_CTX": "2048"}
    env.pop("RAGTUNE_MODEL_PATH", None)
    env.update(env_overrides)
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *streamlit_args],
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
                pytest.fail("streamlit did not start:\n" + log_path.read_text())
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture()
def served_app(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    with serve(data_dir, tmp_path / "streamlit.log") as url:
        yield url


def test_the_playground_answers_in_the_browser_with_timings(served_app: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{served_app}/playground")
        expect(page.get_by_role("heading", name="Playground", exact=True)).to_be_visible(timeout=120_000)
        expect(page.get_by_text("smollm2-135m-instruct-q8_0")).to_be_visible(timeout=120_000)
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
        expect(page.get_by_text("smollm2-135m-instruct-q8_0")).to_be_visible(timeout=120_000)
        browser.close()


SCREENSHOTS = os.environ.get("RAGTUNE_SCREENSHOTS", "")
"""A folder to keep the demo walk's screenshots in (`make screenshots` sets it to docs/images)."""


def shot(page, tmp_path: Path, name: str) -> None:  # noqa: ANN001 - a Playwright page
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=False)


def test_a_presenter_walks_home_the_tour_decide_and_the_lab_on_the_real_model(data_dir: Path, tmp_path: Path):
    """The stakeholder demo as a presenter gives it: Home, every tour step run live, a shared Decide
    link, and the Lab it opens, answering a question on the demo documents."""
    from playwright.sync_api import expect, sync_playwright

    with serve(data_dir, tmp_path / "streamlit.log", RAGTUNE_DEMO_WORKSPACE="demo") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # tall enough that a step's answers show beside its claim in the screenshots
        page = browser.new_page(viewport={"width": 1500, "height": 2600})
        wait = 180_000
        page.goto(url)
        expect(page.get_by_role("heading", name="ragtune", exact=True)).to_be_visible(timeout=wait)
        expect(page.get_by_text("RAG is about what the model knows; fine-tuning is about how it behaves.")
               ).to_be_visible()
        expect(page.get_by_text("loaded ·")).to_be_visible(timeout=wait)  # the live status: the model is in
        shot(page, tmp_path, "home")

        page.get_by_role("link", name="Take the tour").click()
        expect(page.get_by_role("heading", name=TOUR[0].title)).to_be_visible(timeout=wait)
        page.get_by_role("button", name="Run it live").click()
        expect(page.get_by_text("predictions held")).to_be_visible(timeout=wait)
        expect(page.get_by_text("correct", exact=True).first).to_be_visible()  # RAG's verdict badge
        shot(page, tmp_path, "tour-facts")
        for title in (TOUR[1].title, TOUR[2].title):
            page.get_by_role("button", name="Next").click()
            expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=wait)
            page.get_by_role("button", name="Run it live").click()
            expect(page.get_by_text("predictions held")).to_be_visible(timeout=wait)
        shot(page, tmp_path, "tour-both")

        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=TOUR[3].title)).to_be_visible(timeout=wait)
        page.get_by_role("button", name="1 · Copy the demo documents and ask").click()
        expect(page.get_by_text("predictions held")).to_be_visible(timeout=wait)
        page.get_by_role("button", name="2 · Change the fact (version 2) and ask again").click()
        expect(page.get_by_text("After the change: version 2 of the documents")).to_be_visible(timeout=wait)
        expect(page.get_by_text("stale", exact=True).first).to_be_visible(timeout=wait)  # the knowledge LoRA
        shot(page, tmp_path, "tour-freshness")

        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=TOUR[4].title)).to_be_visible(timeout=wait)
        page.get_by_role("button", name="Route them live").click()
        expect(page.get_by_text("routed:").first).to_be_visible(timeout=wait)
        shot(page, tmp_path, "tour-routing")
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=TOUR[5].title)).to_be_visible(timeout=wait)
        page.get_by_role("button", name="Run it live").click()  # constrained decoding, live too
        expect(page.get_by_text("predictions held")).to_be_visible(timeout=wait)
        shot(page, tmp_path, "tour-constrained")
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=TOUR[6].title)).to_be_visible(timeout=wait)
        page.get_by_role("button", name="Ask as both users").click()  # the multi-tenant step: two demo users
        expect(page.get_by_text("checks held")).to_be_visible(timeout=wait)
        expect(page.get_by_text("is refused tenant-south")).to_be_visible()
        shot(page, tmp_path, "tour-tenants")
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name=TOUR[7].title)).to_be_visible(timeout=wait)
        expect(page.get_by_text("break-even: month").first).to_be_visible(timeout=wait)
        shot(page, tmp_path, "tour-economics")
        page.get_by_role("link", name="On to Decide").click()
        expect(page.get_by_role("heading", name="Decide: RAG, fine-tuning, or both?")).to_be_visible(timeout=wait)

        page.goto(f"{url}/decide?step=6&facts=1&cite=1&tone=1&prompting=fails")  # a link a colleague shared
        expect(page.get_by_role("link", name="Open the Lab with these modes")).to_be_visible(timeout=wait)
        shot(page, tmp_path, "decide")
        page.get_by_role("link", name="Open the Lab with these modes").click()
        expect(page.get_by_role("heading", name="Lab", exact=True)).to_be_visible(timeout=wait)
        page.get_by_label("Question (up to 2,000 characters)").fill("What is the price of the Poolpilot P1 pool robot?")
        page.get_by_role("button", name="Compare").click()
        expect(page.get_by_text("Every lab query so far")).to_be_visible(timeout=wait)
        expect(page.get_by_role("button", name="HTML one-pager")).to_be_visible(timeout=wait)
        shot(page, tmp_path, "lab")
        text = page.inner_text("body")
        browser.close()
    assert "Traceback" not in text and "Something went wrong" not in text
