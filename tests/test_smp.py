"""SMP part 1 (docs/smp.md). Bring-up (kern/arch/x86_64/smp.c, trampoline.S):
every CPU the MADT lists comes up through the trampoline below 1 MiB and the
boot-only page table and sets up its own registers and per-CPU state.
Keel.boot(smp=N) requires all N up in every boot that names no smp_skip=
(conftest.py, Boot.expect_cpus). Then envs on every CPU: preemption across
CR3 switches, icount reproducibility, placement. TLB shootdown is in
test_shootdown.py."""

import hashlib
import re

import pytest

import keelqemu
from conftest import BUILD


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
@pytest.mark.parametrize("smp", [1, 2, 4, 8, 16, 64])
def test_every_cpu_comes_up(keel, smp, cpu):
    b = keel.boot(smp=smp, cpu=cpu).expect_verdict("success")
    if smp > 1:
        b.expect(rf"^acpi: MADT: local APIC at 0x[0-9a-f]+, {smp} CPUs ")
        page = int(b.expect(r"^smp: \d+ of \d+ CPUs up \(trampoline page (0x[0-9a-f]+); its boot-only page "
                            r"table freed\)$").group(1), 16)
        assert 0x1000 <= page < 0xA0000 and page % 0x1000 == 0, hex(page)
        # The slot audit ran on every AP, from that AP's own live registers.
        b.expect(r"^slot audit: ok on cpu(1\.\.cpu)?%d too: each one's CR3, GDT, IDT, TSS, RSP0 and IST stacks, "
                 r"RSP and per-CPU data in slot 511, checked on that CPU$" % (smp - 1))


def test_an_ap_that_does_not_answer_is_reported_left_out_and_its_stacks_freed(keel):
    """smp_skip=2 sends the second AP no startup IPI: it is reported after its
    timeout, sent INIT again and left out, and the boot goes on with the rest.
    The stacks cpu0 made for it -- a kernel stack and four IST stacks -- go back:
    every frame (frames free as before they were made, the next AP then
    prepared as cpu2 afresh)."""
    b = keel.boot("smp_skip=2", smp=4).expect_verdict("success")
    b.expect(r"^smp: cpu2 \(APIC id 2\) did not answer \(no startup IPI sent: smp_skip\): left out$")
    m = b.expect(r"^smp: cpu2's kernel and IST stacks freed: (\d+) frames \(frames free (\d+) before they were "
                 r"made, (\d+) now\)$")
    freed, before, now = map(int, m.groups())
    assert freed == 8 + 4 * 4, f"{freed} frames freed, not the kernel stack's 8 and the IST stacks' 4 x 4"
    assert now == before, f"frames free {before} before cpu2's stacks were made, {now} after they were freed"
    b.expect(r"^smp: 3 of 4 CPUs up ")


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & (1 << 64) - 1
    return h


# The kernel's word for the ranges GRUB's things hold (kern/frame.c, reserve()).
RESERVED = r"^mem: reserved (0x[0-9a-f]+|0+)-(0x[0-9a-f]+) (.+)$"


def test_under_uefi_a_module_moves_out_of_the_way_when_no_low_page_is_free(keel):
    """Under OVMF GRUB puts its modules and boot information low. The page a
    free page would have been (trampoline=move reports it) lies outside all of
    them; trampoline=move then counts every free page below 640 KiB as held,
    so the only way to a trampoline page is to move a module: the kernel moves
    the one on the highest such page to frames above 1 MiB and says so, the APs start
    through the page it held (all four up: Keel.boot), and the programs of the
    boot run and end with nothing leaked. The moved copy's bytes hash (as the
    kernel reports after zeroing the old copy) to the hash of the file GRUB
    loaded, whichever module GRUB's layout put on that page."""
    b = keel.boot("trampoline=move run=hello,ptrtable", smp=4, firmware="uefi").expect_verdict("success")
    b.expect_firmware("uefi")
    held = [(int(a, 16), int(z, 16), what) for a, z, what in re.findall(RESERVED, b.log, re.M)
            if what not in ("first MiB (firmware)", "kernel image")]
    natural = b.value(r"^smp: trampoline=move \(test only\): every free page below 640 KiB is taken as held "
                      r"\(the highest is (0x[0-9a-f]+)\)$", lambda v: int(v, 16))
    assert 0x1000 <= natural < 0xA0000, hex(natural)
    assert not [h for h in held if h[0] < natural + 0x1000 and natural < h[1]], \
        f"the free page {natural:#x} is held: {[h for h in held if h[0] < natural + 0x1000 and natural < h[1]]}"
    m = b.expect(r"^smp: moved module (\S+) from (0x[0-9a-f]+)-(0x[0-9a-f]+) to (0x[0-9a-f]+)-(0x[0-9a-f]+) "
                 r"\((\d+) frames\) to free page (0x[0-9a-f]+) for the trampoline "
                 r"\(fnv1a64 of the new copy (0x[0-9a-f]+)\)$")
    name = m.group(1)
    old0, old1, new0, new1, page = (int(m.group(i), 16) for i in (2, 3, 4, 5, 7))
    assert (old0 % 0x1000, old1 - old0) == (new0 % 0x1000, new1 - new0), m.group(0)
    assert new0 >= 1 << 20 and new1 <= 1 << 32, m.group(0)
    assert int(m.group(6)) == (new1 - (new0 & ~0xFFF) + 0xFFF) // 0x1000, m.group(0)
    assert page % 0x1000 == 0 and page < 0xA0000 and old0 < page + 0x1000 and page < old1, m.group(0)
    assert (old0 & ~0xFFF, (old1 + 0xFFF) & ~0xFFF, name) in held, f"{name} was not at {old0:#x}-{old1:#x}"
    others = [h for h in held if h[2] != name and h[0] < page + 0x1000 and page < h[1]]
    assert not others, f"page {page:#x} also holds {others}"
    assert b.value(r"^smp: 4 of 4 CPUs up \(trampoline page (0x[0-9a-f]+); ", lambda v: int(v, 16)) == page
    files = {"ksyms": BUILD / "kern" / "keel.sym", "font": BUILD / "boot" / "font.psf"}
    data = (files.get(name) or BUILD / "apps" / f"{name}.elf").read_bytes()
    assert len(data) == old1 - old0, f"{name}: {len(data)} bytes, GRUB loaded {old1 - old0}"
    assert int(m.group(8), 16) == fnv1a64(data), f"{name}'s moved copy differs from the file"
    b.expect(r"^hello from env 1 \(hello\), loaded at 0x[0-9a-f]+")
    b.expect(r"^ptrtable env 2: all pointers right$")
    b.expect(r"^env 1 \(hello\): exited with code 0$")
    b.expect(r"^env 2 \(ptrtable\): exited with code 0$")
    b.expect_nothing_leaked(started=2, failed=0)


def test_with_no_module_below_640_kib_to_move_the_kernel_says_so_and_runs_on_one_cpu(keel):
    """Under SeaBIOS GRUB puts every module above 1 MiB: with every free page
    below 640 KiB counted as held (trampoline=move), there is nothing to move,
    and the kernel says so and boots on one CPU."""
    b = keel.boot("trampoline=move", smp=2, firmware="bios").expect_verdict("success")
    b.expect(r"^smp: no module below 640 KiB can move out of the way$")
    b.expect(r"^smp: no free RAM page below 640 KiB for the trampoline: running on 1 CPU of 2$")
    b.expect_not(r"^smp: moved module")
    b.expect(r"^keel: boot ok$")


def test_cross_cpu_calls_run_once_on_the_cpu_they_were_sent_to(keel):
    """1,000 calls to each of three APs through the VEC_CALL IPI (ktest smp_calls)."""
    b = keel.run_test("smp_calls", smp=4)
    for cpu in (1, 2, 3):
        b.expect(rf"^# cpu{cpu}: 1000 calls, each ran there once; \d+ TSC ticks a round trip$")


def test_a_double_fault_on_an_ap_is_diagnosed_there_and_stops_the_others(keel):
    """cpu1 pushes onto its kernel stack's guard page: the #DF arrives on cpu1's
    own IST stack; cpu1 stops the other three CPUs by NMI (cpu0 among them, as
    it waits for the call), and the report names cpu1 and the guard page below
    its stack."""
    b = keel.run_test("double_fault_on_an_ap", expect="panic", smp=4)
    b.expect(r"^panic: cpu1 stopped the other 3 CPUs by NMI$")
    b.expect(r"^PANIC: #DF double fault \(a fault while delivering a fault\)$")
    b.expect(r"^on cpu1 \(APIC id 1\) of 4$")
    b.expect(r"^  => kernel stack overflow: RSP-8 0x[0-9a-f]+ is in the guard page of cpu1 kernel stack$")
    b.expect(r"^  #0  [0-9a-f]+ fault_on_guard\+0x")


def test_a_panic_on_cpu0_stops_every_ap(keel):
    b = keel.run_test("kernel_page_fault", expect="panic", smp=8)
    b.expect(r"^panic: cpu0 stopped the other 7 CPUs by NMI$")
    b.expect(r"^on cpu0 \(APIC id 0\) of 8$")
    b.expect_not(r"^trap: NMI")


# --------------------------------------------------------------- envs on every CPU

def per_cpu_switches(b):
    m = b.expect(r"^envs: (\d+) env switches were to an env that last ran on another CPU; switches per CPU:((?: \d+)+)$")
    return int(m.group(1)), [int(x) for x in m.group(2).split()]


@pytest.mark.parametrize("cpu", ["max", pytest.param("qemu64", marks=pytest.mark.slow)])
def test_ten_thousand_preemptions_per_cpu_across_address_spaces_lose_no_register_state(keel, cpu):
    """The seed's scenario (test_envs.py) on four CPUs at once: eight envs,
    each holding its own values in every general register, XMM/YMM, MXCSR
    and the x87 control word and checking them while preempted, 5,000
    preemptions each inside the check -- at least 10,000 env switches on
    every CPU, each a CR3 switch on a CPU whose neighbours switch too, and
    envs moving between CPUs (their state fetched from the CPU that kept it).
    Under icount: the same run every time."""
    b = keel.boot("run=" + ",".join(["regcheck:5000"] * 8) + " timeslice_us=50", cpu=cpu, smp=4, icount=True,
                  timeout=300).expect_verdict("success")
    b.expect_not(r"MISMATCH")
    reports = re.findall(r"^regcheck env \d+: (\d+) preemptions inside the check loop, \d+ rounds of 20000, "
                         r"(\d+) mismatches", b.log, re.M)
    assert len(reports) == 8 and all(int(p) >= 5000 and m == "0" for p, m in reports), reports
    moved, per_cpu = per_cpu_switches(b)
    assert len(per_cpu) == 4 and min(per_cpu) >= 10000, per_cpu
    assert moved >= 50, f"only {moved} switches moved an env to another CPU"
    b.expect(r"^envs: the run is over: the other 3 CPUs stopped$")
    b.expect_nothing_leaked(started=8, failed=0)


def test_an_env_moving_to_a_cpu_takes_its_registers_from_the_cpu_that_kept_them(keel):
    """Two envs hop between two CPUs after every round (regcheck hop): the CPU
    one leaves idles keeping its registers, and the CPU it moves to must fetch
    them (its FS/GS bases, set once, are checked every round; its vector
    state inside every round). With the fetch left out the run does not
    finish."""
    b = keel.boot("run=regcheck:100:hop,regcheck:100:hop timeslice_us=50", smp=2, icount=True,
                  timeout=120).expect_verdict("success")
    reports = re.findall(r"^regcheck env \d+: \d+ preemptions inside the check loop, (\d+) rounds of 500, "
                         r"(\d+) mismatches, ymm fsgsbase$", b.log, re.M)
    assert len(reports) == 2 and all(int(r) >= 20 and m == "0" for r, m in reports), reports
    moved, _ = per_cpu_switches(b)
    assert moved >= 40, f"only {moved} switches moved an env"
    b.expect_nothing_leaked(started=2, failed=0)


SMP_DEMO = keelqemu.DEMO_CMDLINE


def test_two_icount_runs_of_the_smp_demo(keel):
    """QEMU runs the CPUs of an icount boot round-robin in one thread; two
    runs of the demo on two CPUs -- envs on both, the kernel lock contended,
    cross-CPU kicks and shootdowns -- both succeed, with both CPUs running
    envs and envs moving between them. On an idle host their consoles are
    the same byte for byte (five runs of five here); on a loaded one QEMU
    7.2's round-robin may hand the other vCPU its turn elsewhere, and a
    figure moves (a CPU time 1 us off, seen once): reported, not failed
    (docs/smp.md, "Reproducibility")."""
    runs = [keel.boot(SMP_DEMO, smp=2, icount=True, timeout=240).expect_verdict("success") for _ in range(2)]
    for r in runs:
        moved, per_cpu = per_cpu_switches(r)
        assert min(per_cpu) > 0 and moved > 0, per_cpu  # both CPUs ran envs, and envs moved
        r.expect_nothing_leaked(started=9, failed=0)
    a, b = runs[0].log.splitlines(), runs[1].log.splitlines()
    diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    if len(a) != len(b) or diff is not None:
        pytest.xfail(f"the two icount SMP runs differ, first at line {diff}: "
                     f"{a[diff] if diff is not None else ''!r} vs {b[diff] if diff is not None else ''!r}")


@pytest.mark.slow  # a report (it differs every time): ./keel test --slow
def test_two_icount_runs_of_the_smp_demo_with_the_trace_on(keel):
    """The same with trace=on: both runs end with a complete trace of both
    CPUs. Their traces (and so their consoles) are not the same from run to
    run: reading the clock at every traced event changes where QEMU's
    round-robin hands the other vCPU its turn, which QEMU 7.2 does not make
    reproducible (docs/smp.md, "Reproducibility"). Reported, not failed:
    an SMP trace is reproduced from its seed and read, not replayed."""
    runs = [keel.boot(SMP_DEMO + " trace=on", smp=2, icount=True, timeout=240).expect_verdict("success")
            for _ in range(2)]
    for r in runs:
        for c in (0, 1):
            r.expect(rf"^ktrace: begin cpu={c} events=\d+ dropped=0 ")
            r.expect(rf"^ktrace: end cpu={c}$")
    traces = [hashlib.sha256("\n".join(l for l in r.log.splitlines() if l.startswith("ktrace: ")).encode()).hexdigest()
              for r in runs]
    if traces[0] != traces[1]:
        pytest.xfail(f"two icount SMP traces differ ({traces[0][:12]} vs {traces[1][:12]}): QEMU's round-robin")


def test_an_env_runs_only_on_the_cpus_it_holds(keel):
    """CPU capabilities: on four CPUs, env 1 holds only cpu1 (grant=0:cpu1) and
    env 2 only cpu2 (pin=1:cpu2, SMP part 1's placement, now the same grant);
    the trace shows every switch to each on its CPU alone, never on the idle
    others. A CPU that is not up is refused with its reason, and env 3, given
    no CPU by grant=, holds every CPU."""
    b = keel.boot("run=spin:A:3,spin:B:3,hello grant=0:cpu1,0:cpu7 pin=1:cpu2 trace=on", smp=4, icount=True,
                  timeout=120).expect_verdict("failure")
    b.expect(r"^grant: 0:cpu1: env 1 \(spin\), slot \d+$")
    b.expect(r"^grant: 0:cpu7: refused: ERANGE$")
    b.expect(r"^pin: 1:cpu2: env 2 \(spin\), slot \d+$")
    runs_on = {1: set(), 2: set(), 3: set()}
    cpu = None
    for line in b.log.splitlines():
        m = re.match(r"^ktrace: begin cpu=(\d+)", line)
        if m:
            cpu = int(m.group(1))
        m = re.match(r"^ktrace: \d+,switch,(\d+),", line)
        if m and int(m.group(1)) in runs_on:
            runs_on[int(m.group(1))].add(cpu)
    assert runs_on[1] == {1}, f"env 1 was switched to on CPUs {runs_on[1]}"
    assert runs_on[2] == {2}, f"env 2 was switched to on CPUs {runs_on[2]}"
    assert runs_on[3], "env 3 never ran"


def test_a_cpu_spinning_past_the_bound_says_which_lock_and_who_holds_it(keel):
    """cpu1 holds a lock until cpu0, spinning for it, has reported (at 2 s) which
    lock, which CPU holds it and where it was taken, and gets it after."""
    b = keel.run_test("lock_spin_is_reported", smp=2)
    b.expect(r"^lock: cpu0 has spun 2000 ms for 'test', held by cpu1 \(taken at hold_a_while\+0x[0-9a-f]+\)$")
    assert b.value(r"^# cpu0 got the lock after (\d+) ms$") >= 2000


def test_the_lock_order_rule_is_checked(keel):
    """Debug builds: taking the kernel lock (level 1) while holding a level-2
    lock is a panic that names both."""
    b = keel.run_test("lock_order_is_checked", expect="panic", smp=2)
    b.expect(r"^PANIC: lock order: cpu0 takes 'kernel' \(level 1\) while holding a lock of level 2 "
             r"\(levels held 0x4\)$")
