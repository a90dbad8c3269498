"""pmbridge's sync core: the unified model, vendor connectors, mapping, storage and engine."""
