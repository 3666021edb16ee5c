"""SMP part 1, bring-up (kern/arch/x86_64/smp.c, trampoline.S): every CPU the
MADT lists comes up through the trampoline below 1 MiB and the boot-only page
table, sets up its own registers and per-CPU state, and waits; the boot goes
on, on cpu0. Keel.boot(smp=N) requires all N up in every boot that names no
smp_skip= (conftest.py, Boot.expect_cpus)."""

import pytest


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


def test_an_ap_that_does_not_answer_is_reported_and_left_out(keel):
    """smp_skip=2 sends the second AP no startup IPI: it is reported after its
    timeout, sent INIT again and left out, and the boot goes on with the rest."""
    b = keel.boot("smp_skip=2", smp=4).expect_verdict("success")
    b.expect(r"^smp: cpu2 \(APIC id 2\) did not answer \(no startup IPI sent: smp_skip\): left out$")
    b.expect(r"^smp: 3 of 4 CPUs up ")


def test_aps_come_up_under_uefi(keel):
    """Under OVMF GRUB puts its modules and boot information low: the trampoline
    page is chosen around them (the four CPUs are required up by Keel.boot)."""
    keel.boot(smp=4, firmware="uefi").expect_verdict("success").expect_firmware("uefi")


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
