"""Domain logic over unified records: progress, goals, forecasts, risks (used by api and worker)."""
