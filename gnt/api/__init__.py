"""RAPI v2: the resources the master serves, and the small client the CLI uses."""
