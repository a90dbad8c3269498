"""Asana (REST API 1.0, ``https://app.asana.com/api/1.0``)."""
