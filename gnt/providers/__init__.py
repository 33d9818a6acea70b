"""What OS definitions and ExtStorage providers have in common: each node reports the provider
directories of its search path, the master merges the reports per provider, and the CLIs print them."""
