"""Tags on the cluster, node groups, nodes and instances: Ganeti's OP_TAGS_* opcodes, LUs, CLI and RAPI."""
