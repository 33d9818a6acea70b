"""Job filter rules (Ganeti's `gnt-filter`): which queued jobs run, wait, or are refused."""
