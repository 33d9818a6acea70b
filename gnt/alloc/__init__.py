"""Allocation and balancing: the cluster model, htools text format, score, allocator."""
