"""``python -m ragtune access`` and ``--user``: with sign-in on, every command acts for a user and goes through
that user's permissions; ``access`` is an admin's. In process through the CLI's main function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.access import Access
from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.store import QueryLog
from tests.test_store import answer

ADMIN = "boss@x.org"


@pytest.fixture()
def signed_in(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    """Sign-in on, one admin, no demo workspace (seeding it is not what these tests are about)."""
    monkeypatch.setenv("RAGTUNE_AUTH", "proxy")
    monkeypatch.setenv("RAGTUNE_ADMINS", ADMIN)
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.delenv("RAGTUNE_USER", raising=False)
    return data_dir


def members() -> list[tuple[str, str, str]]:
    return [(m.email, m.workspace, m.role) for m in Access.from_settings(load_settings()).store.members()]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_command_that_acts_for_a_user_needs_one_when_sign_in_is_on(signed_in, capsys) -> None:
    for argv in (["workspaces"], ["search", "price", "-w", "team"], ["history"], ["access", "list"],
                 ["lab", "How much?", "--modes", "base"], ["eval", "--limit", "1"], ["ask", "Hi?"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and "RAGTUNE_AUTH=proxy" in err and "--user EMAIL" in err and "RAGTUNE_USER" in err, argv
        assert "Traceback" not in err and out == ""


def test_a_bad_user_address_is_refused(signed_in, capsys) -> None:
    code, _, err = run(capsys, "workspaces", "--user", "ana at x")
    assert code == 2 and "Invalid e-mail address" in err


def test_ingest_makes_the_user_the_owner_and_others_cannot_read_it(signed_in, tmp_path, capsys) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nThe Poolpilot P1 costs $1,249.\n")
    code, out, _ = run(capsys, "ingest", "-w", "ana-docs", str(doc), "--user", "ana@x.org")
    assert code == 0 and "created workspace ana-docs" in out
    assert ("ana@x.org", "ana-docs", "owner") in members()
    code, out, _ = run(capsys, "search", "Poolpilot price", "-w", "ana-docs", "--user", "ana@x.org")
    assert code == 0 and "1,249" in out
    code, out, err = run(capsys, "search", "Poolpilot price", "-w", "ana-docs", "--user", "bob@x.org")
    assert code == 2 and "bob@x.org may not read workspace 'ana-docs'" in err and "1,249" not in out
    code, _, err = run(capsys, "ingest", "-w", "ana-docs", str(doc), "--user", "bob@x.org")
    assert code == 2 and "may not change documents in workspace 'ana-docs'" in err
    code, _, err = run(capsys, "workspaces", "delete", "ana-docs", "--yes", "--user", "bob@x.org")
    assert code == 2 and "may not rename or delete" in err
    code, out, _ = run(capsys, "workspaces", "--json", "--user", "bob@x.org")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "search", "price", "-w", "ana-doc", "--user", "bob@x.org")  # a typo: not a role
    assert code == 2 and "No workspace 'ana-doc' among yours (none yet)" in err
    code, out, _ = run(capsys, "workspaces", "--json", "--user", "ana@x.org")
    assert [(w["name"], w["role"]) for w in json.loads(out)] == [("ana-docs", "owner")]


def test_an_admin_grants_and_revokes_and_the_grant_takes_effect(signed_in, tmp_path, monkeypatch, capsys) -> None:
    assert run(capsys, "workspaces", "create", "team", "--user", "ana@x.org")[0] == 0
    monkeypatch.setenv("RAGTUNE_USER", ADMIN)  # RAGTUNE_USER stands for --user
    code, out, _ = run(capsys, "access", "grant", "bob@x.org", "team", "viewer")
    assert code == 0 and "bob@x.org is now a viewer of team" in out
    code, out, _ = run(capsys, "workspaces", "--user", "bob@x.org")
    assert code == 0 and "team" in out and "(viewer)" in out
    code, out, _ = run(capsys, "access", "list", "--json")
    listing = json.loads(out)
    team = next(w for w in listing["workspaces"] if w["name"] == "team")
    assert {(m["email"], m["role"]) for m in team["members"]} == {("ana@x.org", "owner"), ("bob@x.org", "viewer")}
    assert listing["admins"] == [ADMIN] and {u["user"]["email"] for u in listing["users"]} >= {"bob@x.org"}
    code, out, _ = run(capsys, "access", "list")
    assert code == 0 and "bob@x.org (viewer)" in out and "Admins (RAGTUNE_ADMINS): boss@x.org" in out
    code, out, _ = run(capsys, "access", "revoke", "bob@x.org", "team")
    assert code == 0 and ("bob@x.org", "team", "viewer") not in members()
    code, _, err = run(capsys, "access", "revoke", "bob@x.org", "team")
    assert code == 2 and "has no role on 'team'" in err


@pytest.mark.parametrize(("argv", "says"), [
    (["access", "grant", "not-an-address", "team", "viewer"], "Invalid e-mail address"),
    (["access", "grant", "bob@x.org", "team", "boss"], "Invalid role 'boss'"),
    (["access", "grant", "bob@x.org", "nowhere", "viewer"], "No workspace 'nowhere'"),
    (["access", "grant", "bob@x.org", "demo-eval-v1", "viewer"], "No workspace 'demo-eval-v1'"),
])
def test_a_bad_grant_changes_nothing(signed_in, capsys, argv, says) -> None:
    assert run(capsys, "workspaces", "create", "team", "--user", ADMIN)[0] == 0
    before = members()
    code, _, err = run(capsys, *argv, "--user", ADMIN)
    assert code == 2 and says in err and "Traceback" not in err
    assert members() == before


def test_access_is_an_admins_command(signed_in, capsys) -> None:
    assert run(capsys, "workspaces", "create", "team", "--user", "ana@x.org")[0] == 0
    for argv in (["access", "list"], ["access", "grant", "ana@x.org", "team", "viewer"],
                 ["access", "revoke", "ana@x.org", "team"]):
        code, out, err = run(capsys, *argv, "--user", "ana@x.org")
        assert code == 2 and "ana@x.org may not manage access" in err and "only an admin" in err
    assert members() == [("ana@x.org", "team", "owner")]


def test_without_sign_in_the_local_user_is_the_admin(data_dir, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    assert run(capsys, "workspaces", "create", "team")[0] == 0
    code, out, _ = run(capsys, "access", "grant", "ana@x.org", "team", "editor")
    assert code == 0 and ("ana@x.org", "team", "editor") in members()
    code, out, _ = run(capsys, "access", "list")
    assert code == 0 and "RAGTUNE_AUTH=none" in out
    code, out, err = run(capsys, "workspaces", "--user", "ana@x.org")  # --user changes nothing here, and says so
    assert code == 0 and "team" in out and "--user ana@x.org changes nothing" in err


def test_history_shows_each_user_their_own_answers(signed_in, tmp_path, capsys) -> None:
    log = QueryLog(load_settings().query_log_file)
    log.add(answer("rag"), user="ana@x.org")
    log.add(answer("lora", minutes=1), user="bob@x.org")
    code, out, _ = run(capsys, "history", "--json", "--user", "ana@x.org")
    assert code == 0 and [json.loads(line)["mode_id"] for line in out.splitlines()] == ["rag"]
    code, _, err = run(capsys, "history", "--of", "bob@x.org", "--user", "ana@x.org")
    assert code == 2 and "only an admin may read other users' queries" in err
    code, out, _ = run(capsys, "history", "--of", "bob@x.org", "--user", ADMIN)
    assert code == 0 and "bob@x.org" in out and "lora" in out and "rag ·" not in out
    csv_file = tmp_path / "mine.csv"
    assert run(capsys, "history", "--csv", str(csv_file), "--user", "bob@x.org")[0] == 0
    assert "lora" in csv_file.read_text() and "ana@x.org" not in csv_file.read_text()
    assert run(capsys, "history", "clear", "--user", "bob@x.org")[0] == 2  # no --yes: nothing deleted
    code, out, _ = run(capsys, "history", "clear", "--yes", "--user", "bob@x.org")
    assert code == 0 and "deleted 1" in out and log.count() == 1


def test_the_admins_commands_on_models_and_adapters_need_an_admin(signed_in, tmp_path, capsys) -> None:
    for argv in (["models", "add", str(tmp_path / "x.gguf")], ["adapters", "data"],
                 ["train", "--data", str(tmp_path / "x.jsonl"), "--name", "x", "--out", str(tmp_path)]):
        code, _, err = run(capsys, *argv, "--user", "ana@x.org")
        assert code == 2 and "only an admin may" in err, argv
    code, _, err = run(capsys, "ask", "Hi?", "--adapter", str(tmp_path / "a.gguf"), "--user", "ana@x.org")
    assert code == 2 and "may not use an adapter by its path on the server" in err


def test_a_user_trains_a_personal_adapter_from_the_command_line(signed_in, tiny_env, tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from ragtune.access import Scope
    from tests.training_fixtures import tiny_jsonl

    data = tmp_path / "codes.jsonl"
    data.write_bytes(tiny_jsonl())
    fast = ["--steps", "2", "--batch", "2", "--rank", "2", "--threads", "2"]
    code, out, _ = run(capsys, "train", "--data", str(data), "--name", "codes", *fast, "--user", "ana@x.org")
    assert code == 0
    adapter = Path(json.loads(out.strip().splitlines()[-1])["adapter"])
    settings = load_settings()
    access = Access.from_settings(settings)
    ana, bob = (Scope(access, access.principal(e)).catalog(settings) for e in ("ana@x.org", "bob@x.org"))
    assert ana.resolve("codes") == adapter.resolve() and "codes" not in {e.name for e in bob.list()}
    code, out, _ = run(capsys, "train", "--data", str(data), "--name", "codes", *fast, "--user", "bob@x.org")
    bobs = Path(json.loads(out.strip().splitlines()[-1])["adapter"])  # his own 'codes', beside hers
    assert code == 0 and bobs != adapter and adapter.is_file() and bob.resolve("codes") == bobs.resolve()


def test_the_shared_showcases_and_the_demo_are_an_admins_to_rebuild(signed_in, capsys) -> None:
    code, _, err = run(capsys, "showcases", "--user", "ana@x.org")
    assert code == 2 and "may not re-rank the shared showcases" in err and "only an admin" in err
    code, _, err = run(capsys, "workspaces", "create", "tenant-north", "--user", "ana@x.org")
    assert code == 2 and "shared demo workspace" in err
