"""The job queue, the lock manager and the processor that runs logical units."""
