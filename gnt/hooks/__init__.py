"""Ganeti's hooks: scripts an admin hangs off opcodes, run before (pre) and after (post) them."""
