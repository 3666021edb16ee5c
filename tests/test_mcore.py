"""The library OS on many CPUs (issue 22): threads_init_cpus runs a
dispatcher on every CPU the env holds, threads run on any of them and move
between them, synchronisation holds across CPUs, and idle CPUs wait in the
kernel. Workloads are sized in guest instructions and run under -icount
(QEMU runs the CPUs round-robin: each of N gets 1/N of virtual time), except
the lost-update control, which needs CPUs truly in parallel (MTTCG)."""
import re

import pytest


def per_cpu(b, n):
    """Each CPU's (dispatches, idles, kicks) from apps/threads' report."""
    rows = re.findall(r"^threads: cpu(\d+) \(kernel cpu\d+\): (\d+) dispatches, idled (\d+) times, kicked (\d+) times$",
                      b.log, re.M)
    assert [int(r[0]) for r in rows] == list(range(n)), f"expected a report for each of {n} CPUs"
    return [tuple(map(int, r[1:])) for r in rows]


@pytest.mark.parametrize("smp,cpu", [(2, "qemu64"), (4, "max")])
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
    assert sum(d > 0 for d, _, _ in per_cpu(b, 8)) >= 4, "the adders did not spread over the CPUs"
    c = keel.boot("run=threads:cpus=2:mutex:8:3000:nolock", smp=2, timeout=180).expect_verdict("success")
    lost = c.value(r"^threads: mutex \(none\): 8 threads x 3000 increments: counter \d+ \(expected 24000\), (\d+) lost")
    assert lost > 0


def test_work_stealing_spreads_a_thousand_threads_made_on_one_cpu(keel):
    """Main makes 1,000 threads on its CPU (sched_ws queues a new thread
    where it was made); the three idle CPUs are kicked and steal them; all
    run, return their results and are joined. (How the work spreads depends
    on when each CPU steals, which moves with QEMU's round-robin of the
    vCPUs: the bound is loose.)"""
    b = keel.boot("run=threads:cpus=4:policy=ws:many:1000", smp=4, icount=True, timeout=180)
    b.expect_verdict("success")
    b.expect(r"^threads: 1000 threads created \(1001 alive at once\), run and joined; "
             r"sum of squares 332833500 \(expected 332833500\)$")
    stolen = b.value(r"^threads: ws: (\d+) threads stolen$")
    assert stolen >= 100
    runs = [d for d, _, _ in per_cpu(b, 4)]
    assert sum(runs[1:]) >= 0.3 * sum(runs), f"the CPUs that stole ran too little of it: {runs}"
    b.expect_nothing_leaked(started=1, failed=0)


@pytest.mark.parametrize("policy", ["prio", "stride", "edf"])
def test_the_one_cpu_policies_run_unchanged_on_four_cpus(keel, policy):
    """Today's single-CPU policies keep one queue; on four CPUs every CPU
    picks from it under the scheduler lock: the demo (producers and
    consumers on condition variables, a semaphore pool, register checks)
    runs as on one CPU."""
    b = keel.boot(f"run=threads:cpus=4:policy={policy}", smp=4, icount=True, timeout=180).expect_verdict("success")
    b.expect(rf"^threads: 4 CPUs, policy {policy}$")
    b.expect(r"^threads: bounded buffer: 3 producers, 2 consumers, 1500 items, sum 1875750 \(expected 1875750\)")
    b.expect(r"^threads: ok$")
    assert sum(d > 0 for d, _, _ in per_cpu(b, 4)) >= 2


@pytest.mark.parametrize("kind,why", [
    ("lose", r"thread 2 \(worker\) runnable but not run for \d+ ms"),
    ("spin", r"the kernel's watchdog \(disabled too long\) in its pick callback at rip 0x[0-9a-f]+"),
    ("fault", r"#PF in its pick callback at rip 0x[0-9a-f]+"),
])
def test_a_policy_broken_on_one_cpu_is_ejected_on_all_of_them(keel, kind, why):
    """The broken policies of tests/test_sched.py on four CPUs: the one CPU
    whose callback faults or spins (the others waiting for the scheduler
    lock meanwhile, past the kernel's watchdog too: they go on waiting), or
    the thread one CPU's queue loses, ejects the policy for every CPU; the
    six workers finish under round-robin on all four, nothing lost."""
    b = keel.boot(f"run=sched:cpus=4:broken:{kind} watchdog_ms=20", smp=4, icount=True, timeout=120)
    b.expect_verdict("success")
    b.expect(rf"^sched: policy 'broken' ejected: {why}$")
    b.expect(r"^sched: falling back to round-robin$")
    b.expect(rf"^sched broken {kind}: 6 of 6 workers finished under rr after 1 ejection$")
    runs = [int(x) for x in re.findall(r"^sched broken: cpu\d ran (\d+) dispatches$", b.log, re.M)]
    assert len(runs) == 4 and all(r > 0 for r in runs), runs
    b.expect_nothing_leaked(started=1, failed=0)
