"""Evaluation: how answers are judged against an eval set, run across modes, stored, and turned into the seed's claims.

Modules: :mod:`~ragtune.evaluation.sets` (the eval-set schema and its one reader),
:mod:`~ragtune.evaluation.scoring` (the one judge of an answer), :mod:`~ragtune.evaluation.scoreboard`,
:mod:`~ragtune.evaluation.store` (runs in SQLite, CSV), :mod:`~ragtune.evaluation.runner`,
:mod:`~ragtune.evaluation.workspaces` (the demo documents a run is judged against),
:mod:`~ragtune.evaluation.report` (the claims) and :mod:`~ragtune.evaluation.stats`. Import from them.
"""
