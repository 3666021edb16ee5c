"""Fast paths proven against the general path: the differential harness.

A fast path (entry.S's assembly event delivery, trap.c's C one) promises to do
exactly what the general path does -- env_run and upcall_before_resume --
only in fewer instructions. seL4 proves its fastpath equal to its slowpath;
this is the affordable version: apps/paths puts the kernel through a table of
states (enabled or disabled, inside or outside the resume routine's critical
range, events waiting, an unaligned stack, entries that are not user
addresses) once per PATH, with the faster paths switched off by SYS_DEBUG
DEBUG_FAST_PATHS, and prints per state everything the env can see of the
outcome: whether the event was delivered, the registers at the entry, the
enabled save, the area's fields, the registers it came back with. Every path
must print the same lines. A new fast path plugs in as a SUBJECTS entry and a
table in apps/paths.

The trap subject does the same for a Ring 3 page fault (entry.S's pf_entry,
trap.c's upcall_trap_fast, the general upcall_exception): a read of an unmapped
page with every register set, enabled, with events waiting in the area, on an
unaligned upcall stack, disabled (to the trap save), enabled after a disabled
yield charged the watchdog (the handler prints the kernel's watchdog record:
every path must start it over), and two states that end the env.

The control transfer (pct.c's fast call and reply) takes two envs: apps/paths
calls `paths pctpeer` through a table of states the peer is left in (waiting,
queued, disabled, with events waiting, a bad slot); both print what they saw
-- every register back, what the entry got, the peer's whole area but the
kernel's clocks, and both dispatchers' kernel records (DEBUG_DISP_RECORD).
The yield (pct.c's pct_yield_fast) runs beside the same peer, yielding in its
loop: resumed by activation or in place, with events waiting, disabled, with
bad flags.
"""

import re

import pytest

# subject -> its paths, fastest first (the last is the general one), and
# the states that end the env.
SUBJECTS = {
    "event": {"paths": ["fast", "c", "general"], "finals": ["bad-entry", "bad-stack"],
              "timed": "enabled-with-events-waiting"},
    "trap": {"paths": ["fast", "c", "general"], "finals": ["bad-entry", "bad-stack"],
             "timed": "enabled-unaligned-stack"},
}


def outcomes(b, subject):
    """{state: line} of what the env saw, and {state: guest instructions}."""
    seen, cost = {}, {}
    for m in re.finditer(rf"^paths {subject} (\S+): (.*)$", b.log, re.M):
        state, text = m.groups()
        if text.startswith("cost "):
            cost[state] = int(text.split()[1])
        elif state not in ("fast", "c", "general") and not text.startswith("the env must end"):
            seen[state] = text
    return seen, cost


def boot_path(keel, subject, path, cpu, final=None):
    cmd = f"run=paths:{subject}:{path}" + (f":{final}" if final else "")
    return keel.boot(cmd, cpu=cpu, icount=True)


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
@pytest.mark.parametrize("subject", sorted(SUBJECTS))
def test_every_fast_path_leaves_what_the_general_path_leaves(keel, subject, cpu):
    spec = SUBJECTS[subject]
    runs = {}
    for path in spec["paths"]:
        b = boot_path(keel, subject, path, cpu).expect_verdict("success")
        b.expect(rf"^paths {subject} {path}: done$")
        runs[path] = outcomes(b, subject)
    general = spec["paths"][-1]
    ref, _ = runs[general]
    assert len(ref) >= 4, ref
    for path, (seen, _) in runs.items():
        diff = {s: (seen.get(s), ref[s]) for s in ref if seen.get(s) != ref[s]}
        assert not diff and set(seen) == set(ref), f"{path} differs from {general}: {diff}"
    # The switches really switch: each faster path is a shorter path
    # (unless ./keel test --fastpaths off switched every one off).
    costs = [runs[p][1][spec["timed"]] for p in spec["paths"]]
    assert costs == sorted(costs) and (len(set(costs)) == len(costs) or keel.fastpaths == "off"), \
        f"instructions per path: {costs}"
    if subject == "event":
        # Not merely the same on every path, but right.
        assert re.fullmatch(r"delivered 1; at the entry: rsp top-0 rflags 0x202 rdi the area, others \S+; "
                            r"saved: regs ok rip paths_int_end\+0 cs 0x2b ss 0x23 rflags 0x246 rsp kept; "
                            r"area: disabled 1 pending 0x4 upcalls \+1 crit_fixups \+0 deadline 0 delivered_at 0; "
                            r"back: regs ok",
                            ref["enabled"]), ref["enabled"]
        assert "rsp top-16 " in ref["enabled-unaligned-stack"]  # aligned down, not up into the caller's
        assert "pending 0x25 " in ref["enabled-with-events-waiting"]
        assert ref["disabled"] == ("delivered 0; area: disabled 1 pending 0x4 upcalls +0 deadline 0 delivered_at 0; "
                                   "back: regs ok")
        assert "crit_fixups +1 " in ref["in-the-critical-range"]
        assert "crit_fixups +0 " in ref["in-a-critical-range-too-long"]
    if subject == "trap":
        # A read of the unmapped page at 0x1000 from Ring 3: #PF, error 4 (user, read, not present).
        fault = "rsi 0xe rdx 0x4 rcx 0x1000 "
        # Enabled at the fault: the watchdog's count starts over on every path,
        # also after a disabled yield had charged it (the handler reads the
        # kernel record while disabled, so nothing else has reset it).
        for state in ("enabled", "enabled-with-events-waiting", "enabled-unaligned-stack",
                      "enabled-after-a-disabled-yield"):
            assert re.fullmatch(rf"delivered 1; at the entry: rsp upcall-top-{16 if 'unaligned' in state else 0} "
                                rf"rflags 0x202 rdi the area {fault}r8 0, others \S+; "
                                r"saved: regs ok rip paths_pf\+0 cs 0x2b ss 0x23 rflags 0x246 rsp kept; "
                                r"area: disabled 1 vector 14 error 0x4 cr2 0x1000 traps \+1 pending (0|0x[0-9a-f]+); "
                                r"kernel: watchdog 0; back: regs ok", ref[state]), (state, ref[state])
        assert "pending 0x21;" in ref["enabled-with-events-waiting"]  # left for the handler to see
        # Disabled: to the trap save, on the trap stack (the general path in every build).
        assert f"rsp trap-top-0 rflags 0x202 rdi the area {fault}r8 2," in ref["disabled"], ref["disabled"]


# The event subject's by default; the trap subject's (the same kills, from
# upcall_exception and pf_entry) with --slow, to keep ./keel test inside 15 minutes.
@pytest.mark.parametrize("subject, final", [pytest.param(s, f, marks=pytest.mark.slow if s == "trap" else ())
                                            for s in sorted(SUBJECTS) for f in SUBJECTS[s]["finals"]])
def test_a_state_that_ends_the_env_ends_it_alike_on_every_path(keel, subject, final):
    words = set()
    for path in SUBJECTS[subject]["paths"]:
        b = boot_path(keel, subject, path, "max", final).expect_verdict("failure")
        b.expect(rf"^paths {subject} {final}: the env must end here$")
        b.expect_not(r"survived: WRONG|PANIC")
        words.add(b.expect(r"^env 1 \(paths\): killed: (.*)$").group(1))
    assert len(words) == 1, f"each path ended the env with other words: {words}"


def peer_run(keel, subject, path, cpu, smp=1):
    """A two-env subject (pct, yield) with `paths pctpeer` beside it: the lines
    of both but the costs, and the cost of each state. With several CPUs both
    envs are pinned to cpu0 (the table of states needs the peer where the app
    left it), the others idle: the paths then take the kernel lock and hand
    dispatchers over between CPUs as on any SMP boot."""
    pin = " pin=0:cpu0,1:cpu0" if smp > 1 else ""
    b = keel.boot(f"run=paths:{subject}:{path},paths:pctpeer{pin}", cpu=cpu, icount=True,
                  smp=smp).expect_verdict("success")
    b.expect(rf"^paths {subject} {path}: done$")
    b.expect(r"^paths pctpeer: done$")
    seen = [l for l in re.findall(rf"^paths (?:{subject}|pctpeer) .*$", b.log, re.M)
            if ": cost " not in l and not l.endswith(": done")]
    cost = {m.group(1): int(m.group(2)) for m in re.finditer(rf"^paths {subject} (\S+): cost (\d+)$", b.log, re.M)}
    return seen, cost


# (CPU model, CPUs): both models on one CPU, and the SMP kernel's paths on two.
# (qemu64, the FXSAVE build of the libOS entry, with --slow: the event and
# trap subjects run it by default.)
PEER_CONFIGS = [("max", 1), pytest.param("qemu64", 1, marks=pytest.mark.slow), ("max", 2)]


@pytest.mark.parametrize("cpu, smp", PEER_CONFIGS)
def test_the_control_transfer_fast_path_leaves_what_the_general_path_leaves(keel, cpu, smp):
    fast, fast_cost = peer_run(keel, "pct", "fast", cpu, smp)
    general, general_cost = peer_run(keel, "pct", "general", cpu, smp)
    assert len(general) >= 14, general
    diff = [(f, g) for f, g in zip(fast, general) if f != g]
    assert not diff and len(fast) == len(general), f"the fast path differs from the general one: {diff[:2]}"
    # Not merely the same both ways, but right.
    line = {m.group(1): m.group(2) for l in general for m in [re.match(r"paths pct (\S+): (.*)", l)] if m}
    for state in ("waiting", "queued", "queued-again", "waiting-again", "events-waiting", "last"):
        assert re.match(r"ret 0 back rax=0,rcx=0x[0-9a-f]+,rdx=0x[0-9a-f]+,rsi=0x[0-9a-f]+,rdi=0x[0-9a-f]+,"
                        r"r10=0x[0-9a-f]+,r11=0x246;", line[state]), (state, line[state])
    assert line["disabled"].startswith("ret -11 ") and line["bad-slot"].startswith("ret -80 "), line
    assert "the peer's: state 2 resume 1 waiting 1 " in line["waiting"]   # back to its wait
    assert "the peer's: state 0 resume 1 waiting 0 " in line["queued"]    # back in the queue
    peer = [l for l in general if l.startswith("paths pctpeer ")]
    assert len(peer) == 6 and all("entry: rdi the area caller 1 " in l and " rsp top-0 rflags 0x202 " in l
                                  for l in peer), peer
    assert " pending 0x40 posted 0x10 " in peer[4], peer[4]  # the events that waited came with the call
    # The switch switches: where the common case holds, the fast path is
    # shorter (unless --fastpaths off switched it off: then both are one).
    for state in ("waiting", "queued", "queued-again", "waiting-again", "last"):
        assert fast_cost[state] < general_cost[state] or keel.fastpaths == "off", \
            (state, fast_cost[state], general_cost[state])


@pytest.mark.parametrize("cpu, smp", PEER_CONFIGS)
def test_the_yield_fast_path_leaves_what_the_general_path_leaves(keel, cpu, smp):
    """SYS_YIELD through pct_yield_fast and through the general path (SYS_DEBUG
    KEEL_FASTPATH_YIELD off), state by state: resumed by activation or in
    place (KEEL_AREA_YIELD_IN_PLACE), with events waiting or not, disabled,
    garbage in RDI. The same registers back, the same area, the same kernel
    records of both envs; and right."""
    fast, fast_cost = peer_run(keel, "yield", "fast", cpu, smp)
    general, general_cost = peer_run(keel, "yield", "general", cpu, smp)
    assert len([l for l in general if l.startswith("paths yield ")]) == 7, general
    diff = [(f, g) for f, g in zip(fast, general) if f != g]
    assert not diff and len(fast) == len(general), f"the fast path differs from the general one: {diff[:2]}"
    line = {m.group(1): m.group(2) for l in general for m in [re.match(r"paths yield (\S+): (.*)", l)] if m}
    for state, text in line.items():
        # Back right after the call, RAX 0, RCX/R11 as sysretq leaves them (RDI
        # whatever it held: SYS_YIELD takes nothing).
        assert re.match(r"ret 0 back rax=0,rcx=0x[0-9a-f]+,r11=0x246;", text), (state, text)
    act = {k: int(re.search(r"; area: .* activations \+(\d+) ", v).group(1)) for k, v in line.items()}
    # A yield resumed by activation counts one; one resumed in place none.
    assert act == {"activation": 1, "in-place": 0, "activation-events-waiting": 1, "in-place-events-waiting": 0,
                   "in-place-disabled": 1, "activation-rdi-garbage": 1, "in-place-rdi-garbage": 0}, act
    for state in ("activation-events-waiting", "in-place-events-waiting"):
        assert " posted 0x20 " in line[state], (state, line[state])  # the events came on the way back
    # Each yield went to the peer, yielding in its loop, and back.
    peer_syscalls = [int(re.search(r"the peer's: .* syscalls (\d+) ", v).group(1)) for v in line.values()]
    assert all(b > a for a, b in zip(peer_syscalls, peer_syscalls[1:])), peer_syscalls
    for state in ("activation", "in-place", "in-place-events-waiting", "in-place-disabled"):
        assert fast_cost[state] < general_cost[state] or keel.fastpaths == "off", \
            (state, fast_cost[state], general_cost[state])
