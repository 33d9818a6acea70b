"""gnt-node: CLI, logical units and query fields."""
