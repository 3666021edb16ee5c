"""Scheduling policies as library code (issue 7): each policy's promise,
policy switching, ejection of broken policies, and reproducible traces.
Every boot here runs under -icount: the app is the only env, and the guest
instruction count is its clock."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import schedtrace  # noqa: E402


def shares(b, policy):
    rows = re.findall(rf"^sched {policy}: thread (\d+) \((\d+) tickets\): (\d+) bursts", b.log, re.M)
    assert rows, "no per-thread lines"
    return [(int(t), int(k), int(n)) for t, k, n in rows]


def test_round_robin_gives_cpu_bound_threads_equal_shares(keel):
    """Four CPU-bound threads for 200 ms of guest time: each within 5% of
    a quarter of the work done."""
    b = keel.boot("run=sched:rr:4:200", icount=True).expect_verdict("success")
    rows = shares(b, "rr")
    total = sum(n for _, _, n in rows)
    assert len(rows) == 4 and total > 10000
    for tid, _, n in rows:
        assert abs(n - total / 4) <= 0.05 * total / 4, (tid, n, total)


def test_stride_shares_follow_tickets(keel):
    """Tickets 100, 200 and 300 over 300 ms: shares 1/6, 2/6, 3/6, each
    within 5%."""
    b = keel.boot("run=sched:stride:300", icount=True).expect_verdict("success")
    rows = shares(b, "stride")
    total = sum(n for _, _, n in rows)
    tickets = sum(k for _, k, _ in rows)
    assert [k for _, k, _ in rows] == [100, 200, 300]
    for tid, k, n in rows:
        want = total * k / tickets
        assert abs(n - want) <= 0.05 * want, (tid, n, want)


def test_fixed_priority_preempts_within_one_tick(keel):
    """A priority-10 thread waking 20 times beside a priority-1 CPU hog runs
    within one tick of its wake-up time, every time (in fact at once: the
    wake-up preempts). Under round-robin, the control, it waits for the
    hog's quantum to end. Priorities 1, 2, 3 finish in the order 3, 2, 1."""
    b = keel.boot("run=sched:prio", icount=True).expect_verdict("success")
    m = b.expect(r"^sched prio: a woken priority-10 thread beside a priority-1 hog: wake-up latency max (\d+) us, "
                 r"mean (\d+) us over 20 wake-ups \(the tick is (\d+) us\)$")
    worst, tick = int(m.group(1)), int(m.group(3))
    assert worst < tick, f"the high-priority thread waited {worst} us, more than a tick ({tick} us)"
    b.expect(r"^sched prio: priorities 1, 2, 3 started in that order finished in the order 3 2 1$")

    c = keel.boot("run=sched:prio:rr", icount=True).expect_verdict("success")
    rr_worst = c.value(r"^sched rr: a woken priority-10 thread beside a priority-1 hog: wake-up latency max (\d+) us")
    assert rr_worst > 10 * max(worst, 1), (rr_worst, worst)


def edf_run(keel, kind):
    b = keel.boot(f"run=sched:edf:{kind}", icount=True).expect_verdict("success")
    tasks = re.findall(r"^sched edf: task (\d) \(period (\d+) ms, (\d+) M instructions\): (\d+) jobs, (\d+) missed",
                       b.log, re.M)
    assert len(tasks) == 3
    total = b.expect(r"^sched edf: (\d+) jobs, (\d+) deadline misses$")
    return b, [tuple(map(int, t)) for t in tasks], int(total.group(1)), int(total.group(2))


def test_edf_meets_every_deadline_of_a_feasible_set(keel):
    """Utilisation 0.9 (10/3, 20/6, 40/12 ms per M instructions) for 200 ms:
    all 35 jobs meet their deadlines. The trace, read by
    bench/schedtrace.py, agrees: every job completes by its deadline."""
    b, tasks, jobs, misses = edf_run(keel, "feasible")
    b.expect(r"^sched edf: feasible set, U = 0\.90, for 200 ms$")
    assert [(t[1], t[3]) for t in tasks] == [(10, 20), (20, 10), (40, 5)]
    assert misses == 0 and jobs == 35
    dump = schedtrace.parse_dumps(b.log)[-1]
    m = schedtrace.metrics(dump)
    assert m["totals"]["misses"] == 0
    assert m["totals"]["jobs"] == 35


def test_edf_reports_the_misses_of_an_infeasible_set(keel):
    """Utilisation 1.2: jobs miss, every task's misses are counted, and the
    trace's completions after their deadlines give the same count."""
    b, tasks, jobs, misses = edf_run(keel, "infeasible")
    b.expect(r"^sched edf: infeasible set, U = 1\.20, for 200 ms$")
    assert misses > 5 and all(t[4] > 0 for t in tasks)
    dump = schedtrace.parse_dumps(b.log)[-1]
    m = schedtrace.metrics(dump)
    assert m["totals"]["misses"] == misses
    assert m["totals"]["jobs"] == jobs


def test_switching_policy_at_run_time_keeps_every_thread(keel):
    """Main installs stride, prio, edf and rr in turn under six running
    workers: the thread count stays 7 until workers finish, all six finish,
    and each policy ran some worker."""
    b = keel.boot("run=sched:switch", icount=True).expect_verdict("success")
    counts = re.findall(r"^sched switch: now (\w+): (\d+) threads, (\d+) workers still running$", b.log, re.M)
    assert len(counts) >= 3 and {c[0] for c in counts} >= {"stride", "prio", "edf"}
    assert all(c[1] == "7" for c in counts)
    b.expect(r"^sched switch: \d+ policy switches; 6 of 6 workers finished, \d+ ran under all four; "
             r"some worker ran under each policy: yes$")


@pytest.mark.parametrize("kind,why", [
    ("lose", r"thread 2 \(worker\) runnable but not run for \d+ ms"),
    ("spin", r"the kernel's watchdog \(disabled too long\) in its pick callback at rip 0x[0-9a-f]+"),
    ("fault", r"#PF in its pick callback at rip 0x[0-9a-f]+"),
    ("bogus", r"pick returned 0x[0-9a-f]+, which is not a runnable thread"),
])
def test_a_broken_policy_is_ejected_and_the_app_completes(keel, kind, why):
    """A policy that loses a thread (the dispatcher's 20 ms watchdog), spins
    in a callback (the kernel's watchdog trap), faults in one, or returns a
    non-thread is ejected with its state dumped, and the six workers finish
    under round-robin."""
    b = keel.boot(f"run=sched:broken:{kind} watchdog_ms=20", icount=True).expect_verdict("success")
    b.expect(rf"^sched: policy 'broken' ejected: {why}$")
    b.expect(r"^sched:   thread 1 \(main\): blocked, ran \d+ us$")
    b.expect(r"^sched:   broken policy: \d+ picks, \d+ threads queued$")
    b.expect(r"^sched: falling back to round-robin$")
    b.expect(rf"^sched broken {kind}: 6 of 6 workers finished under rr after 1 ejection$")


def trace_rows(b):
    rows = [l for l in b.log.splitlines() if l.startswith("sched-trace: ")]
    assert rows and rows[-1] == "sched-trace: end"
    return rows


@pytest.mark.unrecorded("two runs are identical only under sleep=off, which QEMU 7.2 cannot record with")
def test_a_trace_is_identical_for_the_same_seed_and_differs_for_another(keel):
    """A random workload (compute, sleep, yield, a shared mutex) drawn from a
    seeded PRNG: two runs with seed 7 give the same trace, timestamps
    (kernel clock since kernel entry) and all; seed 8 gives another."""
    a = trace_rows(keel.boot("run=sched:trace:7", icount=True).expect_verdict("success"))
    b = trace_rows(keel.boot("run=sched:trace:7", icount=True).expect_verdict("success"))
    c = trace_rows(keel.boot("run=sched:trace:8", icount=True).expect_verdict("success"))
    assert len(a) > 200
    assert a == b
    assert a != c


def test_the_documented_example_is_the_shipped_round_robin(keel):
    """docs/schedulers.md lists libos/sched/rr.c in full: the listing is the
    file, so the example a reader copies is the code that runs."""
    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "schedulers.md").read_text()
    blocks = re.findall(r"```c\n(.*?)```", doc, re.S)
    assert (root / "libos" / "sched" / "rr.c").read_text() in blocks


def test_the_lottery_example_app_runs_its_own_policy(keel):
    """apps/lottery, the step-by-step example of docs/schedulers.md: a policy
    written in the app, its shares in the order of the tickets, its trace
    dumped."""
    b = keel.boot("run=lottery", icount=True).expect_verdict("success")
    shares = [int(x) for x in re.findall(r"^lottery: \d+ tickets: (\d+)% of the work$", b.log, re.M)]
    assert len(shares) == 3 and shares[0] < shares[1] < shares[2]
    assert abs(shares[2] - 50) <= 10
    b.expect(r"^sched-trace: begin policy=lottery ")
