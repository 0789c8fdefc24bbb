"""Settings: every knob the app and the CLI read, from ``RAGTUNE_*`` variables.

One directory, ``RAGTUNE_DATA_DIR``, holds everything ragtune writes (stores,
logs, uploads, trained adapters, the user model list). It is created on first
use and gets a ``.gitignore`` of its own, so a data directory inside a git
checkout is never committed by accident.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragtune.errors import ConfigError, InputError
from ragtune.names import check_email

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / ".ragtune-data"
ENV_PREFIX = "RAGTUNE_"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


def parse_headers(text: str) -> dict[str, str]:
    """HTTP headers from a JSON object of name -> value; ValueError says what is wrong without
    repeating a value (it may be a token)."""
    import json

    try:
        headers = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__} at character {getattr(exc, 'pos', '?')}); "
                         'write a JSON object, e.g. {"Authorization": "Bearer TOKEN"}') from None
    if not isinstance(headers, dict):
        raise ValueError('must be a JSON object of header name -> value, e.g. {"Authorization": "Bearer TOKEN"}')
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name[:40]!r} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
        if not isinstance(value, str):
            raise ValueError(f"the value of {name!r} must be a string")
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError(f"the value of {name!r} holds a line break or NUL")
    return headers


def check_http_url(value: str) -> str:
    """``value`` stripped, without a trailing ``/``, if it is an http(s) URL with a host and no
    query, fragment or credentials; else ValueError saying what is wrong."""
    from urllib.parse import urlsplit

    url = value.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000")
    if port == 0:
        raise ValueError("port 0 is not a server's port")
    if parts.query or parts.fragment:
        raise ValueError("must not hold a query (?...) or fragment (#...)")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials; send a token with the headers setting instead")
    if any(ch.isspace() for ch in url):
        raise ValueError("must not hold spaces")
    return url


class Settings(BaseSettings):
    """ragtune's settings; each field is read from ``RAGTUNE_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="The one directory everything ragtune writes goes to.",
    )
    model: str = Field(
        default="smollm2-135m-instruct-q8_0",
        min_length=1,
        description="Registry id of the chat model to load (see `python -m ragtune models`).",
    )
    model_path: Path | None = Field(
        default=None,
        description="A local GGUF file to register and load instead of RAGTUNE_MODEL.",
    )
    n_ctx: int = Field(default=4096, ge=256, le=131072, description="Context window in tokens.")
    n_threads: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        le=512,
        description="CPU threads for generation.",
    )
    n_batch: int = Field(default=512, ge=8, le=8192, description="Prompt-eval batch size.")
    flash_attn: bool = Field(
        default=True,
        description="llama.cpp's flash attention in process (measured faster on CPU: see the README's "
        "performance section).",
    )
    prefix_states: bool = Field(
        default=True,
        description="Keep each adapter set's last prompt state across adapter switches in process, so a "
        "comparison re-evaluates only the tokens a prompt does not share (a few MB per adapter set).",
    )
    max_tokens: int = Field(
        default=512, ge=1, le=8192,
        description="The ceiling on every answer's length in tokens; each answer's own cap comes from its "
        "shape (ragtune.answer_caps: a grounded JSON answer, a brief free-text one) and a mode's max_tokens.",
    )
    temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="0 means greedy: deterministic answers."
    )
    seed: int = Field(default=42, ge=0, le=2**31 - 1, description="Sampling seed.")
    max_upload_mb: int = Field(
        default=20, ge=1, le=2048, description="Largest file a user may upload, in MB."
    )
    search_mode: Literal["vector", "keyword", "hybrid"] = Field(
        default="hybrid",
        description="Knowledge search: embeddings, BM25 keywords, or both fused by reciprocal rank.",
    )
    top_k: int = Field(default=5, ge=1, le=100, description="Chunks a knowledge search returns.")
    chunk_size: int = Field(
        default=300, ge=100, le=8000,
        description="Target chunk length in characters (300: chosen by prompt-bench, see the README).",
    )
    chunk_overlap: int = Field(
        default=40, ge=0, le=2000, description="Characters a chunk repeats from the previous one."
    )
    demo_workspace: str = Field(
        default="demo", description="Workspace holding the demo knowledge base (created on first start)."
    )
    demo_tenants: bool = Field(
        default=True, description="With the demo on: seed the multi-tenant demo beside it too (two tenant "
        "workspaces, each readable by its demo persona only; ragtune.tenants).",
    )
    compute_dollars_per_hour: float = Field(
        default=0.08925,
        ge=0.0,
        le=1000.0,
        description=(
            "What an hour of this machine costs, for the lab's local-compute cost. Default: AWS EC2 "
            "c7i.large (2 vCPU, 4 GiB), on-demand Linux, us-east-1 list price (2025), a machine "
            "like the 2-core one the default model is measured on."
        ),
    )
    verify_sha256: Literal["always", "cached", "never"] = Field(
        default="cached",
        description=(
            "Checksum policy for model files: 'cached' hashes a file once and re-hashes when "
            "its size or modification time changes."
        ),
    )
    allow_server_paths: bool = Field(
        default=False,
        description=(
            "Let web users type paths of files on this server (add a local GGUF model, load an adapter "
            "from a path). Off by default: on a shared server those inputs would let anyone probe its files."
        ),
    )

    # Team server: the model server
    runtime: Literal["inprocess", "server"] = Field(
        default="inprocess",
        description="Where the model runs: in this process (one request at a time), or on a model server "
        "(RAGTUNE_SERVER_URL: llama-server from `make serve-model`, or any OpenAI-compatible server).",
    )
    server_url: str | None = Field(
        default=None,
        description="The model server's root URL (http or https), e.g. http://127.0.0.1:8080. Required when "
        "RAGTUNE_RUNTIME=server; a trailing /v1 is dropped (the client adds the paths itself).",
    )
    server_api_key: SecretStr | None = Field(
        default=None,
        description="Sent as 'Authorization: Bearer <key>' to the model server; `make serve-model` starts "
        "llama-server with --api-key when it is set.",
    )
    server_dialect: Literal["llamacpp", "openai-lora"] = Field(
        default="llamacpp",
        description="How a request picks its adapters: 'llamacpp' sends llama-server's per-request `lora` field "
        "(every adapter with an explicit scale); 'openai-lora' names the adapter as the request's `model` "
        "(vLLM --lora-modules, SGLang, LoRAX).",
    )
    server_timeout_s: float = Field(
        default=60.0, ge=1.0, le=3600.0,
        description="Seconds the model server may take to accept a request, to send its first token, and "
        "between two tokens; past it the request fails with an error naming the server.",
    )
    server_parallel: int = Field(
        default=4, ge=1, le=256,
        description="Requests `make serve-model` lets llama-server run at once (--parallel); each gets a "
        "context of RAGTUNE_N_CTX tokens.",
    )

    @field_validator("server_url", mode="after")
    @classmethod
    def _server_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            value = None
        if value is None:
            if info.data.get("runtime") == "server":
                raise ValueError("required when RAGTUNE_RUNTIME=server; set it to the model server's URL, "
                                 "e.g. http://127.0.0.1:8080 (`make serve-model` listens there)")
            return None
        try:
            return normalize_server_url(value)
        except ValueError as exc:  # the URL may hold a password: never repeat it in the message
            raise PydanticCustomError("server_url", str(exc), {"hide_input": True}) from None

    @field_validator("server_api_key", mode="after")
    @classmethod
    def _no_empty_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if any(ord(c) < 33 or ord(c) == 127 for c in value.get_secret_value()):
            raise PydanticCustomError("server_api_key", "must not contain spaces or control characters (it is "
                                      "sent in an HTTP header)", {"hide_input": True})
        return value

    # Team server: the Chroma server
    chroma_url: str | None = Field(
        default=None,
        description=(
            "A Chroma server (`make serve-chroma`, `chroma run`) holding the knowledge base instead of "
            "`<data dir>/chroma`: an http(s) URL, e.g. http://127.0.0.1:8000. Empty: the local store."
        ),
    )
    chroma_headers: SecretStr | None = Field(
        default=None,
        description=(
            "HTTP headers sent with every request to RAGTUNE_CHROMA_URL, as a JSON object "
            '(\'{"Authorization": "Bearer TOKEN"}\'): Chroma ships no authentication, so a reverse proxy '
            "in front of it checks a token. Kept secret: never shown in messages."
        ),
    )
    chroma_path: Path | None = Field(
        default=None,
        description="Where `make serve-chroma` keeps the Chroma server's data (default: <data dir>/chroma-server).",
    )
    chroma_timeout_s: float = Field(
        default=30.0, gt=0, le=600,
        description="Seconds one request to the Chroma server may take before it is an error (never a hang).",
    )

    # Team access: who is asking
    auth: Literal["none", "oidc", "proxy"] = Field(
        default="none",
        description="How users sign in: none (one local user, an admin), oidc (Streamlit's st.login with an "
        "[auth] section in .streamlit/secrets.toml), or proxy (a trusted reverse proxy's header; loopback only).",
    )
    admins: str = Field(
        default="",
        description="Comma-separated e-mail addresses of the admins (with RAGTUNE_AUTH=oidc or proxy).",
    )
    oidc_require_verified_email: bool = Field(
        default=True,
        description="With RAGTUNE_AUTH=oidc: sign in only addresses the provider marks verified (its email_verified "
        "claim). Turn off only for a provider that verifies every address and does not send the claim.",
    )
    proxy_header: str = Field(
        default="X-Forwarded-Email",
        description="With RAGTUNE_AUTH=proxy: the header that carries the signed-in user's e-mail address.",
    )
    user: str | None = Field(
        default=None,
        description="The CLI's acting user (e-mail address), as --user; required when RAGTUNE_AUTH is not none.",
    )

    @field_validator("data_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path("") is the current directory: an empty variable would silently write there.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty; set it to a writable directory or unset it")
        return value

    @field_validator("chroma_url", mode="before")
    @classmethod
    def _check_chroma_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # unset or empty: the local store
        if not isinstance(value, str):
            return value  # pydantic names the type
        return check_http_url(value)

    @field_validator("chroma_headers", mode="after")
    @classmethod
    def _check_chroma_headers(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_headers(value.get_secret_value())  # raises ValueError naming the problem, never the value
        return value

    @field_validator("admins", mode="after")
    @classmethod
    def _check_admins(cls, value: str) -> str:
        emails = [part for part in (p.strip() for p in value.split(",")) if part]
        try:
            return ",".join(sorted({check_email(e) for e in emails}))
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("user", mode="before")
    @classmethod
    def _check_user(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return check_email(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("proxy_header", mode="after")
    @classmethod
    def _check_proxy_header(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value.strip()):
            raise ValueError("must be an HTTP header name, e.g. X-Forwarded-Email")
        return value.strip()

    @cached_property
    def admin_emails(self) -> frozenset[str]:
        """RAGTUNE_ADMINS as a set of lower-case addresses."""
        return frozenset(e for e in self.admins.split(",") if e)

    @field_validator("data_dir", "model_path", "chroma_path", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        return value.expanduser().resolve()

    @field_validator("model_path", mode="after")
    @classmethod
    def _must_be_a_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value

    # Paths under the data directory. Properties, not settings: one knob, one place.
    @cached_property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @cached_property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @cached_property
    def user_models_file(self) -> Path:
        return self.data_dir / "models.json"

    @cached_property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    def chroma_header_map(self) -> dict[str, str]:
        """RAGTUNE_CHROMA_HEADERS as a dict (empty when unset)."""
        return parse_headers(self.chroma_headers.get_secret_value()) if self.chroma_headers else {}

    @cached_property
    def chroma_server_dir(self) -> Path:
        """Where `make serve-chroma` keeps its data: RAGTUNE_CHROMA_PATH, or ``<data dir>/chroma-server``."""
        return self.chroma_path or self.data_dir / "chroma-server"

    @cached_property
    def knowledge_manifest_file(self) -> Path:
        return self.data_dir / "knowledge.sqlite3"

    @cached_property
    def query_log_file(self) -> Path:
        return self.data_dir / "queries.sqlite3"

    @cached_property
    def access_file(self) -> Path:
        """Users, workspace members and roles (beside the query log: with a team server, still with the app)."""
        return self.data_dir / "access.sqlite3"

    @cached_property
    def modes_file(self) -> Path:
        return self.data_dir / "modes.json"

    @cached_property
    def economics_file(self) -> Path:
        return self.data_dir / "economics.json"

    @cached_property
    def hash_cache_file(self) -> Path:
        return self.data_dir / "sha256-cache.json"

    def ensure_data_dir(self) -> Path:
        """Create the data directory (and its ``.gitignore``) if needed; return it.

        Raises:
            ConfigError: the directory cannot be created or written to.
        """
        fix = "Point RAGTUNE_DATA_DIR at a writable directory."
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ConfigError(f"RAGTUNE_DATA_DIR: {self.data_dir} is a file, not a directory. {fix}")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            ignore = self.data_dir / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Written by ragtune: nothing in the data directory is source.\n*\n")
        except OSError as exc:
            raise ConfigError(
                f"RAGTUNE_DATA_DIR: cannot create or write {self.data_dir} ({exc.strerror}). {fix}"
            ) from exc
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"RAGTUNE_DATA_DIR: {self.data_dir} is not writable. {fix}")
        return self.data_dir


def normalize_server_url(value: str) -> str:
    """A model server's root URL, checked: http(s), a host, no credentials, query or fragment; no
    trailing slash or ``/v1`` (the client adds ``/v1/...`` and ``/health`` itself).

    Raises:
        ValueError: the URL is not usable (the message says why).
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. http://127.0.0.1:8080")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials; put the key in RAGTUNE_SERVER_API_KEY")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query (?...) or a fragment (#...)")
    if port == 0:
        raise ValueError("port 0 is not a server's port")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1").rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (and ``.env``), with optional overrides.

    Raises:
        ConfigError: a setting is invalid; the message names the variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError.from_validation(
            exc,
            what="Invalid setting (fix the variable in the environment or .env)",
            label=lambda field: f"{ENV_PREFIX}{(field or '?').upper()}",
            secret=lambda field: _is_secret(field.split(".")[0]),
        ) from exc


def _is_secret(field: str) -> bool:
    """Whether the setting holds a secret (a ``SecretStr``): its value is never repeated in a message."""
    info = Settings.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)
