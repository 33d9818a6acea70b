"""gnt-os: CLI, logical units and query fields."""
