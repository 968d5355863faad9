"""Who may talk to an endpoint: key files and the connection-level mechanism."""
