"""The libOS (issue 7): threads, synchronisation, memory -- each in a real
boot, under -icount where a result depends on timing."""

import pytest


def test_threads_demo_producers_consumers_semaphore_registers(keel):
    """The demo: a bounded buffer between 3 producers and 2 consumers
    (mutex and condition variables) delivers every item once; a semaphore
    of 2 admits at most 2; four threads keep their registers."""
    b = keel.boot("run=threads", icount=True).expect_verdict("success")
    b.expect(r"^threads: bounded buffer: 3 producers, 2 consumers, 1500 items, sum 1875750 \(expected 1875750\)")
    b.expect(r"^threads: semaphore of 2: 5 threads, at most 2 inside at once$")
    inside = b.value(r"^threads: registers: 4 threads x 20 rounds, (\d+) preemptions inside the spin \(of \d+\), "
                     r"0 threads saw a change$")
    assert inside >= 10, "the register spins were hardly preempted"
    b.expect(r"^threads: ok$")
    b.expect_nothing_leaked(started=1, failed=0)


def test_a_libos_idling_disabled_beside_cpu_bound_envs_is_not_taken_for_stuck(keel):
    """The dispatcher idles in SYS_EVENT_WAIT with upcalls disabled. Beside
    CPU-bound envs each wake-up waits up to a time slice for the CPU; the
    watchdog counts only the env's own CPU time while disabled, so ten such
    waits (100 ms of wall time) are not a stuck env. (Found by the hostile
    suite: the wall-clock watchdog killed the threads demo here.)"""
    b = keel.boot("run=threads,sched:rr,spin:a:40", icount=True).expect_verdict("success")
    b.expect(r"^threads: ok$")
    b.expect_not(r"watchdog:")  # (its message; the tunables line names watchdog_ms when one is set)
    b.expect_nothing_leaked(started=3, failed=0)


def test_a_libos_whose_only_enabled_kernel_entries_are_fast_calls_is_not_taken_for_stuck(keel):
    """The showcase waits for the other envs with a thread that polls its
    ENV capabilities (fast-path calls, enabled) and sleeps (the dispatcher
    blocks disabled). Seen enabled at a fast call, the watchdog starts over;
    else every dispatch would be charged as disabled and 5 ms (above the 1 ms
    slice) would kill it. (Found by the soak.)"""
    b = keel.boot("run=sched:showcase,spin:a:60 watchdog_ms=5 timeslice_us=1000", icount=True)
    b.expect_verdict("success")
    b.expect_not(r"watchdog:")
    b.expect(r"^sched showcase: ok$")


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_preempted_threads_keep_every_register_and_the_fpu_state(keel, cpu):
    """Eight threads hold their own values in the general registers, all
    sixteen XMM registers (both halves), MXCSR's rounding mode and the x87
    precision control through spins that the timer preempts; every switch
    goes through the Ring 3 iretq. (qemu64: FXSAVE instead of XSAVE.) Only
    the preemptions whose interrupted RIP lies in the spin -- where every
    value is live in its register -- count (libos thread_watch)."""
    b = keel.boot("run=threads:regs:8:25", cpu=cpu, icount=True).expect_verdict("success")
    m = b.expect(r"^threads: registers: 8 threads x 25 rounds, (\d+) preemptions inside the spin \(of (\d+)\), "
                 r"(\d+) threads saw a change$")
    inside, preempted, changed = map(int, m.groups())
    assert inside <= preempted
    assert inside >= 50, "the spins were hardly preempted: the check proves nothing"
    assert changed == 0


def test_a_thousand_threads_created_run_and_joined(keel):
    """1,000 threads alive at once (plus main), each computes, yields and
    returns a result that join hands back; their stacks go back to the
    kernel when they are joined."""
    b = keel.boot("run=threads:many:1000").expect_verdict("success")
    b.expect(r"^threads: 1000 threads created \(1001 alive at once\), run and joined; "
             r"sum of squares 332833500 \(expected 332833500\)$")
    m = b.expect(r"^threads: frames in use: (\d+) before, (\d+) with all alive, (\d+) after$")
    before, peak, after = map(int, m.groups())
    assert peak - before >= 1000, "every thread should have touched its own stack page"
    assert after - before < (peak - before) // 2, "joined threads' stacks were not given back"
    b.expect_nothing_leaked(started=1, failed=0)


def test_mutex_stress_loses_no_update(keel):
    """16 threads add 1 to a counter 2,000 times each, through a slow
    read-modify-write that the 1 ms tick interrupts hundreds of times; under
    the mutex nothing is lost. Without it (the control) updates are lost, so
    the preemptions really land inside the critical section."""
    b = keel.boot("run=threads:mutex:16:2000", icount=True).expect_verdict("success")
    m = b.expect(r"^threads: mutex: 16 threads x 2000 increments: counter (\d+) \(expected 32000\), (\d+) lost; "
                 r"(\d+) lock calls waited$")
    assert m.group(1) == "32000" and m.group(2) == "0"
    assert int(m.group(3)) > 100, "no contention: the test did not stress the mutex"
    c = keel.boot("run=threads:mutex:16:2000:nolock", icount=True).expect_verdict("success")
    lost = c.value(r"^threads: mutex \(none\): 16 threads x 2000 increments: counter \d+ \(expected 32000\), (\d+) lost")
    assert lost > 1000


def test_a_thread_that_never_yields_is_preempted(keel):
    """One thread spins for ever; three others finish their work beside it,
    and main's return ends the app."""
    b = keel.boot("run=threads:spin", icount=True).expect_verdict("success")
    m = b.expect(r"^threads: spin: (\d+) workers finished beside a thread that never yields "
                 r"\(preempted (\d+) times\)$")
    assert m.group(1) == "3" and int(m.group(2)) >= 3


def test_a_thread_stack_overflow_kills_only_that_thread(keel):
    """A thread recursing without end hits the guard page under its stack:
    it is ended with a report, join gets -1, and the other thread finishes."""
    b = keel.boot("run=threads:overflow").expect_verdict("success")
    b.expect(r"^thread 2 \(deep\): killed: #PF at rip 0x[0-9a-f]+: stack overflow \(its guard page\), "
             r"address 0x[0-9a-f]+$")
    b.expect(r"^threads: overflow: the deep thread ended with -1; the worker finished: 1$")
    b.expect_nothing_leaked(started=1, failed=0)


def test_regions_map_on_demand_and_give_memory_back(keel):
    """A region reserved with demand paging maps each page at its first
    touch (the #PF upcall); releasing it gives every frame and page table
    back. The heap runs out with malloc returning NULL, not a fault, and
    works again once freed."""
    b = keel.boot("run=threads:memory").expect_verdict("success")
    b.expect(r"^threads: region: 85 pages touched, 85 mapped on demand, data intact$")
    m = b.expect(r"^threads: region: frames in use (\d+) before, (\d+) touched, (\d+) released$")
    assert int(m.group(2)) - int(m.group(1)) >= 85 and m.group(3) == m.group(1)
    n = b.value(r"^threads: heap: (\d+) blocks of 64 KiB before malloc returned NULL \(1 failures\)$")
    assert n >= 900
    b.expect(r"^threads: heap: all freed: \d+ pages still mapped; a thread after it: ran \(9\)$")
    b.expect_nothing_leaked(started=1, failed=0)


def test_malloc_returns_null_when_the_frame_quota_runs_out(keel):
    """With a frame quota of 1,200 the kernel refuses frames long before the
    heap's own limit: malloc returns NULL, creating a thread fails, nothing
    faults, and everything works again after freeing."""
    b = keel.boot("run=threads:memory quota_frames=1200").expect_verdict("success")
    n = b.value(r"^threads: heap: (\d+) blocks of 64 KiB before malloc returned NULL \(1 failures\)$")
    assert 10 < n < 100
    b.expect(r"^threads: heap: all freed: \d+ pages still mapped; a thread after it: ran \(9\)$")
    b.expect_nothing_leaked(started=1, failed=0)
