"""ragtune: a self-hosted lab for deciding between RAG and fine-tuning.

The core library. It never imports Streamlit, so the CLI, the tests and the app
all share the same code paths.
"""

from __future__ import annotations

__version__ = "0.1.0"
