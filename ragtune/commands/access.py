"""``access``: users, workspaces and roles (list, grant, revoke): the Access page from the command line.

An admin's command when sign-in is on (``--user`` an address in RAGTUNE_ADMINS); with ``RAGTUNE_AUTH=none``
the local user is the admin, and the roles granted take effect once sign-in is turned on.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from ragtune.access.principal import ROLES
from ragtune.access.store import check_member, check_role
from ragtune.commands._scope import add_user_option, command_scope, open_knowledge_base


def register(subparsers: argparse._SubParsersAction) -> None:
    access = subparsers.add_parser("access", help="List users, workspaces and roles; grant or revoke a role "
                                   "(admins only when sign-in is on).")
    actions = access.add_subparsers(dest="access_action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="Users (admins marked), workspaces and their members.")
    listing.add_argument("--json", action="store_true", help="Print JSON.")
    listing.set_defaults(handler=cmd_access_list)
    grant = actions.add_parser("grant", help=f"Give a user a role on a workspace ({', '.join(ROLES)}); '*' as "
                               "the address: every signed-in user.")
    grant.add_argument("email", metavar="EMAIL")
    grant.add_argument("workspace", metavar="WORKSPACE")
    grant.add_argument("role", metavar="ROLE", help=f"One of {', '.join(ROLES)}.")
    grant.set_defaults(handler=cmd_access_grant, check=check_grant)
    revoke = actions.add_parser("revoke", help="Take a user's role on a workspace away.")
    revoke.add_argument("email", metavar="EMAIL")
    revoke.add_argument("workspace", metavar="WORKSPACE")
    revoke.set_defaults(handler=cmd_access_revoke, check=check_revoke)
    for parser in (listing, grant, revoke):
        add_user_option(parser, admin="manage access (users, workspaces, roles)")


def check_grant(args: argparse.Namespace) -> None:
    """A bad address or role is refused before the knowledge base opens."""
    check_member(args.email)
    check_role(args.role)


def check_revoke(args: argparse.Namespace) -> None:
    check_member(args.email)


def _knowledge_base(args: argparse.Namespace):  # noqa: ANN202 - a ScopedKnowledgeBase
    """The knowledge base with the demo workspace seeded, as the app has it (so its roles can be set)."""
    return open_knowledge_base(args)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M") if stamp else "never signed in"


def cmd_access_list(args: argparse.Namespace) -> int:
    overview = command_scope(args).overview(_knowledge_base(args))
    if args.json:
        print(json.dumps(overview.model_dump(mode="json"), indent=2))
        return 0
    if not overview.auth_enabled:
        print("RAGTUNE_AUTH=none: everyone is the local user, an admin; these roles apply once sign-in is on.\n")
    print(f"Admins (RAGTUNE_ADMINS): {', '.join(overview.admins) or 'none'}")
    print("\nUsers:")
    if not overview.users:
        print("  none yet (users appear at their first sign-in, or when granted a role)")
    for row in overview.users:
        user = row.user
        flags = " [admin]" if row.is_admin else ""
        personal = f", personal workspace {user.personal_workspace}" if user.personal_workspace else ""
        print(f"  {user.email}{flags}{' (' + user.name + ')' if user.name else ''}: last seen "
              f"{_when(user.last_seen)}{personal}")
    print("\nWorkspaces:")
    if not overview.workspaces:
        print("  none")
    for space in overview.workspaces:
        members = ", ".join(f"{'everyone' if m.email == '*' else m.email} ({m.role})" for m in space.members)
        gone = " [deleted: roles left over]" if not space.exists else ""
        print(f"  {space.name}{gone}: {members or 'no members (admins only)'}")
    return 0


def cmd_access_grant(args: argparse.Namespace) -> int:
    member = command_scope(args).grant(_knowledge_base(args), args.email, args.workspace, args.role)
    who = "every signed-in user" if member.email == "*" else member.email
    print(f"{who} is now {'a' if member.role == 'viewer' else 'an'} {member.role} of {member.workspace}")
    return 0


def cmd_access_revoke(args: argparse.Namespace) -> int:
    command_scope(args).revoke(_knowledge_base(args), args.email, args.workspace)
    print(f"revoked {args.email.strip()}'s role on {args.workspace.strip()}")
    return 0
