"""One error hierarchy for ragtune.

Every error a user can cause (a bad setting, a wrong file, an invalid input)
is a :class:`RagtuneError` whose message says what was wrong and what to do.
Pages show ``str(err)`` with ``st.error``; the CLI prints it to stderr.
"""

from __future__ import annotations


class RagtuneError(Exception):
    """Base class of every error ragtune raises on purpose."""

    code: str = "ragtune_error"

    @classmethod
    def name(cls) -> str:
        return cls.__name__


class ConfigError(RagtuneError):
    """A setting (environment variable or .env entry) is invalid."""

    code = "config_error"


class ModelError(RagtuneError):
    """A model file is missing, corrupt, has the wrong checksum or is unsupported."""

    code = "model_error"


class AdapterError(RagtuneError):
    """A LoRA adapter file is invalid or does not fit the loaded base model."""

    code = "adapter_error"


class RuntimeBackendError(RagtuneError):
    """The inference backend failed to load a model or to generate."""

    code = "runtime_error"


class InputError(RagtuneError):
    """A user input (query, upload, JSONL line, option) is invalid."""

    code = "input_error"


class IngestError(InputError):
    """A document cannot be ingested (empty, binary, undecodable, too large, unreadable PDF ...)."""

    code = "ingest_error"


class WorkspaceError(InputError):
    """A knowledge workspace name is invalid, already taken, or does not exist."""

    code = "workspace_error"
