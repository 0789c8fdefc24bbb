"""``--user EMAIL``: the user a command acts for, and its :class:`~ragtune.access.Scope`.

Every command that touches a workspace, the query log, the evaluation runs, the saved modes or the
adapters takes ``--user`` (default: ``RAGTUNE_USER``). With ``RAGTUNE_AUTH=none`` it acts as the local
user, an admin, as the app does. With sign-in on, it needs a user and goes through that user's
permissions, exactly like the app; an admin-only command needs an admin. Whoever has a shell on the
server is trusted anyway (the CLI reads the data directory directly): the checks keep a script from
doing by accident what its user may not do in the app.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ragtune.config import load_settings
from ragtune.errors import InputError
from ragtune.names import check_email

if TYPE_CHECKING:
    from ragtune.access import Scope, ScopedKnowledgeBase
    from ragtune.config import Settings


def add_user_option(parser: argparse.ArgumentParser, *, admin: str | None = None) -> None:
    """Give ``parser`` the ``--user`` option; ``admin`` (what the command does, "build the shipped adapters")
    makes it an admin's command when sign-in is on. :func:`ragtune.cli.main` checks the user before the
    command runs."""
    # SUPPRESS: a nested subcommand's default must not overwrite a --user given to its parent command.
    parser.add_argument("--user", metavar="EMAIL", default=argparse.SUPPRESS,
                        help="Act as this user (default: RAGTUNE_USER); needed when RAGTUNE_AUTH is not none.")
    parser.set_defaults(acts_for_user=True, admin_only=admin)


def command_scope(args: argparse.Namespace) -> Scope:
    """The scope of the command's user (made once per command, then kept on ``args``).

    Raises:
        InputError: sign-in is on and no user is given, or the address is invalid.
        PermissionDenied: an admin's command, and the user is no admin.
    """
    cached = getattr(args, "_scope", None)
    if cached is not None:
        return cached
    from ragtune.access import Access, Scope

    settings = load_settings()
    given = getattr(args, "user", None)
    if settings.auth == "none":
        if given:
            check_email(given)  # a typo is still an error
            print(f"note: RAGTUNE_AUTH=none: the command acts as the local user (an admin); --user {given} "
                  "changes nothing.", file=sys.stderr)
        scope = Scope.local(settings)
    else:
        email = given or settings.user
        if not email:
            raise InputError(f"RAGTUNE_AUTH={settings.auth}: this command acts for a user. Give --user EMAIL "
                             "or set RAGTUNE_USER (an admin's address for the admins' commands).")
        access = Access.from_settings(settings)
        scope = Scope(access, access.principal(email), demo_workspace=settings.demo_workspace)
    admin = getattr(args, "admin_only", None)
    if admin:
        scope.require_admin(admin)
    args._scope = scope
    return scope


def open_knowledge_base(args: argparse.Namespace, *, seed_demo: bool = True,
                        settings: Settings | None = None) -> ScopedKnowledgeBase:
    """The user's knowledge base (of ``settings``, default: the loaded ones), with the demo workspace seeded
    unless ``seed_demo`` is False (and, with sign-in, readable by everyone)."""
    from ragtune.retrieval.demo import ensure_demo_workspace
    from ragtune.retrieval.knowledge import KnowledgeBase

    scope = command_scope(args)
    settings = settings or load_settings()
    kb = KnowledgeBase.from_settings(settings)
    if seed_demo:
        ensure_demo_workspace(kb, settings.demo_workspace)  # the app's own seeding, as at its start
    if scope.access.auth_enabled:
        scope.share_demo(kb)
    return scope.knowledge_base(kb)


__all__ = ["add_user_option", "command_scope", "open_knowledge_base"]
