"""Alembic migrations (date-prefixed revision files, each written and read by hand)."""
