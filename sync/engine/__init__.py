"""Running syncs: page -> map -> upsert + cursor in one transaction; census; run records."""
