"""The Shinjuku-style dispatcher (issue 23, libos/sched/shinjuku.c) on four
CPUs: apps/sched/shinjuku.c sends one bimodal request load -- 99.5% short
requests, 0.5% a hundred times longer, Poisson arrivals from the seeded
PRNG -- through the policy twice, run to completion (quantum 0) and
preempted by the dispatcher CPU at a quantum, and prints each run's
latency percentiles. Same arrivals, same load: the short requests' p99
must come out far lower with preemption, and the structure must hold --
every request served, no preemption without a quantum, long requests
preempted with one, the generator never short of a thread.

Emulator conditions (docs/schedulers.md "A centralised dispatcher"):
QEMU under -icount runs the vCPUs in turn on one instruction clock, each
for a share of the time to the earliest timer deadline it knows of when
its turn starts. The policy's idle workers spin (idle_poll), so every vCPU
takes its whole share and each CPU runs at a quarter of the clock, busy or
idle -- like a dedicated core. `metronome_us=4` (a masked periodic PIT)
bounds each turn; `timeslice_us=100` bounds the rarer long turns a
metronome does not end (the kernel's slice ends them). The app measures
the workers' capacity and sizes the load against it, so the figures are in
ns of the clock and the comparison does not depend on the emulator's
speed."""
import re

import pytest

BOOT = "metronome_us=4 timeslice_us=100"
RUN = re.compile(r"^sched shinjuku: run (rtc|preemptive) quantum (\d+) insns \((\d+) ns\): (\d+) short, (\d+) long; "
                 r"short p50 (\d+) p99 (\d+) p99\.9 (\d+) max (\d+) ns; long p50 (\d+) max (\d+) ns; "
                 r"preemptions (\d+) \(short requests (\d+), long (\d+)\); span (\d+) ns; "
                 r"generator late at most (\d+) ns; pool grew (\d+)$", re.M)
FIELDS = ("mode", "q_insns", "q_ns", "shorts", "longs", "p50", "p99", "p999", "max", "long_p50", "long_max",
          "preemptions", "short_pre", "long_pre", "span", "late", "grew")


def runs(keel, load, n, seed, quantum):
    b = keel.boot(f"run=sched:cpus=4:shinjuku:{load}:{n}:{seed}:0:{quantum} {BOOT}", smp=4, icount=True,
                  timeout=900)
    b.expect_verdict("success")
    b.expect(r"^sched shinjuku: 3 workers, ")
    got = [dict(zip(FIELDS, (m[0],) + tuple(int(x) for x in m[1:]))) for m in RUN.findall(b.log)]
    assert [r["mode"] for r in got] == ["rtc", "preemptive"], b.log[-3000:]
    return b, got[0], got[1]


def check_structure(b, rtc, pre, n):
    for r in (rtc, pre):
        assert r["shorts"] + r["longs"] == n, r          # every request served
        assert r["longs"] > 0 and r["shorts"] > r["longs"] * 50, r  # the bimodal mix (0.5% long)
        assert r["grew"] == 0, r                          # a pool thread for every arrival
    assert (rtc["shorts"], rtc["longs"]) == (pre["shorts"], pre["longs"])  # the same arrivals both times
    assert rtc["preemptions"] == rtc["short_pre"] == rtc["long_pre"] == 0, rtc  # no quantum: no preemption
    assert pre["long_pre"] >= pre["longs"], pre         # each long request was preempted (100 quanta long)
    assert pre["short_pre"] < pre["shorts"] // 20, pre  # short ones (under a quantum long) seldom
    # Run to completion makes short requests wait behind long ones: its
    # median is no better, its tail much worse.
    assert rtc["p99"] > rtc["p50"] * 5, rtc


def report(rtc, pre):
    return (f"short p99: run to completion {rtc['p99']} ns, preemptive {pre['p99']} ns "
            f"({rtc['p99'] / pre['p99']:.1f}x); p50 {rtc['p50']} / {pre['p50']} ns; "
            f"long p50 {rtc['long_p50']} / {pre['long_p50']} ns; {pre['preemptions']} preemptions")


def test_preemption_cuts_the_short_requests_tail(keel):
    """The issue's comparison at a smaller size (4,000 requests, 15 long
    ones: how clustered those few are decides run to completion's tail, so
    the bound here is looser): preemption cuts the short requests' p99
    several times over (measured 7.6x)."""
    b, rtc, pre = runs(keel, 800, 4000, 2, 52000)
    check_structure(b, rtc, pre, 4000)
    assert rtc["p99"] >= 4 * pre["p99"], report(rtc, pre)
    print(report(rtc, pre))


@pytest.mark.slow
def test_preemption_cuts_the_short_requests_p99_tenfold(keel):
    """The issue's target: at the same load, the short requests' p99 at
    least 10x lower with preemption than run to completion -- over 24,000
    requests (~120 long ones), so the tail is the load's, not one cluster's
    (measured 14x; 8,000 requests under four seeds gave 7.6-13.3x)."""
    b, rtc, pre = runs(keel, 800, 24000, 1, 52000)
    check_structure(b, rtc, pre, 24000)
    assert rtc["p99"] >= 10 * pre["p99"], report(rtc, pre)
    print(report(rtc, pre))


def test_the_metronome_hands_the_vcpus_over(keel):
    """metronome_us= (kern/arch/x86_64/metronome.c): with every CPU busy --
    main reading the clock on CPU 0, the idle workers spinning -- QEMU
    hands the vCPUs over at most at each timer deadline it knows of. Without
    the metronome CPU 0 runs a whole 10 ms turn alone (measured: 1 hand-over
    in 10 ms); with a masked PIT every 4 us, the turns are microseconds long
    (1,493 hand-overs)."""
    got = {}
    for m in (0, 4):
        b = keel.boot(f"run=sched:cpus=4:shinjuku:turns metronome_us={m}", smp=4, icount=True, timeout=120)
        b.expect_verdict("success")
        if m:
            b.expect(r"^metronome: PIT channel 0 counts every 4 us")
        x = re.search(r"^sched shinjuku: turns: (\d+) hand-overs in 10 ms, the longest gap (\d+) ns$", b.log, re.M)
        assert x, b.log[-2000:]
        got[m] = int(x[1])
    assert got[0] <= 10 and got[4] >= 500, got
