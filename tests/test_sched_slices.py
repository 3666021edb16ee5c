"""Time slices are exact: the kernel writes the LAPIC timer only when a new
deadline is earlier than the one it is set for (kern/timer.c), so a yield
starts the next env's slice without touching the timer, and the interrupt
set for the yielder's slice comes early, fires nothing and sets the real
deadline. No env may gain or lose time by it.

Under icount the TSC counts instructions, so each spinner (apps/slices)
measures every stretch the CPU is its own to the tick; two envs yielding
beside them restart a slice at every yield."""

import re

SLICE_US = 1000


def test_no_env_gains_or_loses_time_when_yields_leave_the_timer_alone(keel):
    b = keel.boot(f"run=slices:spin:20,slices:spin:20,slices:yield:3000,slices:yield:3000 timeslice_us={SLICE_US}",
                  icount=True, timeout=120).expect_verdict("success")
    spins = re.findall(r"^slices env (\d+): n=(\d+) min=(\d+) max=(\d+) total=(\d+)$", b.log, re.M)
    assert len(spins) == 2, b.log[-2000:]
    assert len(re.findall(r"^slices env \d+: yielded 3000 times$", b.log, re.M)) == 2
    slice_ticks = SLICE_US * 1000  # icount: one tick a nanosecond
    for env, n, lo, hi, total in spins:
        n, lo, hi = int(n), int(lo), int(hi)
        # Every stretch but the last (cut short when the others ended) was
        # preempted at its slice's end: at most the slice, less only the
        # kernel's entries and exits (the early interrupt among them).
        assert n >= 15, spins
        assert hi <= slice_ticks, f"env {env} ran {hi} ticks in one slice of {slice_ticks}: gained time"
        assert lo >= slice_ticks - 2000, f"env {env} ran only {lo} ticks of a {slice_ticks}-tick slice: lost time"
    s = b.expect_nothing_leaked()
    # The yields switched thousands of times; the timer was written about
    # once a slice, not once a switch.
    assert s["switches"] >= 6000, s
    assert s["timer_writes"] * 10 < s["switches"], s
