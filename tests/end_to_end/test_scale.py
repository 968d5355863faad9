"""The broker at farm scale and under faults: simulated hosts in real processes
(bench.farm: real sockets, the real protocol), a real broker, real calls."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any, Dict, Iterator, List

import pytest

import broker
from broker.relay.broker import Broker
from broker.wire.codec import Codec
from tests.conftest import ROOT, wait_until

#: More than libzmq's default of 1,023 sockets per context, and than the
#: usual desktop limit of 1,024 open files.
FARM = 1_100


class Farm:
    """A ``python -m bench.farm`` process: ``count`` simulated hosts."""

    def __init__(self, endpoint: str, count: int, name: str = "farm") -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.farm", endpoint, str(count), "--name", name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # once the broker answered every announce
        assert line, "the farm exited before announcing its hosts"
        self.ready: Dict[str, int] = json.loads(line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def farms() -> Iterator[List[Farm]]:
    started: List[Farm] = []
    yield started
    for farm in started:
        farm.stop()


def start(**options: Any) -> Broker:
    return broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.5, **options)


@pytest.mark.timeout(180)
def test_more_hosts_than_1023_are_listed_in_pages_and_each_is_callable_by_id(farms):
    with start() as running, broker.connect(running.endpoint, timeout=30) as shell:
        farms.append(Farm(running.endpoint, FARM))
        assert farms[0].ready == {"ready": FARM, "refused": 0}
        listed = shell.rpc.hosts(name="farm", page=250)
        ids = [info["id"] for info in listed]
        assert len(ids) == len(set(ids)) == FARM and ids == sorted(ids)
        with shell.rpc.pipeline(window=64) as calls:
            answers = [calls.call(f"{host_id}/whoami") for host_id in ids]
        assert [answer.result() for answer in answers] == ids
        assert shell.call("rpc.ping")["role"] == "broker"
        assert running.alive


@pytest.mark.timeout(120)
def test_a_broker_past_its_capacity_refuses_announces_and_keeps_serving(farms):
    with start(max_hosts=30) as running, broker.connect(running.endpoint, timeout=10) as shell:
        farms.append(Farm(running.endpoint, 45))
        assert farms[0].ready == {"ready": 30, "refused": 15}
        served = shell.rpc.hosts()
        assert len(served) == 30
        assert shell.call(f"{served[0]['id']}/whoami") == served[0]["id"]


@pytest.mark.timeout(120)
def test_a_reply_over_the_limit_is_answered_too_large_and_paging_still_works(farms):
    with start(codec=Codec(max_message_size=16_384)) as running:
        with broker.connect(running.endpoint, timeout=10) as shell:
            farms.append(Farm(running.endpoint, 200))
            with pytest.raises(broker.MessageTooLarge, match="rpc.hosts"):
                shell.call("rpc.hosts")  # all 200 in one reply: over 16 KiB
            assert len(shell.rpc.hosts(page=20)) == 200
            assert running.alive and shell.call("rpc.ping")["role"] == "broker"


def test_a_reserved_handler_that_raises_is_answered_and_the_broker_serves_on():
    with start() as running, broker.connect(running.endpoint, timeout=5) as shell:

        def broken() -> None:
            raise RuntimeError("a bug in the broker")

        running._frontends._handlers["rpc.broken"] = broken  # a handler with a bug
        with pytest.raises(broker.RemoteError, match="a bug in the broker"):
            shell.call("rpc.broken")
        assert shell.call("rpc.ping")["role"] == "broker"
        assert running.alive


def test_a_loop_that_keeps_failing_dies_and_says_so():
    running = broker.start_broker(["tcp://127.0.0.1:*"], heartbeat_interval=0.02)
    try:

        def broken() -> List[Any]:
            raise RuntimeError("routing is broken")

        running.routing.tick = broken  # type: ignore[method-assign]
        wait_until(lambda: not running.alive, timeout=20, message="the broken loop to end")
        assert isinstance(running.failure, RuntimeError)
    finally:
        running.stop()


LOW_LIMIT = 330  # (330 - 256) // 2 = 37 hosts


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_LIMIT, LOW_LIMIT))


@pytest.mark.timeout(120)
def test_a_broker_short_of_descriptors_refuses_the_hosts_it_cannot_hold(farms):
    """A broker whose hard limit is 330 open files (a desktop's is often
    1,024): 37 hosts fit; the others are refused, and it serves on."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", "broker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_low_limit,
    )
    try:
        assert process.stdout is not None
        endpoint = json.loads(process.stdout.readline())["endpoint"]
        farms.append(Farm(endpoint, 60))
        assert farms[0].ready == {"ready": 37, "refused": 23}
        with broker.connect(endpoint, timeout=10) as shell:
            served = shell.rpc.hosts()
            assert len(served) == 37
            assert shell.call(f"{served[-1]['id']}/whoami") == served[-1]["id"]
            assert shell.call("rpc.ping")["role"] == "broker"
    finally:
        process.kill()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()
