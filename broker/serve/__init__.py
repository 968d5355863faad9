"""Serving a service: dispatch tables and the serving loop."""
