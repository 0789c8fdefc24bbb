"""Team access: who is asking (:class:`Principal`), their roles on workspaces (:class:`AccessStore`) and the
checks that refuse what they may not do (:class:`Access`, raising :class:`~ragtune.errors.PermissionDenied`)."""

from ragtune.access.policy import Access, personal_workspace_name
from ragtune.access.principal import (ACTION_NEEDS, EVERYONE, LOCAL, ROLES, Action, Principal, Role, role_allows,
                                      stronger)
from ragtune.access.store import AccessStore, Membership, UserInfo, check_member, check_role

__all__ = ["ACTION_NEEDS", "EVERYONE", "LOCAL", "ROLES", "Access", "AccessStore", "Action", "Membership",
           "Principal", "Role", "UserInfo", "check_member", "check_role", "personal_workspace_name",
           "role_allows", "stronger"]
