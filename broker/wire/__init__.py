"""The wire protocol without I/O: messages, codec and limits, envelopes, calls.

=================  ============================================================
:mod:`.messages`   kinds, reserved methods, error maps, host info and states
:mod:`.codec`      bodies to frames and back, under an endpoint's limits
:mod:`.envelope`   where the body sits among the frames; heads; salvaged msgids
:mod:`.calls`      the calls in flight on one connection
=================  ============================================================

Nothing here imports zmq or starts a thread.
"""

from .codec import Codec
from .messages import PROTOCOL_VERSION, HostInfo, HostRecord, HostState, Request, Response, Role

__all__ = [
    "Codec",
    "PROTOCOL_VERSION",
    "Request",
    "Response",
    "HostInfo",
    "HostRecord",
    "HostState",
    "Role",
]
