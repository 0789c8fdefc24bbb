"""Whether the app may serve its pages with the configured sign-in, in plain Python: ``app.py`` asks these
functions and draws their answer (``components/signin.py``) before any page runs.

- ``RAGTUNE_AUTH=none``: one local user, an admin. Served on an address others can reach, that means anyone who
  reaches the port is an admin: :func:`open_access_warning` says so on every page.
- ``oidc``: Streamlit's ``st.login`` needs Authlib and an ``[auth]`` section in ``.streamlit/secrets.toml``;
  :func:`oidc_problem` names what is missing before a user presses "Sign in" and meets a traceback.
- ``proxy``: the identity is a header set by a reverse proxy in front. Anyone who can reach the app without
  passing the proxy could send that header and be whoever they like, so :func:`proxy_problem` refuses the mode
  unless the app listens on loopback only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ragtune.errors import InputError

if TYPE_CHECKING:
    from ragtune.config import Settings

AUTHLIB_MIN = (1, 3, 2)
"""The oldest Authlib ``st.login`` accepts (Streamlit checks the same)."""

COOKIE_SECRET_MIN = 32
"""The shortest ``cookie_secret`` accepted: it signs the identity cookie, so a guessable one lets anyone forge a
sign-in. Streamlit itself only logs a warning under 14 bytes; a team server should refuse."""

OIDC_CALLBACK = "/oauth2callback"
SETUP = "See the README, section Sign-in and permissions."
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_SHARED = ("redirect_uri", "cookie_secret")
_PROVIDER = ("client_id", "client_secret", "server_metadata_url")
_MEANING = {
    "redirect_uri": "this app's address + /oauth2callback, as registered with the provider",
    "cookie_secret": "a long random string that signs the sign-in cookie",
    "client_id": "the client id the provider gave this app",
    "client_secret": "that client's secret",
    "server_metadata_url": "the provider's .well-known/openid-configuration URL",
}


def is_loopback(address: str | None) -> bool:
    """Whether a server listening on ``address`` (Streamlit's ``server.address``) is reachable from this machine
    only.

    Unset or empty is Streamlit's default and listens on every interface; ``0.0.0.0`` and ``::`` too. A host name
    other than ``localhost`` may resolve to any interface, so it counts as reachable from elsewhere.

    Examples:
        >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("0.0.0.0"), is_loopback(None)
        (True, True, False, False)
    """
    host = (address or "").strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def listening_on(address: str | None) -> str:
    """Where a server listening on ``address`` can be reached, in words."""
    host = (address or "").strip()
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "every network interface" + ("" if host else " (server.address is not set)")
    return host


def open_access_warning(settings: Settings, address: str | None) -> str | None:
    """With ``RAGTUNE_AUTH=none`` on an address others can reach: the warning every page shows (None: no
    warning needed)."""
    if settings.auth != "none" or is_loopback(address):
        return None
    return (f"Anyone who can reach this app is an admin: sign-in is off (RAGTUNE_AUTH=none) and it listens on "
            f"{listening_on(address)}. Turn sign-in on with RAGTUNE_AUTH=oidc or proxy, or listen on loopback "
            "only (--server.address 127.0.0.1). " + SETUP)


def authlib_version() -> tuple[int, ...] | None:
    """The installed Authlib's version (None: not installed)."""
    try:
        text = metadata.version("authlib")
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _absolute_url(value: str) -> str | None:
    """What is wrong with ``value`` as an absolute http(s) URL (None: nothing)."""
    try:
        parts = urlsplit(value.replace("{port}", "8501"))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    if any(ch.isspace() for ch in value):
        return "must not hold spaces"
    return None


def _text(section: Mapping[str, object], key: str) -> str:
    value = section.get(key)
    return value.strip() if isinstance(value, str) else ""


def provider_section(auth: Mapping[str, object]) -> Mapping[str, object]:
    """The default provider's keys, as ``st.login()`` reads them: an ``[auth.default]`` table, else the
    ``[auth]`` section itself."""
    default = auth.get("default")
    return default if isinstance(default, Mapping) else auth


def oidc_problem(secrets: Mapping[str, object] | None, *, secret_files: Sequence[str] = (),
                 authlib: tuple[int, ...] | None = AUTHLIB_MIN) -> str | None:
    """What keeps ``st.login`` from working with these secrets, or None when the set-up is usable.

    Args:
        secrets: the secrets Streamlit read (None: no secrets file could be read).
        secret_files: where Streamlit looks for them (``secrets.files``), named in the message.
        authlib: the installed Authlib's version (None: not installed); :func:`authlib_version` gives it.

    Secret values (the client secret, the cookie secret) are never repeated in the message.
    """
    intro = "Sign-in is not set up: RAGTUNE_AUTH=oidc signs users in with an OpenID Connect provider, but "
    if authlib is None or authlib < AUTHLIB_MIN:
        have = "is not installed" if authlib is None else f"is {'.'.join(map(str, authlib))}, too old"
        return (intro + f"Authlib (>= {'.'.join(map(str, AUTHLIB_MIN))}, which Streamlit's sign-in needs) {have}. "
                "Install the requirements again: pip install -r requirements.txt (make run does).")
    where = ", ".join(secret_files) or ".streamlit/secrets.toml"
    if secrets is None:
        return (intro + f"no secrets file could be read (looked in: {where}). Write an [auth] section in "
                ".streamlit/secrets.toml; if the file is there, it is not valid TOML: the server log says where. "
                + SETUP)
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping) or not auth:
        return intro + f"the secrets ({where}) have no [auth] section. " + SETUP
    provider = provider_section(auth)
    missing = [k for k in _SHARED if not _text(auth, k)] + [k for k in _PROVIDER if not _text(provider, k)]
    if missing:
        named = "; ".join(f"{k} ({_MEANING[k]})" for k in missing)
        return intro + f"the [auth] section of the secrets ({where}) lacks {named}. " + SETUP
    problems = []
    redirect = _text(auth, "redirect_uri")
    if wrong := _absolute_url(redirect):
        problems.append(f"redirect_uri {wrong}")
    elif not redirect.rstrip("/").endswith(OIDC_CALLBACK):
        problems.append(f"redirect_uri must end with {OIDC_CALLBACK} (e.g. http://HOST:8501{OIDC_CALLBACK}); "
                        f"it is {redirect!r}")
    if wrong := _absolute_url(_text(provider, "server_metadata_url")):
        problems.append(f"server_metadata_url {wrong}")
    if len(_text(auth, "cookie_secret")) < COOKIE_SECRET_MIN:
        problems.append(f"cookie_secret is shorter than {COOKIE_SECRET_MIN} characters, so a sign-in cookie could "
                        "be forged; make one with: python -c \"import secrets; print(secrets.token_hex(32))\"")
    if problems:
        return intro + f"in the [auth] section of the secrets ({where}): " + "; ".join(problems) + ". " + SETUP
    return None


def proxy_problem(header: str, address: str | None) -> str | None:
    """Why ``RAGTUNE_AUTH=proxy`` is refused on ``address`` (None: the app listens on loopback only)."""
    if is_loopback(address):
        return None
    return (f"RAGTUNE_AUTH=proxy is refused: the identity comes from the {header} header, and this app listens on "
            f"{listening_on(address)}, so anyone who reaches it without passing the proxy could send that header "
            "and be whoever they like. Listen on loopback only, behind the proxy: streamlit run app.py "
            "--server.address 127.0.0.1 (make run does: HOST=127.0.0.1). " + SETUP)


def auth_problem(settings: Settings, address: str | None, secrets: Mapping[str, object] | None, *,
                 secret_files: Sequence[str] = (), authlib: tuple[int, ...] | None = AUTHLIB_MIN) -> str | None:
    """What keeps the app from serving any page with the configured sign-in (RAGTUNE_AUTH), or None.

    ``address`` is the one the server listens on; ``secrets`` what Streamlit read (used for oidc only).
    """
    if settings.auth == "oidc":
        return oidc_problem(secrets, secret_files=secret_files, authlib=authlib)
    if settings.auth == "proxy":
        return proxy_problem(settings.proxy_header, address)
    return None


def proxy_identity(values: Sequence[str], header: str) -> str | None:
    """The user's address from the proxy's ``header`` (``values``: each occurrence in the request), None when absent.

    A proxy sets the header itself, replacing whatever the client sent. Two of them mean the client's own reached
    the app beside the proxy's, and which one is the proxy's cannot be told: refused.

    Raises:
        InputError: the header occurs more than once.
    """
    present = [v for v in values if v.strip()]
    if len(present) > 1:
        raise InputError(f"The request carries {len(present)} {header} headers: the proxy must replace the one a "
                         "client sends, not add its own beside it.")
    return present[0] if present else None


def oidc_identity(claims: Mapping[str, object], *, require_verified: bool = True) -> tuple[str, str]:
    """The signed-in user's (address, name) from the provider's claims (``st.user``).

    RAGTUNE_ADMINS and every role are granted to addresses, so the address must be the user's: where a user may
    type any address into their account (Keycloak's default, an optional claim in Entra ID), an unverified one
    would let them sign in as an admin. The provider's ``email_verified`` claim must be true unless
    RAGTUNE_OIDC_REQUIRE_VERIFIED_EMAIL is off (for a provider that verifies every address and never says so).

    Raises:
        InputError: no ``email`` claim, or it is not marked verified.
    """
    email, name = claims.get("email"), claims.get("name") or ""
    if not email:
        raise InputError("The identity provider sent no e-mail address (the 'email' claim): ask its admin to "
                         "release the email scope to this app.")
    verified = claims.get("email_verified")
    if require_verified and verified is not True and str(verified).strip().lower() != "true":
        raise InputError(f"The identity provider has not verified the address {str(email)[:80]!r} (its "
                         "'email_verified' claim is not true): roles and admin rights go by address, so only a "
                         "verified one signs in. Verify the address at the provider, or ask the admin.")
    return str(email), str(name)


def missing_identity(header: str) -> str:
    """What a proxy-mode page says when the request carries no identity header."""
    return (f"The proxy sent no identity: this app (RAGTUNE_AUTH=proxy) reads the signed-in user's e-mail address "
            f"from the {header} header, and this request has none. Open the app through the proxy, and have the "
            "proxy pass that header (oauth2-proxy sends X-Forwarded-Email; Authelia sends Remote-Email: then set "
            "RAGTUNE_PROXY_HEADER=Remote-Email). " + SETUP)


def invalid_identity(settings: Settings, problem: InputError) -> str:
    """What a page says when the proxy's header or the provider's ``email`` claim is not one e-mail address."""
    if settings.auth == "proxy":
        return (f"The proxy's {settings.proxy_header} header does not hold one e-mail address: {problem} Have the "
                "proxy pass the signed-in user's address in it, or name the header that does in RAGTUNE_PROXY_HEADER.")
    return (f"The identity provider's answer cannot be used: {problem} Sign out, and sign in with an account whose "
            "verified e-mail address the provider sends.")


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` (None: not an absolute http(s) URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def sign_in_address_hint(redirect_uri: str, page_url: str | None, *, port: int | None = None) -> str | None:
    """When the browser shows the app at another address than the provider sends users back to (the
    ``redirect_uri``), the sign-in ends back here signed out, with nothing said: the hint that says where to
    open the app instead (None: the addresses agree, or the page's address is unknown).

    ``port`` fills a ``{port}`` placeholder in ``redirect_uri``, as Streamlit does.
    """
    expected = origin(redirect_uri.replace("{port}", str(port)) if port else redirect_uri)
    actual = origin(page_url) if page_url else None
    if expected is None or actual is None or expected == actual:
        return None
    return (f"Open the app at {expected}: the identity provider sends you back to that address (the redirect_uri), "
            f"and a sign-in started from {actual} would come back signed out.")


__all__ = ["AUTHLIB_MIN", "COOKIE_SECRET_MIN", "auth_problem", "authlib_version", "invalid_identity", "is_loopback",
           "listening_on", "missing_identity", "oidc_problem", "open_access_warning", "origin", "provider_section",
           "proxy_identity", "proxy_problem", "sign_in_address_hint"]
