"""Shared pieces of the gnt-* command-line tools (kept light: they load on every command)."""
