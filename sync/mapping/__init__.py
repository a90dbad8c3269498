"""Pure translation from validated vendor payloads to the unified model."""
