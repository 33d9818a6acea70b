"""Process entry points: wiring only."""
