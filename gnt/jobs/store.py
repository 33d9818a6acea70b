"""Where the queue's row schema used to live; it is `gnt.queue_rows` now (shared with the node's replica)."""

from gnt.queue_rows import CHUNK, SCHEMA, Row, all_rows, check_row, upsert

__all__ = ["CHUNK", "SCHEMA", "Row", "all_rows", "check_row", "upsert"]
