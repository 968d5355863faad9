"""Serving a service: dispatch tables and the serving loop.

=================  ============================================================
:mod:`.service`    an object, module, dict or list as a fixed dispatch table
:mod:`.server`     the ROUTER server: decode, answer ``rpc.*``, dispatch, reply
:mod:`.handover`   which of the server's two threads holds the sockets
=================  ============================================================
"""

from .requests import Dispatcher
from .server import Server
from .service import Service, ServiceLike, as_service, check_service

__all__ = ["Server", "Dispatcher", "Service", "ServiceLike", "as_service", "check_service"]
