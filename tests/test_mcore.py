"""The library OS on many CPUs (issue 22): threads_init_cpus runs a
dispatcher on every CPU the env holds, threads run on any of them and move
between them, synchronisation holds across CPUs, and idle CPUs wait in the
kernel. Workloads are sized in guest instructions and run under -icount
(QEMU runs the CPUs round-robin: each of N gets 1/N of virtual time), except
the lost-update control, which needs CPUs truly in parallel (MTTCG)."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import schedtrace  # noqa: E402


def per_cpu(b, n):
    """Each CPU's (dispatches, idles, kicks) from apps/threads' report."""
    rows = re.findall(r"^threads: cpu(\d+) \(kernel cpu\d+\): (\d+) dispatches, idled (\d+) times, kicked (\d+) times$",
                      b.log, re.M)
    assert [int(r[0]) for r in rows] == list(range(n)), f"expected a report for each of {n} CPUs"
    return [tuple(map(int, r[1:])) for r in rows]


@pytest.mark.parametrize("smp,cpu", [(2, "qemu64"), pytest.param(4, "max", marks=pytest.mark.slow),
                                     pytest.param(8, "max", marks=pytest.mark.slow)])
def test_threads_move_between_cpus_holding_every_register(keel, smp, cpu):
    """Twelve threads hold their own values in the general registers, all
    sixteen XMM registers, MXCSR and the x87 control word through spins
    that the timer preempts, on every CPU of the env: a thread stopped on
    one CPU inside its spin goes on on another, its registers carried in
    Ring 3 (libOS switch, XSAVE or -- qemu64 -- FXSAVE), and nothing
    changes."""
    b = keel.boot(f"run=threads:cpus={smp}:regs:12:4", smp=smp, cpu=cpu, icount=True, timeout=120)
    b.expect_verdict("success")
    b.expect(rf"^threads: {smp} CPUs, policy rr$")
    m = b.expect(r"^threads: registers: 12 threads x 4 rounds, (\d+) preemptions inside the spin \(of (\d+)\), "
                 r"(\d+) threads saw a change$")
    inside, _, changed = map(int, m.groups())
    assert changed == 0
    assert inside >= 15, "the spins were hardly preempted: the check proves nothing"
    moved = b.value(r"^threads: registers: (\d+) times a thread stopped inside the spin went on on another CPU$")
    assert moved >= 5, "threads hardly moved between CPUs with their registers live"
    assert all(d > 0 for d, _, _ in per_cpu(b, smp)), "a CPU ran no thread"


def test_a_mutex_loses_no_update_across_eight_cpus(keel):
    """Sixteen threads on eight CPUs add 1 to a counter through a slow
    read-modify-write under a mutex: nothing is lost, and threads waited
    for it. The control -- the same without the mutex, on CPUs running in
    parallel (MTTCG; two, as this host has two cores) -- loses updates, so
    CPUs really are inside the critical section at once."""
    b = keel.boot("run=threads:cpus=8:mutex:16:200", smp=8, icount=True, timeout=180).expect_verdict("success")
    m = b.expect(r"^threads: mutex: 16 threads x 200 increments: counter (\d+) \(expected 3200\), (\d+) lost; "
                 r"(\d+) lock calls waited$")
    assert m.group(1) == "3200" and m.group(2) == "0"
    assert int(m.group(3)) > 100, "no contention: the test did not stress the mutex"
    # (How far they spread depends on QEMU's round-robin of the vCPUs: the
    # mutex holder's CPU runs most; a run saw three CPUs, another five.)
    assert sum(d > 0 for d, _, _ in per_cpu(b, 8)) >= 2, "the adders did not spread over the CPUs"
    c = keel.boot("run=threads:cpus=2:mutex:8:3000:nolock", smp=2, timeout=180).expect_verdict("success")
    lost = c.value(r"^threads: mutex \(none\): 8 threads x 3000 increments: counter \d+ \(expected 24000\), (\d+) lost")
    assert lost > 0


@pytest.mark.slow
def test_work_stealing_spreads_a_thousand_threads_made_on_one_cpu(keel):
    """Main makes 1,000 threads on its CPU (sched_ws queues a new thread
    where it was made); the three idle CPUs are kicked and steal them; all
    run, return their results and are joined. (How the work spreads depends
    on when each CPU steals, which moves with QEMU's round-robin of the
    vCPUs: the bound is loose. --slow: the skewed spawn below covers
    stealing in every run.)"""
    b = keel.boot("run=threads:cpus=4:policy=ws:many:1000", smp=4, icount=True, timeout=180)
    b.expect_verdict("success")
    b.expect(r"^threads: 1000 threads created \(1001 alive at once\), run and joined; "
             r"sum of squares 332833500 \(expected 332833500\)$")
    stolen = b.value(r"^threads: ws: (\d+) threads stolen$")
    assert stolen >= 100
    runs = [d for d, _, _ in per_cpu(b, 4)]
    assert sum(runs[1:]) >= 0.3 * sum(runs), f"the CPUs that stole ran too little of it: {runs}"
    b.expect_nothing_leaked(started=1, failed=0)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["prio", "stride", "edf"])
def test_the_one_cpu_policies_run_unchanged_on_four_cpus(keel, policy):
    """Today's single-CPU policies keep one queue; on four CPUs every CPU
    picks from it under the scheduler lock: the demo (producers and
    consumers on condition variables, a semaphore pool, register checks)
    runs as on one CPU. (--slow: ~6 s each.)"""
    b = keel.boot(f"run=threads:cpus=4:policy={policy}", smp=4, icount=True, timeout=180).expect_verdict("success")
    b.expect(rf"^threads: 4 CPUs, policy {policy}$")
    b.expect(r"^threads: bounded buffer: 3 producers, 2 consumers, 1500 items, sum 1875750 \(expected 1875750\)")
    b.expect(r"^threads: ok$")
    assert sum(d > 0 for d, _, _ in per_cpu(b, 4)) >= 2


@pytest.mark.parametrize("kind,why", [
    pytest.param("lose", r"thread 2 \(worker\) runnable but not run for \d+ ms", marks=pytest.mark.slow),
    ("spin", r"the kernel's watchdog \(disabled too long\) in its pick callback at rip 0x[0-9a-f]+"),
    pytest.param("fault", r"#PF in its pick callback at rip 0x[0-9a-f]+", marks=pytest.mark.slow),
    ("idle", r"cpu[123] idle for \d+ ms while threads were runnable"),
])
def test_a_policy_broken_on_one_cpu_is_ejected_on_all_of_them(keel, kind, why):
    """The broken policies of tests/test_sched.py on four CPUs: the one CPU
    whose callback faults or spins (the others waiting for the scheduler
    lock meanwhile, past the kernel's watchdog too: they go on waiting), or
    the thread one CPU's queue loses, ejects the policy for every CPU; so
    does a policy that gives work to CPU 0 alone, leaving the others idle
    while threads wait (idle). The six workers finish under round-robin on
    all four, nothing lost. (lose and fault: --slow; spin is the one where
    other CPUs wait meanwhile.)"""
    b = keel.boot(f"run=sched:cpus=4:broken:{kind} watchdog_ms=20", smp=4, icount=True, timeout=120)
    b.expect_verdict("success")
    b.expect(rf"^sched: policy 'broken' ejected: {why}$")
    b.expect(r"^sched: falling back to round-robin$")
    b.expect(rf"^sched broken {kind}: 6 of 6 workers finished under rr after 1 ejection$")
    runs = [int(x) for x in re.findall(r"^sched broken: cpu\d ran (\d+) dispatches$", b.log, re.M)]
    assert len(runs) == 4 and all(r > 0 for r in runs), runs
    b.expect_nothing_leaked(started=1, failed=0)


def busy_until_drained(b):
    """From the trace: the window from the first task's first run to the
    last task's first run (while tasks wait in some queue), and for each CPU
    the share of it spent running a task (thread 1, main, is not one).
    A run is from the switch to the thread to its stop or the next switch
    on that CPU: what the dispatcher does between runs -- picking,
    stealing, idling -- is not in it."""
    dump = schedtrace.parse_dumps(b.log)[-1]
    assert not dump.dropped, "the trace ring overflowed"
    civ = schedtrace.cpu_intervals(dump)
    first = {}
    for iv in civ.values():
        for a, _, tid in iv:
            if tid != 1:
                first[tid] = min(first.get(tid, a), a)
    t0, t1 = min(first.values()), max(first.values())
    share = {cpu: sum(max(0, min(e, t1) - max(a, t0)) for a, e, tid in iv if tid != 1) / (t1 - t0)
             for cpu, iv in civ.items()}
    return len(first), t1 - t0, share, schedtrace.migrations(civ)


@pytest.mark.parametrize("tasks,burn", [
    (2000, 200000),
    pytest.param(10000, 100000, marks=pytest.mark.slow),
])
def test_a_skewed_spawn_keeps_every_cpu_busy_until_the_queue_drains(keel, tasks, burn):
    """Main makes every task on its own CPU (sched_ws queues a new thread
    where it is made); the other three CPUs are kicked and steal. From the
    trace, each of the four CPUs spends at least 90% of the time until the
    last task starts running tasks. (10,000 tasks: --slow, ~25 s.)"""
    b = keel.boot(f"run=threads:cpus=4:policy=ws:skew:{tasks}:{burn}", smp=4, icount=True, timeout=300)
    b.expect_verdict("success")
    b.expect(rf"^threads: skew: {tasks} tasks of {burn} instructions made on one CPU, run on 4: results right$")
    n, window, share, _ = busy_until_drained(b)
    assert n == tasks
    assert sorted(share) == [0, 1, 2, 3]
    low = {cpu: round(100 * s, 1) for cpu, s in share.items() if s < 0.9}
    assert not low, f"CPUs below 90% in tasks over the {window / 1e6:.1f} ms until the queue drained: {low}"


def test_the_restartable_disable_sequence_is_restarted_and_holds(keel):
    """Finding "this CPU" and disabling its upcalls is one restartable
    sequence in Ring 3 (libos/switch.S dispatch_disable): eight threads on
    four CPUs call thread_self() -- which runs it -- 300,000 times each while
    the tick preempts and moves them. Threads are stopped inside the
    sequence and restarted (counted), and every answer is right. (A restart
    that read a register the sequence had overwritten crashed the 100,000-
    thread run once: this finds that in seconds.)"""
    b = keel.boot("run=threads:cpus=4:self:8:300000", smp=4, icount=True, timeout=120).expect_verdict("success")
    m = b.expect(r"^threads: self: 8 threads x 300000 calls, (\d+) wrong answers; (\d+) restarts of the disable "
                 r"sequence, (\d+) migrations$")
    wrong, restarts, migrations = map(int, m.groups())
    assert wrong == 0
    assert restarts >= 10, "hardly a thread stopped inside the sequence: the check proves little"
    assert migrations > 0


@pytest.mark.slow
def test_a_hundred_thousand_threads_alive_at_once_on_eight_cpus(keel):
    """100,000 threads (plus main) alive at once across eight CPUs, each
    computing, yielding and returning a result that join hands back; all
    stolen from the CPU that made them (sched_ws). It needs -m 2G and the
    quotas on the command line: each thread holds a stack page (4 KiB)
    and its capability, and ~1.5 KiB of heap (its record, its XSAVE
    image)."""
    b = keel.boot("run=threads:cpus=8:policy=ws:many:100000 quota_frames=1000000 quota_caps=1000000", smp=8,
                  mem="2G", icount=True, timeout=1200).expect_verdict("success")
    b.expect(r"^threads: 100000 threads created \(100001 alive at once\), run and joined; "
             r"sum of squares 333328333350000 \(expected 333328333350000\)$")
    assert all(d > 1000 for d, _, _ in per_cpu(b, 8))
    b.expect_nothing_leaked(started=1, failed=0)
