"""The connections' timer task (nginxpy.http.timers) on trio's virtual clock."""

from __future__ import annotations

import math
from typing import Any

import trio
import trio.testing

from nginxpy.http.timers import Timers


class Item:
    def __init__(self) -> None:
        self.timeout_at = math.inf
        self.timer_entry: list[Any] | None = None
        self.scope = trio.CancelScope()
        self.ended_at = math.inf


async def wait_in(item: Item) -> None:
    with item.scope:
        await trio.sleep_forever()
    item.ended_at = trio.current_time()


async def test_deadlines_fire_move_and_stop(autojump_clock: trio.testing.MockClock) -> None:
    timers = Timers()
    start = trio.current_time()
    later, moved, stopped, earlier, removed = (Item() for _ in range(5))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers.run)
        for item in (later, moved, stopped, earlier, removed):
            nursery.start_soon(wait_in, item)
        await trio.sleep(0)
        timers.set(later, start + 10)
        timers.set(moved, start + 5)
        timers.set(stopped, start + 5)
        timers.set(earlier, start + 60)
        timers.set(removed, start + 3)
        await trio.sleep(1)
        timers.set(moved, start + 20)  # a later deadline: the entry moves when it comes due
        timers.set(stopped, math.inf)
        timers.set(earlier, start + 2)  # an earlier one wakes the task
        timers.remove(removed)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert earlier.ended_at - start == 2
    assert later.ended_at - start == 10
    assert moved.ended_at - start == 20
    assert stopped.ended_at == math.inf
    assert removed.ended_at == math.inf
    assert not timers.heap or all(entry[2] is None for entry in timers.heap)


async def test_dead_entries_are_dropped(autojump_clock: trio.testing.MockClock) -> None:
    timers = Timers()
    items = [Item() for _ in range(3000)]
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers.run)
        await trio.sleep(0)
        for item in items:
            timers.set(item, start + 100)
        for item in items[:2500]:
            timers.remove(item)
        timers.set(items[-1], start + 1)  # the first entry: its firing compacts the heap
        await trio.sleep(2)
        nursery.cancel_scope.cancel()
    # the 499 others are left (the last one fired), the removed ones are gone
    assert len(timers.heap) == 499
    assert all(entry[2] is not None for entry in timers.heap)
    assert timers.dead == 0
