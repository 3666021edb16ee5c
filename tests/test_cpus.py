"""CPUs as capabilities (docs/smp.md "CPUs as capabilities"; apps/cpus).

An env runs only on the CPUs it holds a KEEL_CAP_CPU for; boot envs hold
every CPU unless grant= names some (tests/test_smp.py checks placement from
the trace), a spawned env gets its parent's, derived, or none. Ring 3 reads
which CPU it runs on without a system call.
"""

import re

import pytest


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_ring3_reads_its_cpu_without_a_system_call(keel, cpu):
    """`lsl` of KEEL_CPU_SEL everywhere; RDTSCP (IA32_TSC_AUX) where the CPU
    has it (-cpu max under TCG: no RDPID), and the two agree. qemu64 has
    neither RDTSCP nor RDPID: the fallback alone."""
    b = keel.boot("run=cpus:where,cpus:where grant=0:cpu1,1:cpu0", smp=2, cpu=cpu, icount=True)
    b.expect_verdict("success")
    got = re.findall(r"^cpus: env runs on cpu(\d) \((.*)\)$", b.log, re.M)
    assert sorted(g[0] for g in got) == ["0", "1"], got
    for n, ways in got:
        if cpu == "max":
            assert ways == f"lsl {n}, rdtscp {n}", ways
        else:
            assert ways == f"lsl {n}", ways


def test_a_child_holding_no_cpu_is_stopped_until_given_one(keel):
    b = keel.boot("run=cpus:stop", smp=2, icount=True)
    b.expect_verdict("success")
    b.expect(r"^cpus: stop: the child holding no CPU has not run after 5 ms; giving it cpu1$")
    b.expect(r"^cpus: child runs on cpu1 \(lsl 1, rdtscp 1\)$")
    b.expect(r"^cpus: stop: ok$")
    b.expect_not("FAILED")


def test_revoking_a_cpu_moves_the_env_off_it_and_taking_all_stops_it(keel):
    """The spinner (both CPUs, derived from its parent's) ticks every 2 ms of
    kernel time, saying where; it starts on cpu0. Revoking its cpu0 moves it
    off there at once (a kick): it ticks on cpu1 only; revoking cpu1 too stops
    it (no tick at all, and it lives); cpu0 given back, it ticks again, on
    cpu0 only. Then the parent drops the capability for the CPU it runs on
    and is on the other at its next instruction (the kick the kernel sends
    itself)."""
    b = keel.boot("run=cpus:move", smp=2, icount=True)
    b.expect_verdict("success")
    b.expect_not("FAILED")
    phase, ticks = 0, {0: [], 1: [], 2: [], 3: []}
    markers = ["took cpu0 from the spinner", "took cpu1 too", "gave cpu0 back", "spinner ended"]
    for line in b.log.splitlines():
        if phase < 4 and markers[phase] in line:
            phase += 1
            continue
        m = re.match(r"^cpus: spinner tick \d+ on cpu(\d)$", line)
        if m:
            assert phase < 4, "a tick after the spinner ended"
            ticks[phase].append(int(m.group(1)))
    assert phase == 4, b.log[-2000:]
    assert ticks[0] and ticks[0][-1] == 0, f"before: ticks on {ticks[0]} (not running on cpu0: no move to see)"
    assert ticks[1] and set(ticks[1]) == {1}, f"after cpu0 was taken: ticks on {ticks[1]}"
    assert ticks[2] == [], f"holding no CPU, it ticked on {ticks[2]}"
    assert ticks[3] and set(ticks[3]) == {0}, f"given cpu0 back: ticks on {ticks[3]}"
    here, now = b.expect(r"^cpus: move: dropped cpu(\d) while running there: now on cpu(\d)$").groups()
    assert here != now


def test_events_posted_between_envs_on_two_cpus_arrive_each_exactly_once(keel):
    """SYS_EVENT_POST across CPUs: the parent, pinned to cpu0, and a child
    holding only cpu1, which echoes what it is posted (blocked in
    SYS_EVENT_WAIT in between, so each post wakes a halted CPU). 2,000 round
    trips, one bit each, come back exactly as posted; a burst of 63 posts
    comes back bit for bit, none twice; the bad requests get their errors
    (no such CPU, one the target does not hold, no bits, a slot that names
    no env); a post to the child after it ended is ENOENT. Under MTTCG: with
    -icount QEMU runs the vCPUs round-robin, each to the end of its turn, so
    every round trip would wait out a turn of the spinning parent."""
    b = keel.boot("run=cpus:post", smp=2, timeout=120)  # no icount: MTTCG, QEMU's default here
    b.expect_verdict("success")
    b.expect_not("FAILED")
    b.expect(r"^cpus: post: 2000 round trips cpu0 -> cpu1 -> cpu0, \d+ ns each on average \(wall: MTTCG\)$")
    upcalls = int(b.expect(r"^cpus: post: a burst of 63 posts came back in (\d+) upcalls$").group(1))
    assert 1 <= upcalls <= 63
    m = b.expect(r"^cpus: postee on cpu1: (\d+) upcalls, (\d+) echoes$")
    assert int(m.group(2)) <= int(m.group(1)) and int(m.group(2)) >= 2000 + 1, m.group(0)
    b.expect(r"^cpus: post: ok$")


def test_one_env_runs_on_two_cpus_at_once_through_two_dispatchers(keel):
    """SYS_DISP_START: the env's second dispatcher, on the other CPU with its
    own area and stacks, counts a million while the first spins without a
    system call (so both run at once), and only ever on its CPU; 1,000 posts
    from the first to the second (KEEL_SELF and its CPU) each come back once;
    a start on a CPU already served, on the first's area, misaligned, or on
    no such CPU gets its error; with its CPU's capability deleted the second
    stands still; the env's exit ends both, with nothing leaked."""
    b = keel.boot("run=cpus:disps", smp=2, timeout=120)  # MTTCG: see the post test
    b.expect_verdict("success")
    b.expect_not("FAILED")
    b.expect(r"^env 1 \(cpus\): dispatcher started on cpu[01] \(2 dispatchers\)$")
    first, second = b.expect(r"^cpus: disps: the second dispatcher counted 1000000 on cpu(\d) while the first "
                             r"spun on cpu(\d)$").groups()[::-1]
    assert first != second
    b.expect(r"^cpus: disps: 1000 posts to the second dispatcher, 1000 echoes, 1000 back$")
    b.expect(rf"^cpus: disps: cpu{second} taken: the second dispatcher stopped at \d+$")
    b.expect(r"^cpus: disps: ok$")
    b.expect_nothing_leaked(started=1, failed=0)


def test_an_env_exiting_on_one_cpu_ends_its_dispatcher_running_on_another(keel):
    """The first dispatcher exits while the second counts on the other CPU:
    the env ends with both (the second is fetched from its CPU before
    anything is freed), and nothing is leaked."""
    b = keel.boot("run=cpus:disps:exit", smp=2, timeout=120)
    b.expect_verdict("success")
    b.expect_not("FAILED")
    b.expect(r"^cpus: disps: exiting while the second runs$")
    b.expect(r"^env 1 \(cpus\): exited with code 0$")
    b.expect_nothing_leaked(started=1, failed=0)


@pytest.mark.parametrize("state", ["enabled", "disabled", "yielding"])
def test_a_revoked_cpus_dispatcher_is_handed_to_another_which_continues_it(keel, state):
    """The scheduler-activations hand-over. The env's second dispatcher runs
    a loop whose marks live in registers only (R15, a count in R14, XMM7) --
    enabled, or disabled as if it held a libOS lock, or enabled making a
    SYS_YIELD each turn (the revocation's kick then mostly finds it in the
    kernel, on its way off the CPU: it must be handed over there, not queued
    with nowhere to run -- which hung a run in three before the fix); the
    first deletes its capability for the second's CPU. The kernel takes the
    second off its CPU, puts its context in its area (the save its state
    names) and its extended state in the area's handed_xstate, ends it, and
    posts KEEL_EV_LOST to the first, whose handler finds all of it and
    resumes the context on its own CPU: the loop goes on there with its
    count and XMM7."""
    b = keel.boot(f"run=cpus:handover{'' if state == 'enabled' else ':' + state}", smp=2, timeout=120)
    b.expect_verdict("success")
    b.expect_not("FAILED")
    b.expect(r"^env 1 \(cpus\): its dispatcher on cpu(\d) lost the CPU: its context goes to the one on cpu(\d)$")
    save = "disabled" if state == "disabled" else "enabled"
    m = b.expect(rf"^cpus: handover: KEEL_EV_LOST for cpu\d: its {save} save, rip in the loop, count (\d+), "
                 r"(\d+) bytes of extended state$")
    assert int(m.group(2)) == 832, "x87, SSE and AVX (XSAVE under -cpu max)"
    m2 = b.expect(r"^cpus: handover: the loop went on on cpu\d: count (\d+) -> (\d+), R15 0x5eed, "
                  r"XMM7 0x1122334455667788$")
    assert int(m2.group(1)) == int(m.group(1)) < int(m2.group(2))
    b.expect(r"^cpus: handover: ok$")
    b.expect_nothing_leaked(started=1, failed=0)


@pytest.mark.parametrize("how", ["steady", "revoked_mid_stream", "lost_area"])
def test_100000_events_between_two_dispatchers_arrive_each_exactly_once(keel, how):
    """The first dispatcher posts 100,000 events to the second (64 bits in
    flight), each with its sequence number in memory beside its bit; the
    second's handler marks each number seen and frees its bit. The second's
    main loop moves at every turn to the next of: running enabled, running
    disabled (posts wait in pending until it enables and enters the kernel),
    waiting in SYS_EVENT_WAIT, and yielding its CPU to a hog spinning there
    (posts wait for its next dispatch): every number arrives exactly once, and
    each state receives some; and none waits past the receiver's next upcall
    (every number whose post had returned when a handler began is seen once
    that handler has taken what was posted). Revoked mid-stream: at 90,000, while the second
    holds the bits it took inside its handler, its CPU goes; the kernel hands
    its disabled context to the first, which runs that handler to its end on
    its own CPU (the bits in hand), takes what was posted to the second and not
    yet taken, and receives the rest itself -- nothing lost, nothing twice.
    Lost area: at 50,000 received the second unmaps its own area page, so the
    kernel drops the area; posts to it are refused (ENOENT: the sender knows,
    and posts again) until it maps the page back and registers it, when it
    takes by hand the bits posted before the loss (they stay in `posted`; the
    event that announced them went with the area). A lost post hangs the boot
    (the timeout fails it)."""
    revoke = how == "revoked_mid_stream"
    # The receiver spends most of its time in its handler, disabled (a storm
    # of events: each return finds the next pending and goes straight back
    # in, unseen by the kernel), and in revoke mode holds its bits disabled
    # until the other CPU has revoked its own: a vCPU thread the host does
    # not run for 100 ms -- one busy process beside the boot did it, 1 run in
    # 25 -- would fire the watchdog. Hence 5 s.
    arg = {"steady": "", "revoked_mid_stream": ":revoke", "lost_area": ":lose"}[how]
    b = keel.boot(f"run=cpus:stream{arg} timeslice_us=1000 watchdog_ms=5000", smp=2, timeout=240)
    b.expect_verdict("success")
    b.expect_not("FAILED")
    m = b.expect(r"^cpus: stream: 100000 posts, 100000 received, 0 missing, 0 twice, 0 empty, 0 refused, 0 late; "
                 r"received running (\d+), disabled (\d+), waiting (\d+), yielding (\d+), after the receiver's CPU went (\d+)$")
    counts = [int(x) for x in m.groups()]
    assert all(counts[:4]), f"a state received nothing: {counts}"
    assert (counts[4] >= 10000) if revoke else counts[4] == 0, counts
    if revoke:
        b.expect(r"^env 1 \(cpus\): its dispatcher on cpu\d lost the CPU: its context goes to the one on cpu\d$")
        b.expect(r"^cpus: stream: the receiver was taken inside its handler, which finished on cpu\d$")
    if how == "lost_area":
        refused = b.value(r"^cpus: stream: the receiver lost its area at 50000 received: (\d+) posts refused with "
                          r"ENOENT meanwhile, then it came back$")
        assert refused >= 100
    b.expect(r"^cpus: stream: ok$")
    b.expect_nothing_leaked(started=2, failed=0)


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_two_dispatchers_of_one_env_keep_their_own_registers_on_two_cpus(keel, cpu):
    """One env checks its registers on two dispatchers at once, one per CPU,
    each with its own values in every general register, XMM/YMM, MXCSR, the
    x87 control word and (where the CPU has FSGSBASE) its FS and GS bases,
    while two children post events to both in turn and compete with them for
    both CPUs: every check loop is interrupted again and again -- by a kick
    with an event upcall (resumed through keel_resume in Ring 3), by a
    preemption with an activation upcall, by the other envs' runs -- on both
    CPUs at once, often with both dispatchers off their CPUs together. A
    kernel that mixed the two dispatchers' saved registers, extended-state
    buffers or bases, or moved one off its CPU, shows a mismatch (giving the
    second dispatcher the first's extended-state buffer did, at once)."""
    b = keel.boot("run=regcheck:2000:disps timeslice_us=50", cpu=cpu, smp=2, icount=True, timeout=300)
    b.expect_verdict("success")
    b.expect_not("MISMATCH")
    b.expect_not("moved from")
    vec = "ymm fsgsbase" if cpu == "max" else "xmm"
    reports = re.findall(r"^regcheck dispatcher (\d) on cpu(\d): (\d+) upcalls inside the check loop \((\d+) in all\), "
                         rf"\d+ rounds of 2000, (\d+) mismatches, {vec}$", b.log, re.M)
    assert len(reports) == 2 and {r[1] for r in reports} == {"0", "1"}, reports
    assert all(int(r[2]) >= 2000 and r[4] == "0" for r in reports), reports
    b.expect_nothing_leaked(started=3, failed=0)
