"""Master-to-node RPC: the procedure table (procedures), strict records (records), the typed client
(client), the transports (transport, https) and the wire format (protocol); the node side is agent/.
"""
