"""The table of upstream read timers: a wait ends when the socket is readable, or at its deadline."""

from __future__ import annotations

import socket

import trio
import trio.testing

from nginxpy.http.upstream import TICK, read_timers


async def test_readable_before_the_deadline() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        right.send(b"x")
        assert await read_timers().wait_readable(left, 5.0)
        assert left.recv(10) == b"x"
        assert not read_timers().waiting


async def test_timers_fire_in_order_of_their_deadlines(autojump_clock: trio.testing.MockClock) -> None:
    pairs = [socket.socketpair() for _ in range(3)]
    ended: dict[int, tuple[bool, float]] = {}
    start = trio.current_time()

    async def wait(index: int, timeout: float) -> None:
        sock = pairs[index][0]
        sock.setblocking(False)
        ready = await read_timers().wait_readable(sock, timeout)
        ended[index] = (ready, trio.current_time() - start)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait, 0, 3.0)
            nursery.start_soon(wait, 1, 1.0)
            nursery.start_soon(wait, 2, 2.0)
            await trio.sleep(1.5)
            pairs[2][1].send(b"x")  # readable before its deadline
    finally:
        for a, b in pairs:
            a.close()
            b.close()
    assert ended[1][0] is False and 1.0 <= ended[1][1] <= 1.0 + TICK + 1e-6
    assert ended[2][0] is True and ended[2][1] < 2.0
    assert ended[0][0] is False and 3.0 <= ended[0][1] <= 3.0 + TICK + 1e-6
    assert not read_timers().waiting and not read_timers().fired
