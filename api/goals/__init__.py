"""/v1/goals: SMART goals, rollups, checks, forecasts and history."""
