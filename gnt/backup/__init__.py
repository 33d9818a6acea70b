"""Copying instance disks between nodes: `gnt-instance move` (and the export format's groundwork).

`copy` drives one node-to-node disk stream (agent.transfer) from the master; `move` is the
logical unit of OP_INSTANCE_MOVE.
"""
