"""Master-to-node RPC: JSON over HTTPS with mutual TLS (client here; server in agent/)."""
