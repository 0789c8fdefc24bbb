"""A Lab comparison to share: what it holds (:class:`LabComparison`), its permalink
(:class:`LabLink`: question, modes, workspace and run id in the page's URL), reading a link that
anyone may have written (:func:`read_link`), and the stored answers it points at
(:func:`stored_comparison`, from the query log).

A link is ``lab?q=...&modes=rag,rag+lora&workspace=demo&run=<run id>``. Every value is checked:
an over-long or malformed value is refused with a message, an unknown mode is left out with a
warning, and nothing in a link is ever run or drawn as markup (the page shows it inert). A link
whose run is gone (the log was cleared) or whose values no longer match the stored run (edited
by hand) still fills in its question and modes, and says why the stored answers are not shown.

Examples:
    >>> LabLink(question="Price?", modes=["rag", "rag+lora"], workspace="demo", run="0123456789ab").path()
    'lab?q=Price%3F&modes=rag%2Crag%2Blora&workspace=demo&run=0123456789ab'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from ragtune.lab import MAX_QUESTION_CHARS, Failed, Finished
from ragtune.modes import parse_mode_ids
from ragtune.names import RULES
from ragtune.store import LogEntry

if TYPE_CHECKING:
    from ragtune.modes import Mode
    from ragtune.store import QueryLog

RUN_ID = re.compile(r"[0-9a-f]{12}")
"""What :func:`ragtune.lab.new_run_id` makes; any other run id in a link is refused."""
MAX_MODES_PARAM = 40 * (RULES["mode"].max_length + 1)
MAX_WORKSPACE_PARAM = RULES["workspace"].max_length
PARAMS = ("q", "modes", "workspace", "run")
"""The URL parameters a Lab link uses."""

LabResult = Finished | Failed | LogEntry
"""One mode's outcome as the Lab shows it: a fresh answer, a mode that could not answer, or a
logged answer read back for a permalink."""


class LabComparison(BaseModel):
    """One comparison as the Lab shows it and exports it, fresh or read back from the log."""

    model_config = ConfigDict(frozen=True)

    question: str
    workspace: str | None
    mode_ids: list[str]
    run_id: str
    results: list[LabResult]
    note: str = Field(default="", description="What the question changed (a column it added).")
    stored: bool = Field(default=False, description="Read back from the query log (a permalink).")

    @property
    def link(self) -> LabLink:
        """The permalink of this comparison."""
        return LabLink(question=self.question, modes=self.mode_ids, workspace=self.workspace, run=self.run_id)


class LabLink(BaseModel):
    """What a Lab link holds, each value checked (see :func:`read_link`)."""

    model_config = ConfigDict(frozen=True)

    question: str = ""
    modes: list[str] = Field(default_factory=list)
    workspace: str | None = None
    run: str | None = None

    def query_params(self) -> dict[str, str]:
        """The URL parameters (``q``, ``modes``, ``workspace``, ``run``), empty ones left out."""
        values = {"q": self.question, "modes": ",".join(self.modes), "workspace": self.workspace or "",
                  "run": self.run or ""}
        return {name: value for name, value in values.items() if value}

    def path(self) -> str:
        """``lab?q=...``: the link relative to the app's address."""
        return "lab?" + urlencode(self.query_params())


class LinkReading(BaseModel):
    """A link as read: the values kept, the ones refused (each with why) and the unknown modes."""

    model_config = ConfigDict(frozen=True)

    link: LabLink
    problems: list[str] = Field(default_factory=list)
    unknown_modes: list[str] = Field(default_factory=list)
    refused: str = Field(default="", description="Why the link's workspace is not the user's to read ('': it "
                         "is, or the link names none); the workspace is then left out, like any refused value.")

    @property
    def given(self) -> bool:
        """The link carries a question, a run or a workspace (not just ``?modes=``, as Decide's links)."""
        return bool(self.link.question or self.link.run or self.link.workspace)


def _one(value: str | Sequence[str] | None) -> str:
    """A parameter's value (the last one when a link repeats it, as browsers and Streamlit do)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else (value[-1] if value else "")


def read_link(params: Mapping[str, str | Sequence[str]], *, known_modes: Sequence[str],
              workspaces: Sequence[str], refusal: Callable[[str], str | None] | None = None) -> LinkReading:
    """Check a Lab link's parameters; what fails a check is dropped and said, never run.

    ``workspaces`` are the ones the user may read; ``refusal`` says why the user may not read a workspace
    outside them (the core's permission message; None: it simply does not exist), so a link to someone
    else's workspace is refused as such and never answered from it.

    Examples:
        >>> r = read_link({"q": "x" * 3000, "modes": "rag,nope", "run": "../etc"}, known_modes=["rag"],
        ...               workspaces=["demo"])
        >>> r.link.question, r.link.modes, r.unknown_modes, len(r.problems)
        ('', ['rag'], ['nope'], 2)
    """
    problems: list[str] = []
    question = _one(params.get("q")).strip()
    if len(question) > MAX_QUESTION_CHARS:
        problems.append(f"The link's question is {len(question):,} characters long, over the limit of "
                        f"{MAX_QUESTION_CHARS:,}: it was not filled in.")
        question = ""
    raw_modes = _one(params.get("modes"))
    modes: list[str] = []
    unknown: list[str] = []
    if len(raw_modes) > MAX_MODES_PARAM:
        problems.append(f"The link's list of modes is {len(raw_modes):,} characters long, over the limit of "
                        f"{MAX_MODES_PARAM:,}: it was ignored.")
    else:
        modes, unknown = parse_mode_ids(raw_modes, list(known_modes))
        unknown = [m[: RULES["mode"].max_length + 1] for m in unknown]  # a name, not an essay
    workspace = _one(params.get("workspace")).strip() or None
    refused = ""
    if workspace is not None and workspace not in workspaces:
        short = len(workspace) <= MAX_WORKSPACE_PARAM
        refused = (refusal(workspace) or "") if refusal is not None and short else ""
        if not refused:
            shown = workspace if short else workspace[:MAX_WORKSPACE_PARAM] + "…"
            problems.append(f"The link's workspace '{shown}' does not exist here: pick one.")
        workspace = None
    run = _one(params.get("run")).strip() or None
    if run is not None and not RUN_ID.fullmatch(run):
        problems.append("The link's run id is not one the Lab makes (12 hexadecimal digits): its stored "
                        "answers cannot be shown.")
        run = None
    return LinkReading(link=LabLink(question=question, modes=modes, workspace=workspace, run=run),
                       problems=problems, unknown_modes=unknown, refused=refused)


def read_refusal(kb: object | None, workspace: str) -> str | None:
    """Why the user of a checked knowledge base (:class:`ragtune.access.ScopedKnowledgeBase`) may not read
    ``workspace``: the core's PermissionDenied message; None when they may (or ``kb`` is None)."""
    from ragtune.errors import PermissionDenied, RagtuneError

    if kb is None:
        return None
    try:
        kb.workspace(workspace)  # type: ignore[attr-defined]  # checks the read permission first
    except PermissionDenied as exc:
        return str(exc)
    except RagtuneError:
        return None  # readable, but not there: the link's usual "does not exist here"
    return None


StoredStatus = Literal["shown", "gone", "edited"]


class StoredComparison(BaseModel):
    """What a link's run id finds in the query log: the comparison (``shown``), nothing
    (``gone``), or answers that do not match the link's values (``edited``), with the message."""

    model_config = ConfigDict(frozen=True)

    status: StoredStatus
    message: str = ""
    comparison: LabComparison | None = None


def stored_comparison(log: QueryLog, link: LabLink, modes: Sequence[Mode], *,
                      own_only: bool = False) -> StoredComparison | None:
    """The stored answers of ``link``'s run, if they are still the comparison the link describes.

    Args:
        log: the query log.
        link: a checked link (:func:`read_link`) with a run id (None is returned without one).
        modes: the link's modes, resolved; a mode with no stored answer (it could not answer when
            the comparison ran, so nothing was logged) is shown as such.
        own_only: ``log`` shows only the user's own answers (a signed-in user who is not an admin): a link
            to another user's comparison then finds nothing, and the message says that this may be why.
    """
    if link.run is None:
        return None
    entries = log.run_entries(link.run)
    if not entries and own_only:  # a colleague's shared link, most likely: not "gone", only not this user's
        return StoredComparison(status="gone", message=(
            "You have no stored answers for this link: each user sees only their own, so it may be another "
            "user's comparison (or its answers were cleared from the log). Its question and modes are filled "
            "in: press Compare to run them yourself."))
    if not entries:
        return StoredComparison(status="gone", message=(
            "The stored answers of this link are gone (the query log was cleared, or the run never existed). "
            "Its question and modes are filled in: press Compare to run them again."))
    logged = [e.mode_id for e in entries]
    matches = (all(e.query.strip() == link.question for e in entries)
               and all(e.workspace == (link.workspace or "") for e in entries)
               and logged == [m for m in link.modes if m in logged])
    if not matches:
        return StoredComparison(status="edited", message=(
            "This link does not match the comparison it points at (its question, modes or workspace were "
            "changed), so the stored answers are not shown. The link's question and modes are filled in: "
            "press Compare to run them."))
    by_mode = {e.mode_id: e for e in entries}
    results: list[LabResult] = [
        by_mode[m.id] if m.id in by_mode else
        Failed(mode=m, error="No stored answer: this mode could not answer when the comparison ran.")
        for m in modes]
    comparison = LabComparison(question=link.question, workspace=link.workspace, mode_ids=[m.id for m in modes],
                               run_id=link.run, results=results, stored=True)
    when = entries[0].created_at.strftime("%Y-%m-%d %H:%M UTC")
    return StoredComparison(status="shown", comparison=comparison, message=(
        f"The stored answers of this comparison, run {when} on {entries[0].model_id}. Press Run again for fresh "
        "answers (the documents or the model may have changed since)."))
