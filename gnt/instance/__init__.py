"""gnt-instance: CLI, logical units and query fields."""
