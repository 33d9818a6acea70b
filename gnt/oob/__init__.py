"""Out-of-band (OOB) node management: Ganeti's OOB protocol, its opcode, LU and CLI commands."""
