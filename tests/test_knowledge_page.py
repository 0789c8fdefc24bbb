"""The Knowledge page, driven by Streamlit's AppTest on real chromadb in the test's data directory."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from tests.retrieval_fixtures import embedding_function  # noqa: F401

PAGE = str(PROJECT_ROOT / "app_pages" / "knowledge.py")
GUIDE = b"# Mower guide\n\nThe Zephyr mower costs $450.\n\n## Battery\n\nThe battery lasts 70 minutes.\n"


def texts(at: AppTest) -> str:
    return " ".join(str(t.value) for t in [*at.text, *at.markdown, *at.caption, *at.success])


@pytest.fixture()
def page(data_dir, monkeypatch, embedding_function) -> AppTest:
    """The page with one empty workspace 'team' and the demo turned off (it has its own test)."""
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    KnowledgeBase.from_settings(load_settings(), embedding_function).create_workspace("team")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def documents(at: AppTest) -> list[str]:
    """The document ids in the page's document table (the last table on the page)."""
    return sorted(at.dataframe[-1].value["document"])


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="kn_upload").set_value([(name, data, "application/octet-stream") for name, data in files])
    at.run()
    at.button(key="kn_ingest").click().run()
    assert not at.exception, at.exception
    return at


def test_uploading_many_files_shows_per_file_results_and_lists_the_documents(page):
    upload(page, ("guide.md", GUIDE), ("notes.txt", b"Team meeting every Friday at 10:00."))
    assert "2 of 2 files ingested into 'team'" in page.success[0].value
    assert documents(page) == ["guide", "notes"]
    assert page.metric[0].value == "2"
    assert not page.error


def test_a_whole_folder_can_be_uploaded(page):
    page.toggle(key="kn_folder_mode").set_value(True).run()
    page.file_uploader(key="kn_upload_folder").set_value(
        [("docs/a.md", b"# A\n\nAlpha.", "text/markdown"), ("docs/sub/b.txt", b"Beta.", "text/plain")])
    page.run()
    page.button(key="kn_ingest").click().run()
    assert not page.exception and documents(page) == ["a", "b"]


def test_a_bad_file_is_shown_as_an_error_and_the_rest_is_ingested(page):
    upload(page, ("guide.md", GUIDE), ("empty.txt", b""), ("photo.md", bytes(range(256))))
    errors = [e.value for e in page.error]
    assert any(e.startswith("empty.txt: the file is empty") for e in errors)
    assert any(e.startswith("photo.md: contains binary data") for e in errors)
    assert "1 of 3 files ingested" in page.warning[0].value
    assert documents(page) == ["guide"]


def test_editing_a_document_reindexes_it_and_search_finds_the_new_text(page):
    upload(page, ("guide.md", GUIDE))
    page.text_input(key="kn_query").set_value("how long does the battery last").run()
    assert "70 minutes" in texts(page)
    page.text_area(key="kn_edit_guide_v1").set_value(GUIDE.decode().replace("70 minutes", "95 minutes")).run()
    page.button(key="kn_save").click().run()
    assert not page.exception and not page.error
    assert "re-indexed as version 2" in page.success[0].value
    shown = texts(page)
    assert "95 minutes" in shown and "70 minutes" not in shown
    assert "guide#1" in shown


def test_search_shows_ranked_chunks_with_scores_in_the_chosen_mode(page):
    upload(page, ("guide.md", GUIDE))
    page.text_input(key="kn_query").set_value("Zephyr price").run()
    page.radio(key="kn_mode").set_value("keyword").run()
    shown = texts(page)
    assert "keyword search" in shown and "[1] Mower guide" in shown and "score " in shown


def test_deleting_a_document_asks_for_confirmation_first(page):
    upload(page, ("guide.md", GUIDE), ("notes.txt", b"Notes."))
    page.button(key="kn_delete_doc").click().run()
    assert "Delete 'Mower guide'" in page.warning[-1].value
    assert documents(page) == ["guide", "notes"]
    page.button(key="kn_delete_doc_yes").click().run()
    assert not page.exception
    assert documents(page) == ["notes"]


def test_a_workspace_can_be_created_and_is_then_selected(page):
    page.text_input(key="kn_new_name").set_value("legal").run()
    page.button(key="kn_create").click().run()
    assert not page.exception and page.selectbox(key="kn_workspace").value == "legal"
    assert "No documents yet" in page.info[0].value


def test_an_invalid_workspace_name_is_an_error_not_a_traceback(page):
    page.text_input(key="kn_new_name").set_value("no spaces allowed").run()
    page.button(key="kn_create").click().run()
    assert not page.exception
    assert "Invalid workspace name" in page.error[0].value


def test_emptying_a_workspace_needs_confirmation(page):
    upload(page, ("guide.md", GUIDE))
    page.button(key="kn_empty").click().run()
    page.button(key="kn_empty_cancel").click().run()
    assert documents(page) == ["guide"]
    page.button(key="kn_empty").click().run()
    page.button(key="kn_empty_yes").click().run()
    assert "No documents yet" in page.info[0].value


def test_the_demo_workspace_exists_on_first_start_and_switches_to_v2(data_dir):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="kn_workspace").value == "demo" and at.metric[0].value == "25"
    at.text_input(key="kn_query").set_value("How much does the Mowbot M4 Pro cost?").run()
    assert "$2,149" in texts(at)
    at.radio(key="kn_demo_version").set_value("v2").run()
    assert not at.exception and "Demo is now v2" in at.success[0].value
    assert "$1,999" in texts(at) and "$2,149" not in texts(at)
    at.run()
    assert at.radio(key="kn_demo_version").value == "v2"


def test_files_still_in_the_uploader_are_not_ingested_again(page):
    upload(page, ("guide.md", GUIDE), ("notes.txt", b"Notes."))
    page.run()  # any later rerun (another click) with the files still sitting in the uploader
    assert not _has_button(page, "kn_ingest")
    assert "The files in the uploader are ingested" in " ".join(c.value for c in page.caption)
    # Uploaded anew (new upload ids), unchanged content is recognised by its hash: no new version.
    upload(page, ("guide.md", GUIDE), ("notes.txt", b"Notes."), ("more.md", b"# More\n\nA new file."))
    assert list(page.dataframe[0].value["result"]) == ["unchanged", "unchanged", "added"]
    assert [d.version for d in KnowledgeBase.from_settings(load_settings()).list_documents("team")] == [1, 1, 1]


def _has_button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def test_the_uploader_states_the_identity_rule_and_the_size_limit_of_the_settings(data_dir, monkeypatch,
                                                                                   embedding_function):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MAX_UPLOAD_MB", "7")
    KnowledgeBase.from_settings(load_settings(), embedding_function).create_workspace("team")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    uploader = at.file_uploader(key="kn_upload")
    assert uploader.proto.max_upload_size_mb == 7
    assert "same path again replaces that document" in uploader.proto.help
    at.toggle(key="kn_folder_mode").set_value(True).run()
    assert at.file_uploader(key="kn_upload_folder").proto.max_upload_size_mb == 7


def test_a_folder_upload_keeps_same_named_files_apart(page):
    page.toggle(key="kn_folder_mode").set_value(True).run()
    page.file_uploader(key="kn_upload_folder").set_value(
        [("docs/a/README.md", b"Alpha readme.", "text/markdown"),
         ("docs/b/README.md", b"Beta readme.", "text/markdown")])
    page.run()
    page.button(key="kn_ingest").click().run()
    assert not page.exception and "2 of 2 files ingested" in page.success[0].value
    sources = sorted(page.dataframe[-1].value["file"])
    assert sources == ["a/README.md", "b/README.md"]


def test_a_deleted_demo_workspace_can_be_restored_from_the_page(data_dir, embedding_function, monkeypatch):
    monkeypatch.setenv("RAGTUNE_DEMO_TENANTS", "false")  # the demo workspace alone: deleting it leaves none
    at = AppTest.from_file(PAGE, default_timeout=180)  # the first start builds the demo
    at.run()
    at.button(key="kn_delete_ws").click().run()
    at.button(key="kn_delete_ws_yes").click().run()
    assert not at.exception and "Create a workspace to add documents." in at.info[0].value
    at.button(key="kn_restore_demo").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="kn_workspace").value == "demo" and at.metric[0].value == "25"
    assert not _has_button(at, "kn_restore_demo")


def test_make_run_gives_streamlit_the_upload_limit_of_the_settings(monkeypatch):
    import os
    import re
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("needs make")
    dry = subprocess.run(["make", "-n", "run"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    line = next(line for line in dry.stdout.splitlines() if "streamlit run app.py" in line)
    value = re.search(r'--server\.maxUploadSize "(\$\(.*\))"', line)
    assert value, line
    env = {**os.environ, "RAGTUNE_MAX_UPLOAD_MB": "7"}
    shown = subprocess.run(["bash", "-c", f"echo {value.group(1)}"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == "7", shown



def _ingest_one_large_file() -> None:
    from components.knowledge import render_ingest_progress
    from ragtune.retrieval.progress import report_chunks
    from ragtune.retrieval.types import FileResult, IngestReport

    def ingest(progress):
        report_chunks("big.txt", 256, 1000)  # what the knowledge base reports after each batch
        result = FileResult(name="big.txt", status="added", doc_id="big", version=1, n_chunks=1000)
        progress(1, 1, result)
        return IngestReport(workspace="team", files=[result])

    render_ingest_progress(ingest, n_files=1)


def test_a_large_file_shows_its_own_chunk_progress():
    at = AppTest.from_function(_ingest_one_large_file).run()
    assert not at.exception, at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert "big.txt: 256/1,000 chunks embedded" in texts, texts


def test_documents_chunked_with_other_settings_are_flagged_and_rechunked_from_the_page(data_dir, monkeypatch,
                                                                                        embedding_function):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    old = KnowledgeBase.from_settings(load_settings(chunk_size=500, chunk_overlap=60), embedding_function)
    old.create_workspace("team")
    long_text = "# Handbook\n\n" + " ".join(f"Rule {n}: team {n} gets {n * 7} units a week." for n in range(30))
    assert old.ingest_bytes("team", [("handbook.md", long_text.encode())]).ok
    old.manifest.close()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    [warning] = [w for w in at.warning if "chunked with other settings" in str(w.value)]
    assert "1 document was" in str(warning.value) and "300 characters, 40 overlap" in str(warning.value)
    at.button(key="kn_stale_button").click().run()
    assert not at.exception, at.exception
    assert any("Re-chunked" in str(s.value) for s in at.success)
    assert not [w for w in at.warning if "chunked with other settings" in str(w.value)]
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    assert kb.stale_documents("team") == [] and kb.list_documents("team")[0].version == 1
    kb.manifest.close()
