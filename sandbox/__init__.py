"""Vendor simulators: ASGI apps that speak each vendor's REST API, for the demo, tests and
benchmarks."""
