"""gnt-debug: CLI, logical units and query fields."""
