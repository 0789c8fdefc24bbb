"""The decision wizard: a team's answers in, a recommendation they can defend (and share) out.

``answers`` is what the team says, ``questions`` how the wizard asks it, ``recommend`` the
seed's funnel (``advice`` writes it up), ``economics`` the prompt-vs-adapter costs,
``record`` the Markdown/JSON decision record, ``params`` the URL codec. Import from the modules.
"""
