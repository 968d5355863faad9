"""A local user without the key, attacking an endpoint with plain sockets.

Run as another user (tests/end_to_end/test_attacks.py passes this file's
text with ``python -c``, so that user needs no access to the checkout) and
only the standard library is used. Every command prints one JSON line:

    unix PATH                        connect to an ipc path; say whether it let us
    big HOST PORT FRAMES SIZE        one ZMTP connection that starts a CURVE
                                     handshake, then sends a multipart message of
                                     FRAMES frames of SIZE bytes instead
    stall HOST PORT COUNT SIZE HOLD  COUNT connections that each declare a frame
                                     of SIZE bytes and send none of it; hold them
                                     HOLD seconds or until the server drops them
    flood HOST PORT COUNT HOLD       COUNT connections that start a handshake and
                                     never finish it, held likewise
"""

import json
import resource
import selectors
import socket
import struct
import sys
import time

# ZMTP 3.0 greeting: signature, version 3.0, mechanism CURVE, as-client, filler.
GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\x00")
GREETING += b"\x00" + b"\x00" * 31
LONG, MORE = 0x02, 0x01
CHUNK = b"\x00" * (1 << 20)


def say(**result):
    print(json.dumps(result), flush=True)


def frame_header(size, more):
    return bytes([LONG | (MORE if more else 0)]) + struct.pack(">Q", size)


def connect(host, port):
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(GREETING)
    return sock


def unix(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        say(connected=False, error=type(exc).__name__)
    else:
        say(connected=True, error="")
    finally:
        sock.close()


def big(host, port, frames, size):
    """Send the frames until the server drops the connection; say how far we got."""
    sent = 0
    sock = connect(host, port)
    try:
        for index in range(int(frames)):
            sock.sendall(frame_header(int(size), index < int(frames) - 1))
            for _ in range(int(size) // len(CHUNK)):  # bounded: SIZE / 1 MiB chunks
                sock.sendall(CHUNK)
                sent += len(CHUNK)
        dropped = False
    except OSError:
        dropped = True
    finally:
        sock.close()
    say(sent=sent, dropped=dropped)


def hold(sockets, seconds):
    """Wait until the server closed every socket or ``seconds`` pass; say when."""
    started = time.monotonic()
    deadline = started + float(seconds)
    watching = selectors.DefaultSelector()  # epoll: more descriptors than select()
    for sock in sockets:
        sock.setblocking(False)
        watching.register(sock, selectors.EVENT_READ)
    still_open = len(sockets)
    while still_open and time.monotonic() < deadline:  # bounded by the deadline
        for key, _ in watching.select(0.1):
            try:
                closed = key.fileobj.recv(65536) == b""  # the server's greeting, or its close
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                watching.unregister(key.fileobj)
                key.fileobj.close()
                still_open -= 1
    for key in list(watching.get_map().values()):
        key.fileobj.close()
    return still_open, time.monotonic() - started


def many(host, port, count, declare):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = int(count) + 64
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    sockets, failed = [], 0
    for _ in range(int(count)):
        try:
            sock = connect(host, port)
            if declare:
                sock.sendall(frame_header(int(declare), False))
            sockets.append(sock)
        except OSError:
            failed += 1
    return sockets, failed


def stall(host, port, count, size, seconds):
    sockets, failed = many(host, port, count, size)
    still_open, took = hold(sockets, seconds)
    say(opened=len(sockets), failed=failed, still_open=still_open, seconds=round(took, 2))


def flood(host, port, count, seconds):
    sockets, failed = many(host, port, count, 0)
    still_open, took = hold(sockets, seconds)
    say(opened=len(sockets), failed=failed, still_open=still_open, seconds=round(took, 2))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"unix": unix, "big": big, "stall": stall, "flood": flood}[command](*args)
