"""Being known and knowing who is there: announcing, heartbeats, the host registry."""
