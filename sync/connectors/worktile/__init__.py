"""Worktile Open API (team auth), facts from ``shared/vendor-api/WORKTILE.md``.

WORKTILE.md supersedes FACTS.md §4. Worktile publishes no machine-readable spec and several
details are UNVERIFIED there; each one the connector relies on is a class attribute of
:class:`~sync.connectors.worktile.connector.WorktileConnector` (or of the auth class) or a
connection option, with a comment naming the WORKTILE.md section.
"""
