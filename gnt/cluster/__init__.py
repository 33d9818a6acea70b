"""gnt-cluster: CLI, logical units and query fields."""
