"""Node groups: their query fields, opcodes, logical units, RAPI resources and `gnt-group`."""
