"""The one place that talks HTTP to vendors: client, retries, rate limits, pagination."""
