"""Subcommands of ``python -m ragtune``, one module per feature."""
