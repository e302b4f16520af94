"""The connections' timers (client_header_timeout, keepalive_timeout, ...) in one task.

A connection keeps its current deadline in a plain attribute (``timeout_at``, trio time;
``inf`` when no timer runs) and changes it on every wait: that must cost nothing, so the
timers are kept lazily, as nginx's timer tree is (ngx_event_add_timer leaves a timer that
moved by little alone).  A connection has at most one entry in the heap, at or before its
real deadline; when an entry comes due, the connection is cancelled if its deadline has
passed, else the entry goes back in at the current deadline.  Only a deadline earlier than
the entry's moves it (and wakes the task if it becomes the first).
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Protocol

import trio


class Timed(Protocol):
    timeout_at: float  # the deadline now (trio time), inf: none
    timer_entry: list[Any] | None  # its entry in the heap: [deadline, seq, self]
    scope: trio.CancelScope  # cancelled when the deadline passes


class Timers:
    def __init__(self) -> None:
        self.heap: list[list[Any]] = []
        self.seq = 0
        self.dead = 0  # entries of closed or moved timers still in the heap
        self.wake = trio.CancelScope()  # the task's sleep; its deadline is the first entry's

    def set(self, item: Timed, deadline: float) -> None:
        """Set item's deadline; ``inf`` stops its timer."""
        item.timeout_at = deadline
        entry = item.timer_entry
        if entry is not None and entry[0] <= deadline:
            return  # the entry comes due first, and is moved then
        if deadline == math.inf:
            return
        if entry is not None:
            entry[2] = None
            self.dead += 1
        self.seq += 1
        entry = [deadline, self.seq, item]
        item.timer_entry = entry
        heapq.heappush(self.heap, entry)
        if deadline < self.wake.deadline:
            self.wake.deadline = deadline

    def remove(self, item: Timed) -> None:
        """The item is gone (a closed connection): drop its entry."""
        item.timeout_at = math.inf
        entry = item.timer_entry
        if entry is not None:
            entry[2] = None
            item.timer_entry = None
            self.dead += 1

    async def run(self) -> None:
        """Cancel what is due, for ever (until cancelled)."""
        heap = self.heap
        while True:
            self.wake = trio.CancelScope(deadline=heap[0][0] if heap else math.inf)
            with self.wake:
                await trio.sleep_forever()
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                item: Timed | None = entry[2]
                if item is None:
                    self.dead -= 1
                    continue
                item.timer_entry = None
                deadline = item.timeout_at
                if deadline <= now:
                    item.scope.cancel()
                elif deadline != math.inf:
                    self.set(item, deadline)
            if self.dead > 1024 and self.dead > len(heap) // 2:
                heap[:] = [entry for entry in heap if entry[2] is not None]
                heapq.heapify(heap)
                self.dead = 0
