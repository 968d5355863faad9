"""Who may talk to an endpoint, decided at the connection: keys, CURVE, ZAP.

=================  ============================================================
:mod:`.options`    :class:`Security`: what ``auth=`` means; which connections
                   speak CURVE and which need none (a private ipc path)
:mod:`.keys`       the per-user keypair: where it lives, how it is made, checked
:mod:`.zap`        the ZAP handler that admits CURVE clients (``zmq.auth``)
:mod:`.arguments`  the security options of every command line
=================  ============================================================
"""

from .options import AuthLike, Security, resolve

__all__ = ["Security", "AuthLike", "resolve"]
