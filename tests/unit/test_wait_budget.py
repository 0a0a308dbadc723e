"""WaitBudget.wait_until: orders in flight side by side told to wait at once are charged once."""

from __future__ import annotations

import pytest

from shopvisma.errors import UnavailableError
from shopvisma.http import WaitBudget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_overlapping_waits_are_charged_once_and_a_wait_already_sat_out_is_none() -> None:
    clock = Clock()
    budget = WaitBudget(90, clock.sleep, clock=clock)
    budget.wait_until(160, "a")  # told at 100: wait 60
    budget.wait_until(160, "b")  # another order, told the same at the same time
    budget.wait_until(170, "c")  # overlaps all but 10 s
    assert budget.spent == 70 and clock.slept == [60, 60, 70]
    clock.now = 200
    budget.wait_until(190, "d")  # already past: no wait, no charge
    assert budget.spent == 70 and len(clock.slept) == 3
    with pytest.raises(UnavailableError):
        budget.wait_until(230, "e")  # 30 more would exceed the 90 s cap
