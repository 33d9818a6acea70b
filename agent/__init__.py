"""Node agent: what gnt-noded does on a node, dispatching RPC calls to backends/ and storage/."""
