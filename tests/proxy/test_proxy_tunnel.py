"""The upgraded-connection tunnel: bytes, buffers, timers and end of file, on in-memory streams."""

from __future__ import annotations

import trio
import trio.testing

from nginxpy.http.tunnel import TunnelResult, run_tunnel


async def _run(
    client: trio.abc.Stream, upstream: trio.abc.Stream, box: list[TunnelResult], **kw: object
) -> None:
    box.append(await run_tunnel(client, upstream, **kw))  # type: ignore[arg-type]


async def test_bytes_pass_both_ways_and_buffered_bytes_go_first() -> None:
    client_outer, client_inner = trio.testing.memory_stream_pair()
    upstream_outer, upstream_inner = trio.testing.memory_stream_pair()
    box: list[TunnelResult] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: _run(client_inner, upstream_inner, box, to_client=b"early", to_upstream=b"piped")
        )
        assert await upstream_outer.receive_some(100) == b"piped"
        assert await client_outer.receive_some(100) == b"early"
        await client_outer.send_all(b"\x81\x05hello")
        assert await upstream_outer.receive_some(100) == b"\x81\x05hello"
        await upstream_outer.send_all(b"\x82\x01\x00")
        assert await client_outer.receive_some(100) == b"\x82\x01\x00"
        await upstream_outer.aclose()
    assert box[0].reason == "eof"
    assert box[0].to_client == len(b"early") + 3
    assert box[0].to_upstream == len(b"piped") + 7


async def test_client_eof_ends_the_tunnel() -> None:
    client_outer, client_inner = trio.testing.memory_stream_pair()
    upstream_outer, upstream_inner = trio.testing.memory_stream_pair()
    box: list[TunnelResult] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _run(client_inner, upstream_inner, box))
        await client_outer.send_all(b"bye")
        await client_outer.aclose()
        assert await upstream_outer.receive_some(10) == b"bye"
    assert box[0].reason == "eof"


async def test_idle_tunnel_closes_after_read_timeout(autojump_clock: trio.testing.MockClock) -> None:
    client_outer, client_inner = trio.testing.memory_stream_pair()
    upstream_outer, upstream_inner = trio.testing.memory_stream_pair()
    box: list[TunnelResult] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _run(client_inner, upstream_inner, box, read_timeout=5.0))
        # traffic from the client restarts the timer, as in nginx
        await trio.sleep(4)
        await client_outer.send_all(b"x")
        assert await upstream_outer.receive_some(10) == b"x"
        await trio.sleep(4)
        await upstream_outer.send_all(b"y")
        assert await client_outer.receive_some(10) == b"y"
    elapsed = trio.current_time() - start
    assert box[0].reason == "upstream_timeout"
    assert box[0].error == "upstream timed out (110: Connection timed out)"
    assert 12.9 < elapsed < 13.5


async def test_slow_client_throttles_upstream_and_send_timeout_ends_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    _client_outer, client_inner = trio.testing.lockstep_stream_pair()
    upstream_outer, upstream_inner = trio.testing.lockstep_stream_pair()
    box: list[TunnelResult] = []
    sent = 0

    async def producer() -> None:
        nonlocal sent
        for _ in range(1000):
            await upstream_outer.send_all(b"z" * 1024)
            sent += 1024

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: _run(client_inner, upstream_inner, box, buffer_size=4096, send_timeout_client=3.0)
        )
        nursery.start_soon(producer)
        await trio.sleep(1)
        # the client reads nothing: the tunnel holds one buffer, the producer is stuck
        assert sent <= 4096 * 2
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert box[0].reason == "client_timeout"
    assert box[0].error.startswith("client timed out")


async def test_reset_is_an_error_end() -> None:
    _client_outer, client_inner = trio.testing.memory_stream_pair()
    _upstream_outer, upstream_inner = trio.testing.memory_stream_pair()
    box: list[TunnelResult] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _run(client_inner, upstream_inner, box))
        await trio.testing.wait_all_tasks_blocked()
        await upstream_inner.aclose()  # the tunnel's own upstream side breaks under it
    assert box[0].reason in ("error", "eof")
