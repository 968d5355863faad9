"""Being known and knowing who is there: announcing, heartbeats, the host registry.

=================  ============================================================
:mod:`.node`       an endpoint that serves and announces (a host, an attached UI)
:mod:`.announcer`  announce, heartbeat, depart: one endpoint's link to the UI
:mod:`.registry`   the hosts a UI endpoint or broker knows, and their liveness
=================  ============================================================
"""
