"""TLB shootdown (kern/tlb.c): once a call that takes a translation away has
returned -- an unmap, a remap with fewer rights, a revocation, a table
unlinked -- no CPU may use the old translation.

apps/shootdown (see its header) proves it from Ring 3 with two CPUs: a writer
env pinned to cpu0 and a reader alone on cpu1 share a page table; the reader
touches the page in a tight loop (no syscall, no CR3 reload: its TLB holds the
page, over 1,000 accesses and a timer tick) while the writer takes the page
away and raises a flag in a shared page the moment its call returns. Each turn
of the reader's loop reads the flag first and touches the page second, and
x86 keeps a load after an earlier load (and a store after an earlier load) in
order: an access that succeeds in a turn that saw the flag is a stale
translation. The migration case is one env that leaves cpu1 for cpu0, unmaps
there and comes back to cpu1, which kept its CR3 (no reload, no flush) while
it idled.

Every case is also booted with shootdown=skip (debug builds: tlb_sync sends
no IPI), where it must report STALE: the negative control, proof that the
case would see a missing shootdown. Under TCG a vCPU's TLB keeps an entry
until that vCPU flushes it (or a colliding entry evicts it: the loop keeps it
in use), so the stale accesses come reliably without the IPI -- every mode
fails with skip, none had to be left out. (A real TLB may evict on its own;
under --accel kvm the control is very likely, not certain, to see it.)
Nothing here measures or waits for wall-clock time: the reader counts
accesses and preemptions; the boots are plain TCG with two vCPUs, no icount
(whose round-robin vCPU would serialise the two CPUs that must race).

watchdog_ms=100000: the upcall watchdog counts an env's time disabled in
wall-clock time, and on a loaded host a vCPU thread that the host stops while
the reader runs an upcall handler would otherwise get it killed.
"""

import re

import pytest

PAIR = "run=shootdown:{m}:writer,shootdown:{m}:reader pin=0:cpu0,1:cpu1 watchdog_ms=100000"
SINGLE = "run=shootdown:{m} watchdog_ms=100000"  # both CPUs: the app pins itself to cpu1, then moves

# mode: (command line, the reader's access, its #PF error code once the page is gone, the writer's call)
MODES = {
    "unmap": (PAIR, "read", 0x4, "the unmap"),
    "rights": (PAIR, "write", 0x7, "the read-only remap"),
    "revoke": (PAIR, "read", 0x4, "the revocation"),
    "subtree": (PAIR, "read", 0x4, "the table's unlinking"),
    "reuse": (PAIR, "read", 0x4, "the unmap"),
    "migrate": (SINGLE, "read", 0x4, "the unmap on cpu0"),
}

IPIS = r"^envs: TLB shootdown: \d+ syncs of changes other CPUs may cache, (\d+) IPIs sent"


def boot(keel, mode, skip):
    cmdline = MODES[mode][0].format(m=mode) + (" shootdown=skip" if skip else "")
    return keel.boot(cmdline, smp=2)


def envs(mode):
    return 1 if mode == "migrate" else 2


@pytest.mark.parametrize("mode", list(MODES))
def test_no_cpu_uses_a_translation_after_the_call_that_took_it_away_returned(keel, mode):
    _, access, error, action = MODES[mode]
    b = boot(keel, mode, skip=False).expect_verdict("success")
    m = b.expect(rf"^shootdown {mode}: reader faulted \(#PF error {error:#x} at (0x[0-9a-f]+)\); 0 stale {access}s "
                 rf"after {re.escape(action)} returned \((\d+) {access}s before it, (\d+) timer ticks\)$")
    cr2, before, ticks = int(m.group(1), 16), int(m.group(2)), int(m.group(3))
    # The reader's TLB held the page: many accesses, and a timer tick (a
    # kernel entry and exit on cpu1 that kept its CR3) among them.
    assert before >= 1000 and ticks >= 1, (before, ticks)
    # The fault was on the page the writer took away (revoke: on the reader's
    # own mapping of the frame, at another address).
    if mode in ("unmap", "rights", "subtree", "reuse"):
        b.expect(rf"^shootdown {mode}: writer on cpu0: {re.escape(action)} of {cr2:#x} returned 0$")
    if mode == "reuse":
        b.expect(r"^shootdown reuse: frame 0x[0-9a-f]+ freed, allocated again \(allocation \d+\) and filled anew$")
    if mode == "migrate":
        assert b.value(r"^envs: (\d+) env switches were to an env that last ran on another CPU;") >= 2
    assert b.value(IPIS) >= 1  # the flush came by IPI, not by a CR3 load on cpu1
    b.expect_not(r"STALE|FAILED")
    b.expect_nothing_leaked(started=envs(mode), failed=0)


@pytest.mark.parametrize("mode", list(MODES))
def test_without_the_shootdown_ipi_the_same_case_sees_the_stale_translation(keel, mode):
    """The negative control: shootdown=skip, and the stale accesses are seen and
    reported (the reader exits 1, the boot fails). Nothing else breaks: every
    frame and capability still comes back."""
    _, access, _, action = MODES[mode]
    b = boot(keel, mode, skip=True).expect_verdict("failure")
    m = b.expect(rf"^shootdown {mode}: STALE: (\d+) {access}s succeeded after {re.escape(action)} returned "
                 rf"\((\d+) {access}s before it, \d+ timer ticks; (\d+) of them read contents the page got later\)$")
    stale, renewed = int(m.group(1)), int(m.group(3))
    assert stale >= 1
    if mode == "reuse":
        # The frame was freed and allocated again: the stale translation
        # showed its new owner's data.
        b.expect(r"^shootdown reuse: frame 0x[0-9a-f]+ freed, allocated again \(allocation \d+\) and filled anew$")
        assert renewed >= 1
    assert b.value(IPIS + r" \(shootdown=skip: none are sent\)$") == 0
    b.expect(r"^env \d+ \(shootdown\): exited with code 1$")
    b.expect_not(r"FAILED|killed")
    b.expect_nothing_leaked(started=envs(mode), failed=1)
