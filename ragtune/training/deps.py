"""The optional training dependencies (torch, transformers, peft, accelerate)."""

from __future__ import annotations

import importlib.util

from ragtune.errors import TrainingUnavailable

TRAIN_PACKAGES = ("torch", "transformers", "peft", "accelerate")
INSTALL_HINT = "make train-deps (or: pip install -r requirements-train.txt)"


def missing_training_packages() -> list[str]:
    """The training packages that cannot be imported (found without importing them)."""
    return [name for name in TRAIN_PACKAGES if importlib.util.find_spec(name) is None]


def require_training_packages() -> None:
    """Raises TrainingUnavailable with the install command when a package is missing."""
    missing = missing_training_packages()
    if missing:
        raise TrainingUnavailable(
            f"Training needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            f"installed. Install the training extras: {INSTALL_HINT}."
        )
