"""The database's FIFO gate: never more holders than places, entry in order of arrival, no place lost to a cancel."""

from __future__ import annotations

import asyncio

import pytest

from shared.fifo_gate import FifoGate


class Holders:
    """Tasks that enter a gate, note their entry, and hold their place until told to leave."""

    def __init__(self, gate: FifoGate) -> None:
        self.gate = gate
        self.entered: list[str] = []
        self.leave: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.inside = self.most_inside = 0

    def arrive(self, name: str) -> asyncio.Task[None]:
        self.leave[name] = asyncio.Event()

        async def hold() -> None:
            async with self.gate:
                self.entered.append(name)
                self.inside += 1
                self.most_inside = max(self.most_inside, self.inside)
                try:
                    await self.leave[name].wait()
                finally:
                    self.inside -= 1

        self.tasks[name] = asyncio.create_task(hold())
        return self.tasks[name]

    async def release(self, name: str) -> None:
        self.leave[name].set()
        await self.tasks[name]


async def settle() -> None:
    """Let every task that can run take its turn (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_no_more_holders_than_places_and_the_rest_enter_in_order_of_arrival() -> None:
    holders = Holders(FifoGate(2))
    for name in "abcdef":
        holders.arrive(name)
    await settle()
    assert holders.entered == ["a", "b"]

    for name in "abcd":
        await holders.release(name)
        await settle()
    assert holders.entered == list("abcdef")
    assert holders.most_inside == 2
    for name in "ef":
        await holders.release(name)
    assert holders.gate.free == 2


async def test_a_newcomer_does_not_overtake_a_waiter_handed_the_freed_place() -> None:
    gate = FifoGate(1)
    holders = Holders(gate)
    await gate.__aenter__()  # the test holds the place itself, to release it without yielding
    holders.arrive("waiting")
    await settle()

    await gate.__aexit__(None, None, None)  # hands the place over; "waiting" has not run yet
    holders.arrive("newcomer")
    await settle()

    assert holders.entered == ["waiting"]
    await holders.release("waiting")
    await settle()
    assert holders.entered == ["waiting", "newcomer"]
    await holders.release("newcomer")
    assert gate.free == 1


async def test_a_waiter_cancelled_while_waiting_takes_no_place() -> None:
    holders = Holders(FifoGate(1))
    holders.arrive("holder")
    cancelled = holders.arrive("cancelled")
    holders.arrive("next")
    await settle()

    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await holders.release("holder")
    await settle()

    assert holders.entered == ["holder", "next"]
    await holders.release("next")
    assert holders.gate.free == 1


async def test_a_waiter_cancelled_after_being_handed_a_place_passes_it_on() -> None:
    gate = FifoGate(1)
    holders = Holders(gate)
    await gate.__aenter__()
    handed = holders.arrive("handed")
    holders.arrive("next")
    await settle()

    await gate.__aexit__(None, None, None)  # "handed" now owns the place but has not resumed
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await settle()

    assert holders.entered == ["next"]
    await holders.release("next")
    assert gate.free == 1


async def test_an_error_inside_gives_the_place_back() -> None:
    gate = FifoGate(1)
    with pytest.raises(RuntimeError, match="inside"):
        async with gate:
            raise RuntimeError("inside")
    assert gate.free == 1
    async with gate:
        assert gate.free == 0
