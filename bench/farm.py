"""A farm of simulated hosts that speak the real protocol, for scale runs.

    python -m bench.farm BROKER_ENDPOINT COUNT [--name NAME] [--prefix P]

Each simulated host is what a broker sees of a real one: a ROUTER bound at
an ``ipc://`` endpoint of its own (so ZeroMQ answers the broker's ZMTP
heartbeats for it), announced with ``rpc.announce`` and heartbeating
``idle`` with ``rpc.heartbeat`` at the interval the broker gives. It answers
``whoami`` with its own id and ``echo`` with its argument. One DEALER in the
process carries every host's announce and heartbeats; one thread polls the
hosts' ROUTERs (only when a call arrives, so an idle farm costs its
heartbeats and nothing else).

Real adapters cost a context, threads and a few descriptors each: 2 cores
hold a few hundred of them. This holds thousands per process; several
processes (``bench.scale`` starts them) make a farm of 10,000.

The process prints one line, ``{"ready": N, "refused": M}``, once the broker
has answered every announce (a full broker refuses some), then serves until
killed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket as socketlib
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import zmq

from broker.security.options import resolve
from broker.wire.codec import Codec
from broker.wire.envelope import split_envelope
from broker.wire.messages import PROTOCOL_VERSION, Request

ANNOUNCE_TIMEOUT = 120.0


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on descriptors to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class Farm:
    """``count`` simulated hosts named ``name``, ids ``PREFIX-N``."""

    def __init__(self, broker: str, count: int, name: str, prefix: str) -> None:
        raise_open_files_limit()
        self.context = zmq.Context()
        self.context.set(zmq.MAX_SOCKETS, count + 64)
        self.codec = Codec()
        self.folder = tempfile.mkdtemp(prefix="farm-", dir=_short_tmp())
        self.ids = [f"{prefix}-{n}" for n in range(count)]
        self.name = name
        self.hosts: Dict[zmq.Socket, str] = {}
        self.endpoints: Dict[str, str] = {}
        for n, host_id in enumerate(self.ids):
            router = self.context.socket(zmq.ROUTER)
            router.linger = 0
            endpoint = f"ipc://{self.folder}/{n}"
            router.bind(endpoint)
            self.hosts[router] = host_id
            self.endpoints[host_id] = endpoint
        self.uplink = self.context.socket(zmq.DEALER)
        self.uplink.linger = 0
        resolve(True).apply_client(self.uplink, broker)  # CURVE with the user's key on TCP
        self.uplink.connect(broker)
        self.interval = 1.0
        self.heartbeats = True  # False: only ZeroMQ's own heartbeats (for measuring them)
        self._msgid = 0

    # -- talking to the broker ---------------------------------------------------

    def _send(self, method: str, *args: Any) -> None:
        self._msgid = self._msgid % 0xFFFFFFFF + 1
        self.uplink.send_multipart([b"", *self.codec.encode_request(self._msgid, method, args)])

    def _answers(self) -> List[Any]:
        results = []
        while self.uplink.poll(0):
            frames = self.uplink.recv_multipart()
            results.append(self.codec.decode(frames[1:]))
        return results

    def announce_all(self) -> int:
        """Announce every host; return once the broker answered each, with
        the number it refused (a full broker: those are not served)."""
        pid, hostname = os.getpid(), socketlib.gethostname()
        by_msgid = {}
        for host_id in self.ids:
            info = {
                "id": host_id,
                "name": self.name,
                "role": "host",
                "endpoint": self.endpoints[host_id],
                "pid": pid,
                "hostname": hostname,
                "protocol": PROTOCOL_VERSION,
            }
            self._send("rpc.announce", info)
            by_msgid[self._msgid] = host_id
        refused, deadline = set(), time.monotonic() + ANNOUNCE_TIMEOUT
        while by_msgid:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker left {len(by_msgid)} announces unanswered")
            if self.uplink.poll(1000):
                for response in self._answers():
                    host_id = by_msgid.pop(response.msgid, None)
                    if response.error is not None and host_id is not None:
                        refused.add(host_id)
                    elif isinstance(response.result, dict):
                        self.interval = float(response.result.get("heartbeat", self.interval))
        self.ids = [host_id for host_id in self.ids if host_id not in refused]
        return len(refused)

    def heartbeat_all(self) -> None:
        for host_id in self.ids:
            self._send("rpc.heartbeat", host_id, "idle")

    # -- serving -------------------------------------------------------------------

    def serve(self, stop_after: Optional[float] = None) -> None:
        poller = zmq.Poller()
        for router in self.hosts:
            poller.register(router, zmq.POLLIN)
        poller.register(self.uplink, zmq.POLLIN)
        next_beat = time.monotonic() + self.interval
        end = None if stop_after is None else time.monotonic() + stop_after
        while end is None or time.monotonic() < end:
            wait = max(0.0, next_beat - time.monotonic())
            for sock, _ in poller.poll(int(wait * 1000)):
                if sock is self.uplink:
                    self._answers()  # heartbeat answers: nothing to do
                else:
                    self._answer(sock)
            if time.monotonic() >= next_beat:
                next_beat += self.interval
                if self.heartbeats:
                    self.heartbeat_all()

    def close(self) -> None:
        """Close every socket and remove the hosts' ipc folder."""
        self.context.destroy(linger=0)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _answer(self, router: zmq.Socket) -> None:
        while router.poll(0):
            envelope, message = split_envelope(router.recv_multipart())
            request = self.codec.decode(message)
            if not isinstance(request, Request):
                continue
            if request.method == "whoami":
                reply = self.codec.encode_response(request.msgid, self.hosts[router])
            elif request.method in ("echo", "rpc.ping"):
                value = request.args[0] if request.args else None
                reply = self.codec.encode_response(request.msgid, value)
            else:
                error = {"type": "MethodNotFound", "message": request.method}
                reply = self.codec.encode_response(request.msgid, error=error)
            router.send_multipart([*envelope, *reply])


def _short_tmp() -> str:
    """A folder whose ipc paths stay under the 107-byte limit."""
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.farm", description=__doc__)
    parser.add_argument("broker")
    parser.add_argument("count", type=int)
    parser.add_argument("--name", default="farm")
    parser.add_argument("--prefix", default=f"farm{os.getpid()}")
    parser.add_argument(
        "--no-heartbeats", action="store_true", help="send no rpc.heartbeat (hosts go silent)"
    )
    parser.add_argument(
        "--lifetime", type=float, default=3600.0, help="seconds to serve before exiting"
    )
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exits through the finally
    farm = Farm(options.broker, options.count, options.name, options.prefix)
    farm.heartbeats = not options.no_heartbeats
    try:
        refused = farm.announce_all()
        print(json.dumps({"ready": len(farm.ids), "refused": refused}), flush=True)
        farm.serve(stop_after=options.lifetime)
    finally:
        farm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
