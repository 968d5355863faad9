"""The only zmq below the drivers: frames, sockets, contexts, endpoints, monitors.

=================  ============================================================
:mod:`.frames`     send and receive one message, zero-copy for large frames
:mod:`.sockets`    every network socket, made one way
:mod:`.context`    the private zmq context an adapter or broker owns
:mod:`.endpoints`  the UI endpoint, per-user endpoints, no takeover of a path
:mod:`.monitor`    what happened to a socket's connections
:mod:`.probe`      whether anything listens at an endpoint, and whether it is ZeroMQ
:mod:`.inbox`      waking a socket-owning thread from another thread
=================  ============================================================
"""

from .endpoints import DEFAULT_UI_ENDPOINT, UI_ENDPOINT_ENV, ui_endpoint

__all__ = ["ui_endpoint", "DEFAULT_UI_ENDPOINT", "UI_ENDPOINT_ENV"]
