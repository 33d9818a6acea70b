"""Networks: IPv4 address pools, their connections to node groups, `gnt-network`, RAPI and query fields."""
