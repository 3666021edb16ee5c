"""Upcalls: events and exceptions delivered to Ring 3, resumed through a Ring 3 iretq.

Each test boots apps/upcalls in one mode (see its header). Timing-dependent ones
run under -icount, where a nanosecond of the kernel clock is one guest
instruction and every run is the same.
"""

import pytest

CPUS = ["qemu64", "max"]  # no SMAP / XSAVE, and both


@pytest.mark.parametrize("cpu", CPUS)
def test_100k_timer_upcalls_preempt_a_checking_loop_and_lose_nothing(keel, cpu):
    """100,000 per-env deadlines 10 us apart, each an upcall preempting a loop
    that checks all general registers, XMM (YMM with AVX), MXCSR, the x87
    control word and DF=1; each resumed by libos's Ring 3 iretq routine."""
    b = keel.boot("run=upcalls:timer:100000", cpu=cpu, icount=True, timeout=600).expect_verdict("success")
    upcalls, hits, mismatches = map(int, b.expect(
        r"^upcalls timer: (\d+) timer upcalls, (\d+) in the check loop, (\d+) mismatches").groups())
    assert upcalls == 100000 and mismatches == 0
    assert hits >= 0.95 * upcalls, f"only {hits} of {upcalls} upcalls interrupted the check loop"
    b.expect_nothing_leaked()
    if cpu == "qemu64":
        assert b.iret_completions() == 0  # the resumes really were Ring 3 to Ring 3


@pytest.mark.parametrize("cpu", CPUS)
def test_events_landing_in_the_resume_critical_range_are_delivered_once_and_promptly(keel, cpu):
    """Sweep a deadline one instruction at a time across keel_resume: every
    event arrives exactly once, at least 1,000 inside the critical range (the
    kernel takes the context being resumed as the interrupted one), each
    within 5,000 instructions of its deadline (observed: ~2,000 under qemu64,
    ~3,400 under max, where the kernel also completes QEMU's faulting iretq)."""
    b = keel.boot("run=upcalls:crit:60", cpu=cpu, icount=True, timeout=120).expect_verdict("success")
    m = b.expect(r"^upcalls crit: (\d+) deliveries, (\d+) inside the critical range \(offsets (\d+)\.\.(\d+)\), "
                 r"(\d+) lost, (\d+) duplicated, (\d+) resumes with registers changed, "
                 r"latest (\d+) ns after its deadline$")
    deliveries, inside, lo, hi, lost, dup, corrupted, late = map(int, m.groups())
    assert lost == 0 and dup == 0 and corrupted == 0
    assert inside >= 1000, f"{inside} deliveries inside the range"
    assert late <= 5000, f"an event arrived {late} instructions after its deadline"


def test_an_event_while_disabled_waits_and_is_delivered_exactly_once(keel, firmware):
    b = keel.boot("run=upcalls:disabled").expect_verdict("success")
    b.expect(r"^upcalls disabled: pending while disabled: yes; delivered 1 time\(s\) by keel_resume, "
             r"1 more at the next kernel entry; 2 in all$")


def test_a_page_fault_in_the_upcall_handler_goes_to_the_trap_entry_and_keeps_the_thread_context(keel, firmware):
    b = keel.boot("run=upcalls:trapfault").expect_verdict("success")
    b.expect(r"^upcalls trapfault: #PF in the event handler reached the trap entry \(trap save, cr2 0x10\); "
             r"the thread's saved context was intact; the handler went on$")


def test_a_fault_on_the_trap_path_kills_only_that_env(keel):
    b = keel.boot("run=upcalls:trappath,spin:S:3 timeslice_us=2000").expect_verdict("failure")
    b.expect(r"^env 1 \(upcalls\): killed: #PF page fault at rip 0x[0-9a-f]+ on the trap path "
             r"\(error 0x6, cr2 0x18\)$")
    b.expect(r"^env 2 \(spin\): exited with code 0$")
    b.expect_not(r"PANIC")
    b.expect_nothing_leaked(failed=1)


@pytest.mark.parametrize("cpu", CPUS)
def test_exceptions_are_forwarded_with_cr2_and_error_code_and_resumed(keel, cpu):
    b = keel.boot("run=upcalls:traps", cpu=cpu).expect_verdict("success")
    cases = [
        (r"read unmapped", 14, "0x4", "0x10"),
        (r"write unmapped", 14, "0x6", "0x10"),
        (r"fetch unmapped", 14, "0x14", "0x3ffff000"),
        (r"read protected \(kernel page\)", 14, "0x5", "0xffffff8000100000"),
        (r"write protected \(read-only data\)", 14, "0x7", "0x[0-9a-f]+"),
        (r"fetch protected \(no-execute data\)", 14, "0x15", "0x[0-9a-f]+"),
        (r"#GP \(non-canonical\)", 13, "0", "0"),
        (r"#UD", 6, "0", "0"),
        (r"#DE", 0, "0", "0"),
        (r"#BP", 3, "0", "0"),
    ]
    for what, vec, err, cr2 in cases:
        b.expect(rf"^traps: {what}: vector {vec} error {err} cr2 {cr2}: ok, resumed$")
    b.expect(r"^traps: all forwarded and resumed, 10 traps counted by the kernel$")


def test_planted_state_in_every_save_area_is_sanitised_or_refused(keel):
    """IOPL=3, IF=0, NT, a kernel CS and a null SS written into each save area
    before the kernel resumes from it; non-canonical and kernel RIPs too."""
    b = keel.boot("run=upcalls:planted").expect_verdict("success")
    for slot in ["enabled save", "disabled save", "trap save"]:
        b.expect(rf"^planted: {slot}: resumed with rflags 0x202 \(IOPL 0, IF 1\) cs 0x2b ss 0x23: sanitised$")
        b.expect(rf"^planted: {slot} with a non-canonical rip: -22 \(refused\)$")
        b.expect(rf"^planted: {slot} with a kernel rip: -22 \(refused\)$")
    b.expect(r"^planted: a disabled yield returned 0, disabled 1$")
    b.expect(r"^planted: every context sanitised or refused; now running with IOPL 0 IF 1$")


def test_an_env_spinning_disabled_gets_the_watchdog_then_is_destroyed(keel):
    b = keel.boot("run=upcalls:watchdog,spin:W:12 watchdog_ms=20 timeslice_us=2000", timeout=120, icount=True)
    b.expect_verdict("failure")
    b.expect(r"^env 1 \(upcalls\): watchdog: disabled for more than 20 ms$")
    b.expect(r"^watchdog: env 1 got the watchdog upcall \(trap save rip 0x[0-9a-f]+\); spinning on, disabled$")
    b.expect(r"^env 1 \(upcalls\): killed: watchdog: disabled for more than 40 ms$")
    b.expect(r"^env 2 \(spin\): exited with code 0$")
    # The other env kept running after the kill, and finished.
    assert b.log.index("killed: watchdog") < b.log.index("env 2 (spin): exited")
    b.expect_nothing_leaked(failed=1)


def test_yielding_while_disabled_does_not_escape_the_watchdog(keel):
    b = keel.boot("run=upcalls:watchdogyield,spin:W:12 watchdog_ms=20 timeslice_us=2000", timeout=120, icount=True)
    b.expect_verdict("failure")
    b.expect(r"^watchdog: env 1 got the watchdog upcall")
    b.expect(r"^env 1 \(upcalls\): killed: watchdog: disabled for more than 40 ms$")
    b.expect(r"^env 2 \(spin\): exited with code 0$")


def test_a_trap_entry_that_faults_at_once_is_a_fault_on_the_trap_path(keel):
    b = keel.boot("run=upcalls:badtrapentry,spin:S:2").expect_verdict("failure")
    b.expect(r"^env 1 \(upcalls\): killed: #PF page fault at rip 0x3ffff000 on the trap path "
             r"\(error 0x14, cr2 0x3ffff000\)$")
    b.expect(r"^env 2 \(spin\): exited with code 0$")


def test_preemption_while_disabled_resumes_every_register_even_a_scratch_rsp(keel):
    """The register loop uses RSP as a scratch register; preempted while
    disabled, it is saved to and resumed from the disabled save."""
    b = keel.boot("run=upcalls:disabledregs:20,spin:S:10 timeslice_us=1000 watchdog_ms=20000", timeout=120)
    b.expect_verdict("success")
    n = b.value(r"^disabledregs: 20 rounds while disabled, 0 mismatches, (\d+) deschedules while disabled$")
    assert n >= 5


def test_redispatch_after_preemption_is_an_activation_with_its_timing(keel):
    b = keel.boot("run=upcalls:activation:20,spin:S:20 timeslice_us=2000", icount=True, timeout=120)
    b.expect_verdict("success")
    n, mono, mean_us, kernel = b.expect(
        r"^activation: (\d+) activations, descheduled_at increasing: (\w+), mean run before a deschedule "
        r"(\d+) us, kernel count (\d+)$").groups()
    assert int(n) >= 20 and mono == "yes" and int(kernel) >= int(n)
    assert 1500 <= int(mean_us) <= 2500, f"ran {mean_us} us per 2000 us slice"


@pytest.mark.parametrize("cpu", CPUS)
def test_a_self_raised_interrupt_is_delivered_by_either_kernel_path_keeping_every_register(keel, cpu):
    """int $0x82 and a held software vector (int $0xA0) have an assembly fast
    path and the general C path; both deliver exactly once and resume with
    all general registers intact."""
    b = keel.boot("run=upcalls:self grant=0:swvec0xa0", cpu=cpu).expect_verdict("success")
    b.expect(r"^self: 1000 int \$0x82 while enabled: 1000 delivered, 0 registers changed$")
    b.expect(r"^self: while disabled: held, delivered once on resume; with a kernel event pending: "
             r"delivered, 0 registers changed; ok$")
    b.expect(r"^self: 1000 int \$0xa0 \(held\) while enabled: 1000 delivered, 0 registers changed; "
             r"by the general path: 1 delivered, 0 registers changed; ok$")
