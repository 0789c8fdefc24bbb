"""The hostile-input catalogue: one declarative entry per bad input.

Each :class:`Case` says what to put in the case's folder (``work``: the data directory is
``work/data``, a copy of the session's seeded one holding workspace ``team``), the command
line to run, and what must come out: the exit code, regexes the output must match (the
problem named), regexes it must never match, and what the store must look like after.
``{work}``, ``{data}`` and ``{model}`` (the tiny GGUF) are filled into argv and env.

Ingestion uses the documented contract: a batch with a rejected file exits 1 after the
good files went in (README: "exit 1 if any failed"); every other user error exits 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests import hostile_files as hf
from tests.retrieval_fixtures import blank_pdf

Files = Callable[[Path, Path], None]  # (work folder, tiny model path)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    exit: tuple[int, ...]
    message: tuple[str, ...]  # every regex must match (re.search, case-insensitive)
    message_if_failed: tuple[str, ...] = ()  # must match too when the exit code is not 0
    files: Files | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    where: str = "stderr"  # "stderr" or "output" (stdout + stderr)
    forbid: tuple[str, ...] = ()  # regexes that must not match the output
    # What the store looks like after: "unchanged" (the snapshot is equal), "new" (the seeded
    # workspaces are equal and new_docs says how many documents each new workspace holds).
    store: str = "unchanged"
    new_docs: Mapping[str, int] | Callable[[int], Mapping[str, int]] = field(default_factory=dict)
    prepare: Callable[[Path], Path | None] | None = None  # damages the data dir; returns the damaged file
    reingest: bool = False  # run the same command again: every file "unchanged", the store equal
    one_error_line: bool = False  # exactly one stderr line says "error"
    outside_untouched: bool = False  # nothing new in work outside work/data (name rules)
    root_skips: bool = False  # a permission check that root bypasses
    slow: bool = False  # documents a case that loads a model or trains (longer timeout)
    seed: str = "small"  # "big": a workspace of 1,300 chunks, so chroma persists its vector index


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def fill_argv(case: Case, values: Mapping[str, str]) -> list[str]:
    return [_fill(a, values) for a in case.argv]


def fill_env(case: Case, values: Mapping[str, str]) -> dict[str, str | None]:
    return {k: (None if v is None else _fill(v, values)) for k, v in case.env.items()}


CASES: list[Case] = []


def add(case: Case) -> None:
    assert case.id not in {c.id for c in CASES}, case.id
    CASES.append(case)


# -- document identity: every file of a batch is kept --------------------------------------


def _docs(*names_and_texts: tuple[str, str]) -> Files:
    def files(work: Path, model: Path) -> None:
        for name, text in names_and_texts:
            hf.write(work / "docs", name, text)

    return files


LONG = "q" * 80
IDENTITY = [
    ("same-name-two-folders", [("a/README.md", "# A\n\nAlpha team rota."), ("b/README.md", "# B\n\nBeta team rota.")]),
    ("same-stem-two-types", [("notes.md", "# Notes\n\nMarkdown notes."), ("notes.txt", "Plain text notes.")]),
    ("dash-vs-underscore", [("a-b.md", "Dash file about apples."), ("a_b.md", "Underscore file about pears.")]),
    ("names-differ-after-80", [(LONG + "-one.md", "First long-named file."), (LONG + "-two.md", "Second one.")]),
    ("non-ascii-names", [("日本語.md", "# 日本語\n\nJapanese notes."), ("中文.md", "# 中文\n\nChinese notes.")]),
]
for ident, files in IDENTITY:
    add(Case(
        id=f"identity-{ident}", argv=("ingest", "-w", "incoming", "{work}/docs"), exit=(0,),
        message=(r"2 of 2 files ingested",), where="output", files=_docs(*files),
        store="new", new_docs={"incoming": 2}, reingest=True,
    ))
add(Case(
    id="identity-all-five-pairs-in-one-folder", argv=("ingest", "-w", "incoming", "{work}/docs"), exit=(0,),
    message=(r"10 of 10 files ingested",), where="output",
    files=_docs(*[(f"{ident}/{name}", text) for ident, pairs in IDENTITY for name, text in pairs]),
    store="new", new_docs={"incoming": 10}, reingest=True,
))


# -- hostile files in an ingestion batch: the bad one is named, the good one goes in ---------


def _batch(name: str, make: Callable[[Path, Path], object]) -> Files:
    def files(work: Path, model: Path) -> None:
        hf.good_doc(work / "in")
        make(work / "in", model)

    return files


def ingest_case(ident: str, name: str, make: Callable[[Path, Path], object], *reason: str,
                exit: tuple[int, ...] = (1,), env: Mapping[str, str] | None = None,
                accepted_docs: int = 2, root_skips: bool = False) -> None:
    """``good.md`` and one hostile file in one batch into a new workspace.

    Exit 1: the hostile file is named with its reason and the good file is the workspace's only
    document. Exit 0 (where listed): the hostile file was legitimately ingested too.
    """
    label = re.escape(Path(name).name)
    named = label + (r".*(" + "|".join(reason) + ")" if reason else "")
    add(Case(
        id=f"file-{ident}", argv=("ingest", "-w", "incoming", "{work}/in/good.md", "{work}/in/" + name),
        exit=exit, where="output",
        message=(label,) if 0 in exit else (named,), message_if_failed=(named,) if 0 in exit else (),
        files=_batch(name, make), env=env or {}, store="new",
        new_docs=lambda rc: {"incoming": accepted_docs if rc == 0 else 1}, root_skips=root_skips,
    ))


def _bytes(name: str, data: bytes | str) -> Callable[[Path, Path], object]:
    return lambda folder, model: hf.write(folder, name, data)


def _unreadable(folder: Path, model: Path) -> None:
    path = hf.write(folder, "secret.md", "# Secret\n\nNobody may read this.")
    path.chmod(0)


ingest_case("empty", "empty.md", _bytes("empty.md", b""), "empty")
ingest_case("whitespace-only", "blank.txt", _bytes("blank.txt", b" \n\t\n  "), "empty")
ingest_case("binary-nul", "blob.txt", _bytes("blob.txt", b"abc\x00\x00\x00def\x00" * 200), "binary")
ingest_case("invalid-utf8", "latin.md", _bytes("latin.md", b"caf\xe9 au lait \xc3\x28 and more text\n"),
            "UTF-8", "decode", "encoding")
ingest_case("utf16-odd-length", "wide.txt",
            _bytes("wide.txt", b"\xff\xfe" + "hello world".encode("utf-16-le") + b"\x00"), "UTF-16")
ingest_case("unsupported-extension", "tool.exe", _bytes("tool.exe", b"MZ this is not a document"),
            "unsupported", r"\.exe")
ingest_case("over-the-size-limit", "big.txt", _bytes("big.txt", b"word " * 300_000),
            r"limit", "RAGTUNE_MAX_UPLOAD_MB", env={"RAGTUNE_MAX_UPLOAD_MB": "1"})
ingest_case("fifo", "pipe.md", lambda folder, model: hf.fifo(folder, "pipe.md"),
            "not a regular file", "FIFO", "pipe", "special")
ingest_case("directory-named-like-a-file", "folder.md",
            lambda folder, model: (folder / "folder.md").mkdir(), "folder", "directory", "empty", "no files",
            "no (supported )?(documents|files)", exit=(0, 1), accepted_docs=1)
ingest_case("broken-symlink", "dangling.md", lambda folder, model: hf.broken_symlink(folder, "dangling.md"),
            "no such file", "broken", "symlink", "missing", "does not exist")
ingest_case("unreadable-file", "secret.md", _unreadable, "permission", "cannot read", root_skips=True)
ingest_case("missing-path", "nowhere.md", lambda folder, model: None, "no such file", "not found", "missing",
            "does not exist")
ingest_case("garbage-pdf", "garbage.pdf", _bytes("garbage.pdf", hf.garbage_pdf()), "PDF")
ingest_case("encrypted-pdf", "locked.pdf", _bytes("locked.pdf", blank_pdf(password="s3cret")), "encrypted")
ingest_case("pdf-without-text", "scan.pdf", _bytes("scan.pdf", blank_pdf()), "no extractable text", "OCR")
ingest_case("malformed-json", "broken.json", _bytes("broken.json", '{"a": 1,, }'), "malformed JSON", "line 1")
ingest_case("json-nested-100000-deep", "deep.json", _bytes("deep.json", hf.deep_json()), "deep", "nest")
# A 5,000-digit integer is valid JSON: ingesting it as text or refusing it by name are both handled.
ingest_case("json-5000-digit-integer", "huge.json", _bytes("huge.json", hf.huge_int_json()),
            "digit", "integer", "number", "large", exit=(0, 1))
# A 200 KB CSV cell is valid CSV (under the size limit): ingested, or refused naming the rule.
ingest_case("csv-200kb-field", "wide.csv", _bytes("wide.csv", "name,notes\nrow," + "x" * 200_000 + "\n"),
            "field", "limit", "large", exit=(0, 1))
ingest_case("html-nested-50000-deep", "deep.html", _bytes("deep.html", hf.deep_html()), exit=(0,))
ingest_case("markdown-heading-5000-spaces", "heading.md", _bytes("heading.md", hf.heading_spaces_md()), exit=(0,))
ingest_case("a-line-of-a-million-spaces", "spaces.md", _bytes("spaces.md", hf.million_spaces_md()), exit=(0,))


def _mixed(work: Path, model: Path) -> None:
    folder = work / "in"
    hf.good_doc(folder, "good.md")
    hf.good_doc(folder, "also-good.txt")
    hf.write(folder, "deep.json", hf.deep_json())
    hf.write(folder, "empty.md", b"")
    hf.write(folder, "blob.txt", b"\x00\x01\x02" * 500)
    hf.write(folder, "tool.exe", b"MZ")
    hf.fifo(folder, "pipe.md")


add(Case(
    id="file-mixed-batch-names-every-failure", exit=(1,), where="output", files=_mixed,
    argv=("ingest", "-w", "incoming", "{work}/in/good.md", "{work}/in/deep.json", "{work}/in/empty.md",
          "{work}/in/nowhere.md", "{work}/in/blob.txt", "{work}/in/pipe.md", "{work}/in/tool.exe",
          "{work}/in/also-good.txt"),
    message=(r"deep\.json.*(deep|nest)", r"empty\.md.*empty", r"nowhere\.md", r"blob\.txt.*binary",
             r"pipe\.md", r"tool\.exe.*unsupported", r"2 of 8 files ingested"),
    store="new", new_docs={"incoming": 2},
))


# -- eval sets ---------------------------------------------------------------------------------


def _jsonl(name: str, *lines: str) -> Files:
    return lambda work, model: hf.write(work, name, "".join(line + "\n" for line in lines))


GOOD_EVAL = json.dumps(hf.eval_line())
EVAL = ("eval", "--modes", "base", "-w", "team")
add(Case(id="eval-bad-json-line", argv=(*EVAL, "--set", "{work}/set.jsonl"), exit=(2,),
         message=(r"line 2",), files=_jsonl("set.jsonl", GOOD_EVAL, '{"id": "q2", "question": ')))
add(Case(id="eval-nested-100000-deep", argv=(*EVAL, "--set", "{work}/set.jsonl"), exit=(2,),
         message=(r"line 1\b", r"deep|nest"),
         files=_jsonl("set.jsonl", '{"id": "q1", "kind": "answerable", "question": ' + hf.deep_json() + "}")))
add(Case(id="eval-5000-digit-integer", argv=(*EVAL, "--set", "{work}/set.jsonl"), exit=(2,),
         message=(r"line 1\b", r"digit|integer|number|large"),
         files=_jsonl("set.jsonl", '{"id": ' + "7" * 5000 + ', "kind": "answerable", "question": "x"}')))
add(Case(id="eval-wrong-field-types", argv=(*EVAL, "--set", "{work}/set.jsonl"), exit=(2,),
         message=(r"line 1\b", r"question"),
         files=_jsonl("set.jsonl", json.dumps(hf.eval_line(question=["not", "a", "string"], answer=7310)))))
add(Case(id="eval-empty-file", argv=(*EVAL, "--set", "{work}/set.jsonl"), exit=(2,),
         message=(r"set\.jsonl", r"empty|no (questions|cases)"), files=_jsonl("set.jsonl")))
add(Case(id="eval-missing-set", argv=(*EVAL, "--set", "{work}/nowhere.jsonl"), exit=(2,),
         message=(r"nowhere\.jsonl",)))
add(Case(id="eval-out-unwritable", exit=(2,), files=_jsonl("set.jsonl", GOOD_EVAL),
         argv=(*EVAL, "--set", "{work}/set.jsonl", "--out", "/proc/x/y.csv"),
         message=(r"/proc/x|--out",), forbid=(r"run \S+: ", r"\d+/\d+ .*elapsed"), slow=True))
add(Case(id="eval-limit-negative", argv=(*EVAL, "--limit", "-1"), exit=(2,), message=(r"--limit",),
         one_error_line=True))


# -- training sets and names -----------------------------------------------------------------

GOOD_TRAIN = json.dumps(hf.train_line())
TRAIN = ("train", "--steps", "1", "--max-length", "64")
add(Case(id="train-bad-json-line", argv=(*TRAIN, "--name", "ok", "--data", "{work}/t.jsonl"), exit=(2,),
         message=(r"line 2",), files=_jsonl("t.jsonl", GOOD_TRAIN, "{not json")))
add(Case(id="train-nested-100000-deep", argv=(*TRAIN, "--name", "ok", "--data", "{work}/t.jsonl"), exit=(2,),
         message=(r"line 1\b", r"deep|nest"), files=_jsonl("t.jsonl", '{"messages": ' + hf.deep_json() + "}")))
add(Case(id="train-5000-digit-integer", argv=(*TRAIN, "--name", "ok", "--data", "{work}/t.jsonl"), exit=(2,),
         message=(r"line 1\b", r"digit|integer|number|large"),
         files=_jsonl("t.jsonl", '{"messages": [], "n": ' + "5" * 5000 + "}")))
add(Case(id="train-wrong-field-types", argv=(*TRAIN, "--name", "ok", "--data", "{work}/t.jsonl"), exit=(2,),
         message=(r"line 1\b", r"messages"), files=_jsonl("t.jsonl", '{"messages": "hello"}')))
add(Case(id="train-empty-file", argv=(*TRAIN, "--name", "ok", "--data", "{work}/t.jsonl"), exit=(2,),
         message=(r"t\.jsonl", r"empty|no (examples|lines)"), files=_jsonl("t.jsonl")))
add(Case(id="train-missing-data", argv=(*TRAIN, "--name", "ok", "--data", "{work}/nowhere.jsonl"), exit=(2,),
         message=(r"nowhere\.jsonl",)))
for ident, name in (("dotdot", "../../../x"), ("absolute", "/tmp/ragtune-hostile-x"), ("slash", "a/b")):
    add(Case(id=f"train-name-{ident}", argv=(*TRAIN, "--name", name, "--data", "{work}/t.jsonl"), exit=(2,),
             message=(r"name",), files=_jsonl("t.jsonl", *[GOOD_TRAIN] * 4), outside_untouched=True,
             forbid=(r"training '",), slow=True))


# -- CLI options: refused at parse time, one line naming the option ---------------------------

ASK = ("ask", "What is the badge code?")
OPTION_CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("ask-max-tokens-negative", (*ASK, "--max-tokens", "-5"), r"--max-tokens"),
    ("ask-max-tokens-zero", (*ASK, "--max-tokens", "0"), r"--max-tokens"),
    ("ask-max-tokens-huge", (*ASK, "--max-tokens", "10000000"), r"--max-tokens"),
    ("ask-scale-9", (*ASK, "--adapter", "{work}/lora.gguf", "--scale", "9"), r"--scale"),
    ("ask-scale-nan", (*ASK, "--adapter", "{work}/lora.gguf", "--scale", "nan"), r"--scale"),
    ("ask-scale-without-adapter", (*ASK, "--scale", "1.0"), r"--scale.*--adapter|--adapter.*--scale"),
    ("ask-empty-question", ("ask", "  "), r"question|empty"),
    ("search-k-zero", ("search", "-w", "team", "badge", "-k", "0"), r"(-k|--k)\b"),
    ("search-k-1000", ("search", "-w", "team", "badge", "-k", "1000"), r"(-k|--k)\b"),
    ("search-empty-query", ("search", "-w", "team", ""), r"query|empty"),
    ("search-unknown-workspace", ("search", "-w", "nosuch", "badge"), r"nosuch"),
    ("eval-unknown-workspace", ("eval", "--modes", "base", "-w", "nosuch"), r"nosuch"),
    ("lab-unknown-mode", ("lab", "What is the badge code?", "--modes", "nosuch"), r"nosuch"),
    ("lab-empty-question", ("lab", "", "--modes", "base"), r"question|empty"),
    ("bench-repeats-zero", ("bench", "--quick", "--repeats", "0"), r"--repeats"),
    ("bench-repeats-negative", ("bench", "--quick", "--repeats", "-3"), r"--repeats"),
    ("bench-unknown-section", ("bench", "--quick", "--only", "nosuch"), r"nosuch|--only"),
    ("bench-baseline-unknown-ref", ("bench", "--only", "demo", "--baseline", "nosuch-ref"), r"--baseline.*nosuch-ref"),
    ("bench-baseline-server", ("bench", "--runtime", "server", "--baseline", "HEAD"), r"--baseline"),
    ("ingest-invalid-workspace-name", ("ingest", "-w", "../up", "{work}/good.md"), r"workspace name|\.\./up"),
    ("workspaces-create-invalid-name", ("workspaces", "create", "a/b"), r"workspace name|a/b"),
    ("models-add-invalid-id", ("models", "add", "{model}", "--id", "../evil"), r"--id|name|\.\./evil"),
    ("stop-bench-routing-mode", ("stop-bench", "--modes", "base,route"), r"'route' routes each question"),
    ("stop-bench-save-with-load", ("stop-bench", "--load", "{work}/good.md", "--save", "{work}/again.jsonl"),
     r"--save does not apply"),
    ("showcases-measure-with-run", ("showcases", "--measure", "--run", "abc123"), r"--measure.*--run"),
]


def _option_files(work: Path, model: Path) -> None:
    hf.good_doc(work)
    hf.write_lora(work / "lora.gguf", seed=2)


for ident, argv, regex in OPTION_CASES:
    add(Case(id=f"option-{ident}", argv=argv, exit=(2,), message=(regex,), files=_option_files,
             one_error_line=True,
             outside_untouched=ident.startswith(("ingest", "workspaces", "models", "stop-bench"))))


# -- settings ----------------------------------------------------------------------------------


def _a_file(work: Path, model: Path) -> None:
    hf.write(work, "afile", "I am a file, not a folder.\n")
    hf.good_doc(work)


for ident, value in (("a-file", "{work}/afile"), ("under-a-file", "/etc/passwd/x"), ("empty", "")):
    for command in (ASK, ("workspaces",), ("search", "badge"), ("ingest", "-w", "team", "{work}/good.md"),
                    ("lab", "What is the badge code?", "--modes", "base")):
        if ident == "empty" and command[0] not in ("ask", "workspaces"):
            continue
        add(Case(id=f"setting-data-dir-{ident}-{command[0]}", argv=command, exit=(2,),
                 message=(r"RAGTUNE_DATA_DIR",), files=_a_file, env={"RAGTUNE_DATA_DIR": value},
                 forbid=(r"root:x",)))
add(Case(id="setting-top-k-not-a-number", argv=("search", "-w", "team", "badge"), exit=(2,),
         message=(r"RAGTUNE_TOP_K",), env={"RAGTUNE_TOP_K": "abc"}))
add(Case(id="setting-overlap-not-below-chunk-size", argv=("ingest", "-w", "team", "{work}/good.md"), exit=(2,),
         message=(r"RAGTUNE_CHUNK_OVERLAP",), files=_a_file,
         env={"RAGTUNE_CHUNK_SIZE": "200", "RAGTUNE_CHUNK_OVERLAP": "200"}))
add(Case(id="setting-max-upload-zero", argv=("ingest", "-w", "team", "{work}/good.md"), exit=(2,),
         message=(r"RAGTUNE_MAX_UPLOAD_MB",), files=_a_file, env={"RAGTUNE_MAX_UPLOAD_MB": "0"}))


# -- GGUF files: checked before llama.cpp sees them; never an abort -----------------------------


def _gguf(make: Callable[[Path, Path], Path]) -> Files:
    return lambda work, model: make(work, model) and None


NO_ECHO = (r"root:x", r"b'root", r'b"root', r"/bin/bash")
add(Case(id="gguf-models-add-not-gguf", argv=("models", "add", "{work}/passwd.gguf"), exit=(2,),
         message=(r"not a GGUF",), forbid=NO_ECHO, files=_gguf(lambda w, m: hf.passwd_like_gguf(w))))
add(Case(id="gguf-models-add-truncated", argv=("models", "add", "{work}/truncated.gguf"), exit=(2,),
         message=(r"truncat|shorter|smaller|past the end|end of (the )?file|size",),
         files=_gguf(lambda w, m: hf.truncated_gguf(m, w))))
add(Case(id="gguf-models-add-block-count-4e9", argv=("models", "add", "{work}/blocks.gguf"), exit=(2,),
         message=(r"block_count",), files=_gguf(lambda w, m: hf.huge_block_count_gguf(m, w))))
add(Case(id="gguf-models-add-float-context-length", argv=("models", "add", "{work}/float-ctx.gguf"), exit=(2,),
         message=(r"context_length",), files=_gguf(lambda w, m: hf.float_context_gguf(m, w))))
add(Case(id="gguf-ask-model-block-count-4e9", argv=ASK, exit=(2,), message=(r"block_count",),
         env={"RAGTUNE_MODEL_PATH": "{work}/blocks.gguf"}, files=_gguf(lambda w, m: hf.huge_block_count_gguf(m, w))))
add(Case(id="gguf-ask-model-float-context-length", argv=ASK, exit=(2,), message=(r"context_length",),
         env={"RAGTUNE_MODEL_PATH": "{work}/float-ctx.gguf"}, files=_gguf(lambda w, m: hf.float_context_gguf(m, w))))
add(Case(id="gguf-ask-model-not-gguf", argv=ASK, exit=(2,), message=(r"not a GGUF",), forbid=NO_ECHO,
         env={"RAGTUNE_MODEL_PATH": "{work}/passwd.gguf"}, files=_gguf(lambda w, m: hf.passwd_like_gguf(w))))
add(Case(id="gguf-ask-adapter-string-alpha", argv=(*ASK, "--adapter", "{work}/alpha-string.gguf"), exit=(2,),
         message=(r"alpha",), files=_gguf(lambda w, m: hf.string_alpha_lora(w)), slow=True))
add(Case(id="gguf-ask-adapter-nan-weights", argv=(*ASK, "--adapter", "{work}/nan.gguf"), exit=(2,),
         message=(r"NaN|finite|Inf",), files=_gguf(lambda w, m: hf.nan_lora(w)), slow=True))
add(Case(id="gguf-ask-adapter-wrong-shapes", argv=(*ASK, "--adapter", "{work}/wide.gguf"), exit=(2,),
         message=(r"shape|size|does not fit|dimension",), files=_gguf(lambda w, m: hf.wide_lora(w)), slow=True))
add(Case(id="gguf-ask-adapter-not-gguf", argv=(*ASK, "--adapter", "{work}/passwd.gguf"), exit=(2,),
         message=(r"not a GGUF",), forbid=NO_ECHO, files=_gguf(lambda w, m: hf.passwd_like_gguf(w))))
add(Case(id="gguf-ask-adapter-truncated", argv=(*ASK, "--adapter", "{work}/truncated.gguf"), exit=(2,),
         message=(r"truncat|shorter|smaller|past the end|end of (the )?file|size|not a (LoRA|adapter)",),
         files=_gguf(lambda w, m: hf.truncated_gguf(hf.write_lora(w / "src.gguf", seed=4), w))))


# -- damaged stores: the file is named, nothing is "repaired" by deleting it ------------------


def _garbage(relative: str) -> Callable[[Path], Path]:
    def damage(data: Path) -> Path:
        path = data / relative
        assert path.is_file(), f"the seeded data dir has no {relative}"
        path.write_bytes(b"this is not a database file " * 200)
        for extra in ("-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
        return path

    return damage


def _hnsw(data: Path) -> Path:
    """Damage the persisted vector index (chroma/<uuid>/): a garbage header, a truncated data file.

    Chroma writes these files only once a collection passes ~1,000 records (below that it
    searches its log), hence the big seed.
    """
    headers = [p for p in (data / "chroma").glob("*/header.bin") if p.stat().st_size > 0]
    assert headers, "the seeded data dir has no persisted vector index"
    folder = headers[0].parent
    level0 = folder / "data_level0.bin"
    assert level0.stat().st_size > 1000, "the vector index was not persisted"
    level0.write_bytes(level0.read_bytes()[:1000])
    headers[0].write_bytes(os.urandom(100))
    return headers[0]


for store_ident, damage, regex in (
    ("knowledge-sqlite", _garbage("knowledge.sqlite3"), r"knowledge\.sqlite3"),
    ("chroma-sqlite", _garbage("chroma/chroma.sqlite3"), r"chroma\.sqlite3"),
):
    for command in (("workspaces",), ("search", "-w", "team", "badge"), ("doctor",)):
        doctor = command[0] == "doctor"  # its report goes to stdout: one FAIL line names the file
        add(Case(id=f"store-{store_ident}-{command[0]}", argv=command, exit=(2,),
                 message=(r"FAIL.*" + regex,) if doctor else (regex,), where="output" if doctor else "stderr",
                 prepare=damage, store="damaged"))
for command in (("search", "-w", "team", "badge code", "--mode", "vector"), ("doctor",)):
    extra = (r"FAIL",) if command[0] == "doctor" else ()
    add(Case(id=f"store-hnsw-index-{command[0]}", argv=command, exit=(2,),
             message=(r"chroma[/\\][0-9a-f-]{36}", *extra), where="output" if extra else "stderr",
             prepare=_hnsw, store="damaged", seed="big"))
