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
