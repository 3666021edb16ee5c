"""The read-only page-table window shows an env its own tables and nothing of
the kernel (invariant 1; docs/memory-map.md "The page-table window").

PML4 slot 254 once mapped the env's own PML4, and every walk through that
self-map that passed slot 511 reached the kernel's tables: 262 supervisor
pages in the user half of every address space, which the kernel would read
for Ring 3 (a console write of 0x7f3f9fdff000 printed the kernel's PDPT).
Now the slot leads to a separate top-level table holding only the env's
user-half entries. These tests prove it from Ring 3, from the kernel's own
audit, and from outside the guest."""

import re

import pytest

import keelqemu
import ptwalk
from conftest import BUILD

# The calls apps/badptr's window mode makes with each window address.
CALLS = ["console_write", "spawn", "spawn.image", "spawn.args", "mmu_update.ops", "mmu_update.done", "cap_info",
         "quota_info", "exit_counts", "kernel_copy", "upcall_setup"]
KERNEL_ADDRESSES = 4 * 3  # kernel addresses x window levels 3..1


@pytest.mark.parametrize("refusal", ["on", "off"])
def test_window_addresses_that_reached_kernel_tables_fault_in_every_call(keel, refusal):
    """With the kernel's refusal of the window's slot switched off
    (uaccess_window=open), -EFAULT can only come from the window mapping
    nothing there -- so the test cannot pass on the refusal alone; the
    control shows the kernel really did read through the window then."""
    cmdline = "run=badptr:window" + (" uaccess_window=open" if refusal == "off" else "")
    b = keel.boot(cmdline).expect_verdict("success")
    if refusal == "off":
        b.expect(r"^warning: uaccess_window=open: user copies may go through the page-table window")
    section = b.expect(r"^badptr: window begin\n(.*?)^badptr: window end$", re.M | re.S).group(1)
    lines = section.splitlines()
    assert len(lines) == KERNEL_ADDRESSES * len(CALLS), "one line per call and address; nothing else printed:\n" + \
        "\n".join(l for l in lines if not l.startswith("badptr: window "))
    for line in lines:
        assert re.fullmatch(r"badptr: window (\S+) 0x7f[0-9a-f]+ -> -14 \(EFAULT\)", line), line
    assert {re.match(r"badptr: window (\S+)", l).group(1) for l in lines} == set(CALLS)
    control = b.value(r"^badptr: window control: an op read from the window's own top 0x[0-9a-f]+ -> (-\d+)")
    if refusal == "off":
        assert control != -14, "with the refusal off the kernel reads the env's own entries through the window"
    else:
        assert control == -14, "the kernel refuses every user copy in the window's slot"
    b.expect(r"^badptr: window: all refused$")
    b.expect_not(r"killed|PANIC")


@pytest.mark.parametrize("plant, finding", [
    ("window", r"0x7f7fc0000000: a supervisor entry at level 3 in the user half"),
    ("window-leaf", r"0x7f0000200000: a supervisor entry at level 1 in the user half"),
])
def test_slot_audit_walks_the_window_and_catches_a_supervisor_mapping_under_it(keel, plant, finding):
    b = keel.boot(f"audit_plant={plant}").expect_verdict("panic")
    b.expect(r"^slot audit: FAIL \(plant\): " + finding)
    b.expect(r"^slot audit: FAILED \(plant\): \d+ problems?$")
    b.expect(r"^PANIC: slot audit failed for env \d+ \(plant\)$")


def test_every_address_space_audits_its_user_half_clean(keel):
    b = keel.boot("run=hello,ptrtable,vm:basic").expect_verdict("success")
    for name in ("hello", "ptrtable", "vm"):
        pages = int(b.value(rf"^slot audit: ok \({name}\): .*user half: (\d+) user pages, no supervisor entry$"))
        assert pages > 0


def test_no_supervisor_mapping_is_reachable_from_the_user_half_walked_from_outside():
    """QEMU's monitor reads the live tables of every env alive while the
    guest is stopped (tests/ptwalk.py walks them as the MMU does). Three
    long spinners keep three address spaces alive whenever the first stop
    comes; the demo's others are walked if they are still there."""
    cmdline = "run=spin:A:1000,spin:B:1000,spin:C:1000,ptrtable,threads,ipc:server,ipc:client:1000"
    walks, r = ptwalk.probe(BUILD, cmdline, keelqemu.Machine(icount=True), samples=3, interval=0.1, quit=True)
    assert walks, f"nothing walked; boot {r.verdict if r else '?'}:\n{r.log[-2000:] if r else ''}"
    bad = [(eid, name, c) for _, eid, name, _, c in walks if c["supervisor"]]
    assert not bad, f"supervisor pages reachable from the user half: {bad}"
    spaces = {pml4 for _, eid, _, pml4, c in walks if eid and c["user"]}
    assert len(spaces) >= 3, f"walked {len(spaces)} env address spaces: {walks}"
