"""Risks: /v1/risks (signals, register, matrix) and /v1/goals/{id}/risks."""
