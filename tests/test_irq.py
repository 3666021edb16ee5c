"""Interrupt, port and software-vector capabilities (issue 6), in real boots.

COM2 is a QEMU socket chardev the test connects to: bytes written there
reach the app's Ring 3 driver through IRQ 3 (IOAPIC) and its port
capability (the TSS I/O bitmap); the app echoes them back out of COM2.
"""

import random

import pytest

from conftest import Com2Boot

def fnv1a(data):
    h = 0xcbf29ce484222325
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & (2**64 - 1)
    return h


def test_com2_echo_through_irq_and_port_capabilities(keel, firmware):
    """A few kilobytes reach the Ring 3 driver through IRQ 3 and its port
    capability, in order, none lost, and come back out of COM2."""
    n = 4096
    payload = bytes(random.Random(6).randrange(256) for _ in range(n))
    c = Com2Boot(keel, f"run=com2:echo:{n} grant=0:irq3,0:io0x2f8+8")
    assert c.wait_for(r"^com2 echo: ready"), c.log()[-3000:]
    c.connect()
    echo = c.exchange(payload)
    b = c.finish()
    b.expect_verdict("success")
    b.expect(r"^ioapic: id \d+ at 0xfec00000: GSIs 0\.\.23, all masked")
    b.expect(r"^grant: 0:irq3: env 1 \(com2\), slot \d+")
    b.expect(r"^grant: 0:io0x2f8\+8: env 1 \(com2\), slot \d+")
    m = b.expect(r"^com2 echo: (\d+) bytes echoed, checksum ([0-9a-f]{16}); (\d+) interrupts, (\d+) waits, "
                 r"(\d+) IRQ events")
    print(m.group(0))
    assert int(m.group(1)) == n
    assert int(m.group(2), 16) == fnv1a(payload), "the driver read other bytes than were sent (order or loss)"
    assert int(m.group(3)) > 0 and int(m.group(5)) > 0, "no interrupt was delivered"
    assert echo == payload, f"echo differs: {len(echo)} of {n} bytes back, first difference at " \
        f"{next((i for i, (x, y) in enumerate(zip(echo, payload)) if x != y), min(len(echo), n))}"


def test_com2_without_interrupt_capability_gets_no_interrupt(keel):
    """Ports but no interrupt capability: the device raises IRQ 3 for every
    byte, and none of it reaches the env (it reads by polling)."""
    n = 512
    payload = bytes(random.Random(7).randrange(256) for _ in range(n))
    c = Com2Boot(keel, f"run=com2:noirq:{n} grant=0:io0x2f8+8")
    assert c.wait_for(r"^com2 noirq: ready"), c.log()[-3000:]
    c.connect()
    echo = c.exchange(payload)
    b = c.finish()
    b.expect_verdict("success")
    m = b.expect(r"^com2 noirq: (\d+) bytes by polling, checksum ([0-9a-f]{16}); (\d+) IRQ events, "
                 r"irq_pending (0x[0-9a-f]+|0)$")
    assert int(m.group(1)) == n and int(m.group(2), 16) == fnv1a(payload)
    assert int(m.group(3)) == 0 and int(m.group(4), 16) == 0
    assert echo == payload


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_ports_without_capability_are_gp(keel, cpu):
    """No port capability: `in`/`out` on COM2, on the kernel's COM1, the exit
    port and the PIC are #GP (error 0), forwarded to the trap entry; the env
    with ports beside it does not open them for this one (per-env bitmaps)."""
    b = keel.boot("run=com2:noport,com2:noport grant=1:io0x2f8+8", cpu=cpu).expect_verdict("success")
    b.expect(r"^com2 noport: 10 #GP forwarded \(COM2's ports not held\); ok$")
    # Env 2 holds COM2's ports: those go through, the kernel's still fault.
    b.expect(r"^com2 noport: port 0x2f8: in allowed, out allowed$")
    b.expect(r"^com2 noport: 6 #GP forwarded \(COM2's ports held\); ok$")


def test_grants_refuse_the_kernels_lines_and_bad_items(keel):
    b = keel.boot("run=hello grant=0:io0x3f8+8,0:io0x3f0+16,0:irq4,0:irq0,0:gsi2,5:irq3,0:swvec0x80,0:io0xfff0+32,"
                  "0:bogus").expect_verdict("failure")
    for item, err in [("0:io0x3f8\\+8", "EPERM"), ("0:io0x3f0\\+16", "EPERM"), ("0:irq4", "EPERM"),
                      ("0:irq0", "EPERM"), ("0:gsi2", "EPERM"), ("5:irq3", "ENOENT"), ("0:swvec0x80", "EINVAL"),
                      ("0:io0xfff0\\+32", "EINVAL"), ("0:bogus", "EINVAL")]:
        b.expect(rf"^grant: {item}: refused: {err}$")
    b.expect_nothing_leaked(started=1, failed=9)


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_software_vectors(keel, cpu):
    """`int $0xA0` by its holder: one event upcall each, held while disabled;
    every other software vector, and all of them for an env holding none,
    is #GP with error vector*8+2 at the `int`."""
    b = keel.boot("run=swvec:held:1000,swvec:none grant=0:swvec0xa0", cpu=cpu).expect_verdict("success")
    b.expect(r"^swvec held: int \$0xa0 x 1000: 1000 event upcalls, pending bits 0x1, 0 #GP$")
    # pending: KEEL_EV_SWVEC, and KEEL_EV_ACTIVATION too if the env was
    # descheduled and dispatched again inside the disabled window (wall
    # clock: the slice may end there).
    b.expect(r"^swvec held: raised twice while disabled: 0 delivered then, pending 0x2[02]; 1 after enabling$")
    b.expect(r"^swvec held: 31 software vectors not held: 31 #GP with error vector\*8\+2 at the int$")
    b.expect(r"^swvec none: 32 software vectors not held: 32 #GP with error vector\*8\+2 at the int$")
    b.expect(r"^swvec held: ok$")
    b.expect(r"^swvec none: ok$")
