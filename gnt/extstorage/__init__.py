"""ExtStorage providers: `gnt-storage diagnose` and `info` (OP_EXTSTORAGE_DIAGNOSE)."""
