"""The standalone broker: routing between clients and hosts, its loop, its command line.

=================  ============================================================
:mod:`.broker`     :class:`~broker.relay.broker.Broker`: the sockets and the loop
:mod:`.cli`        ``python -m broker``
=================  ============================================================
"""
