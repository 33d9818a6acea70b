"""The cluster config: persisted per object (store) and held in memory by the master (manager)."""
