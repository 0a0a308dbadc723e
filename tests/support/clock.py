"""The one fake clock of the suite: hand it to a sandbox as `clock=` and to a client as
`clock=` and `sleep=`, and every wait the client computes is exactly the time the
server sees pass, while nothing really sleeps.

    clock = FakeClock()           # 2027-01-15T08:00:00Z unless `start=` says otherwise
    clock()                       # now, in epoch seconds (what `time.time` would return)
    clock.advance(60)             # the world moves on (not recorded as a sleep)
    clock.sleep(5)                # what the code under test does: recorded, then advanced
    clock.sleeps                  # [5]

Why not time-machine here: the product and the emulators take their clock and their sleep
as arguments, so injecting them is exact and thread-safe, and a sleep must also be recorded
and cost no real time, which patching `time.time` alone would not give.
"""

from __future__ import annotations

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: far from any seeded order date


class FakeClock:
    """Now is `.now` (epoch seconds); only `.sleep` is recorded in `.sleeps`."""

    def __init__(self, start: float = T0) -> None:
        self.now = float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeps={self.sleeps!r})"
