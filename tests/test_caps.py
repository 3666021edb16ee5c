"""Capabilities and raw page tables: a libOS builds its own virtual memory.

Each test boots apps/vm in one mode (see its header). The app checks what it
can see from Ring 3 and prints it; these tests read the figures back and also
check the kernel's own summary: every frame and capability returned.
"""

import re

import pytest

CPUS = ["qemu64", "max"]


def vm_ok(b, *who):
    for w in who:
        b.expect(rf"^vm {w}: ok$")
    b.expect_not(r"FAILED")


@pytest.mark.parametrize("cpu", CPUS)
def test_map_unmap_remap_and_accessed_dirty_bits_through_the_window(keel, cpu):
    b = keel.boot("run=vm:basic", cpu=cpu).expect_verdict("success")
    pte = lambda what: int(b.expect(rf"^vm basic: {what}\s+pte (0x[0-9a-f]+)").group(1), 16)
    mapped, read, written = pte("mapped 0x[0-9a-f]+:"), pte("after a read:"), pte("after a write:")
    P, W, U, A, D, G = 1, 2, 4, 0x20, 0x40, 0x100
    assert mapped & (P | W | U | A | D | G) == P | W | U
    assert read & (A | D) == A and written & (A | D) == A | D
    remapped = int(b.expect(r"^vm basic: remapped read-only: pte (0x[0-9a-f]+); a write faults \(error 0x7\)$")
                   .group(1), 16)
    assert remapped & (P | W | D) == P | D  # fewer rights, dirty bit kept
    b.expect(r"^vm basic: unmapped: pte 0, a read faults \(error 0x4\); mapped again, the data is kept$")
    b.expect(r"^vm basic: the window refuses writes \(error 0x7\) and hides the kernel half \(error 0x4\)$")
    m = b.expect(r"^vm basic: frames used (\d+) -> (\d+), capabilities (\d+) -> (\d+), free frames (\d+) -> (\d+)$")
    f0, f1, c0, c1, free0, free1 = map(int, m.groups())
    assert (f0, c0, free0) == (f1, c1, free1)
    vm_ok(b, "basic")
    b.expect_nothing_leaked()


def test_a_shared_subtree_shows_each_envs_writes_and_unmaps_to_the_other(keel):
    b = keel.boot("run=vm:share:a,vm:share:b").expect_verdict("success")
    va = b.value(r"^vm share a: level-1 tables for (0x[0-9a-f]+) \(read-write\)", lambda s: int(s, 16))
    ro = va + (2 << 20)
    b.expect(rf"^vm share b: installed a's table at {va:#x}; read 0xa11ce there$")
    b.expect(rf"^vm share a: read b's write 0xb0b at {va + 8:#x} and b's own page 0xb2 at {va + 4096:#x}$")
    b.expect(r"^vm share a: unmapping and deleting b's page from a's table: EPERM$")
    b.expect(rf"^vm share b: a's unmapping seen: a read of {va:#x} faults$")
    b.expect(rf"^vm share a: b's unmapping seen: a read of {va + 4096:#x} faults$")
    # A table shared read-only is read-only below, whatever its leaves say.
    b.expect(rf"^vm share b: read-only table at {ro:#x}: read 0xc0ffee, a write faults \(error 0x7\), "
             r"mapping into it: ERIGHTS$")
    # Revoking the range takes every mapping made under it.
    b.expect(rf"^vm share a: revoked b's range \(1 capability\): b's page at {va + 3 * 4096:#x} is gone, a's stay$")
    b.expect(r"^vm share b: its range revoked \(told: 1\), its page there unmapped$")
    vm_ok(b, "share a", "share b")
    b.expect_nothing_leaked()


def test_an_upcall_area_on_a_revoked_shared_page_stops_being_used_at_once(keel):
    """b registers its upcall area on a page of a's, through a shared table;
    when a revokes the table, the kernel must not write b's upcall state into
    a's page again (nor read b's entry points from it)."""
    b = keel.boot("run=vm:areashare:a,vm:areashare:b").expect_verdict("success")
    b.expect(r"^vm areashare b: after the revocation: 1 self event\(s\) delivered, set_deadline: EINVAL; "
             r"still running$")
    b.expect(r"^vm areashare a: b's upcall area was on a's page \([1-9]\d* upcalls counted there\); revoked "
             r"the table \(1\); since then the kernel wrote nothing there$")
    vm_ok(b, "areashare a", "areashare b")
    b.expect_nothing_leaked()


def test_revoking_a_grant_unmaps_it_tells_the_holder_and_removes_everything_derived(keel):
    b = keel.boot("run=vm:revoke:a,vm:revoke:b").expect_verdict("success")
    assert b.value(r"^vm revoke a: revoked: (\d+) capabilities removed$") == 3
    b.expect(r"^vm revoke b: told by upcall \(KEEL_EV_REVOKED; the area counts 3 capabilities revoked\)$")
    b.expect(r"^vm revoke b: next accesses fault; the granted and derived slots: EBADSLOT EBADSLOT EBADSLOT$")
    vm_ok(b, "revoke a", "revoke b")
    b.expect_nothing_leaked()


def test_a_libos_pages_in_64_mib_from_its_fault_handler_and_gives_every_frame_back(keel):
    b = keel.boot("run=vm:demand", timeout=120).expect_verdict("success")
    m = b.expect(r"^vm demand: 64 MiB at 0x[0-9a-f]+: (\d+) page faults mapped (\d+) zero pages \((\d+) not zero\) "
                 r"in \d+ ms; checksum (0x[0-9a-f]+), expected (0x[0-9a-f]+); (\d+) PTEs present, accessed and dirty$")
    faults, pages, nonzero, got, want, dirty = m.groups()
    assert int(faults) == int(pages) == int(dirty) == 16384 and int(nonzero) == 0
    assert got == want
    m = b.expect(r"^vm demand: unmapped in 32 batches of 512; frames used (\d+) -> (\d+) -> (\d+), "
                 r"free (\d+) -> (\d+) -> (\d+), capabilities (\d+) -> (\d+) -> (\d+)$")
    u0, u1, u2, f0, f1, f2, c0, c1, c2 = map(int, m.groups())
    assert u1 - u0 >= 16384 and f0 - f1 >= 16384 and c1 - c0 >= 16384
    assert (u2, f2, c2) == (u0, f0, c0)
    vm_ok(b, "demand")
    b.expect_nothing_leaked()


# Every validation rule the issue names, with the code the ABI gives it.
RULES = {
    "foreign frame": "EBADSLOT",
    "foreign table": "EBADTABLE",
    "rights escalation: map writable": "ERIGHTS",
    "kernel half": "EKHALF",
    "slot 511": "ESLOT511",
    "page-table page mapped writable": "EPTPAGE",
    "G bit": "EGLOBAL",
    "U clear": "EUSER",
    "non-write-back type (PCD)": "EMEMTYPE",
    "address outside the caller's ranges": "EVRANGE",
    "retype with references": "EREFS",
    "wrong level": "ELEVEL",
    "index out of range": "EINDEX",
    "batch over the bound": "E2BIG",
    "quota exhausted (frames)": "EDQUOT",
}
# Further refusals the app checks, each named as the ABI names it.
MORE = {
    "rights escalation: derive": "ERIGHTS",
    "non-write-back type (PWT)": "EMEMTYPE",
    "quota exhausted (capabilities)": "EDQUOT",
    "quota exhausted (address space)": "EDQUOT",
    "wrong type (a range as a frame)": "ETYPE",
    "table bound elsewhere": "EBINDING",
    "entry in use": "EEXIST",
    "capability already mapped": "EMAPPED",
    "the window's slot": "EWINDOW",
    "clear an empty entry": "ENOENT",
    "unknown flag": "EINVAL",
    "ops in the kernel half": "EFAULT",
    "retype level 4": "ELEVEL",
    "empty slot": "EBADSLOT",
    "batch: second op invalid": "ETYPE",
}


def test_each_page_table_rule_refuses_with_its_own_code_and_quotas_bind_only_their_env(keel):
    b = keel.boot("run=vm:neg,vm:guard quota_frames=1024 quota_caps=2048 quota_vspace_gib=1").expect_verdict("success")
    got = dict(re.findall(r"^vm neg: (.+?)\s+(E[A-Z0-9]+)$", b.log, re.M))
    for rule, code in {**RULES, **MORE}.items():
        assert got.get(rule) == code, f"{rule}: expected {code}, got {got.get(rule)}"
    assert len(set(RULES.values())) == len(RULES), "the named rules have distinct codes"
    assert b.value(r"^vm neg: the batch applied (\d+) operation\(s\)$") == 1
    frames = b.value(r"^vm neg: (\d+) frames allocated before the quota ran out$")
    assert 800 < frames < 1024
    derived = b.value(r"^vm neg: (\d+) capabilities derived before the quota ran out; revoke removed \d+$")
    assert 1800 < derived < 2048
    # The other env, under the same limits, was not affected by neg's exhaustion.
    b.expect(r"^vm guard: memory intact through \d+ checks \(0 bad words\); \d+ capabilities granted to it "
             r"were revoked; it can still allocate$")
    vm_ok(b, "neg", "guard")
    b.expect_nothing_leaked()


def test_a_frame_is_allocated_and_mapped_in_one_call_and_unmapped_and_deleted_in_one(keel):
    b = keel.boot("run=vm:onecall quota_frames=600").expect_verdict("success")
    m = b.expect(r"^vm onecall: slot (\d+) mapped at (0x[0-9a-f]+) in one call, pte (0x[0-9a-f]+), read (\w+); "
                 r"frames (\d+) -> (\d+), capabilities (\d+) -> (\d+)$")
    pte, read = int(m.group(3), 16), m.group(4)
    f0, f1, c0, c1 = map(int, m.groups()[4:])
    assert pte & 0x7 == 0x7 and read == "zero" and (f1, c1) == (f0 + 1, c0 + 1)
    b.expect(r"^vm onecall: unmapped and deleted in one call: ok; the frame's slot EBADSLOT, "
             r"the derived one EBADSLOT; all back$")
    got = dict(re.findall(r"^vm onecall: (.+?)\s+(E[A-Z0-9]+)$", b.log, re.M))
    assert got == {"new frame into a level-2 table": "ELEVEL", "new frame with the G bit": "EGLOBAL",
                   "new frame into an entry in use": "EEXIST", "new frame outside the caller's ranges": "EVRANGE",
                   "new frame, its op read-only": "EFAULT", "free an empty entry": "ENOENT",
                   "free a table": "ETYPE"}, got
    m = b.expect(r"^vm onecall: batches mapped (\d+) new pages, then EDQUOT at page (\d+); "
                 r"frames (\d+) -> (\d+) \(quota 600\)$")
    mapped, stop, before, after = map(int, m.groups())
    assert 400 < mapped < 600 and stop == mapped and after == 600 and after - before == mapped
    m = b.expect(r"^vm onecall: batches unmapped and deleted (\d+); frames (\d+) -> \d+ -> (\d+), "
                 r"capabilities (\d+) -> \d+ -> (\d+)$")
    assert int(m.group(1)) == mapped and m.group(2) == m.group(3) and m.group(4) == m.group(5)
    vm_ok(b, "onecall")
    b.expect_nothing_leaked()


def test_100k_random_operations_leave_no_trace_and_do_not_touch_another_env(keel):
    b = keel.boot("run=vm:churn:100000,vm:guard", timeout=180).expect_verdict("success")
    m = b.expect(r"^vm churn: 100000 operations: (\d+) accepted, (\d+) refused with a known code, (\d+) unexpected$")
    ok, refused, unexpected = map(int, m.groups())
    assert unexpected == 0 and ok > 20000 and refused > 20000
    audits, problems = map(int, b.expect(
        r"^vm churn: (\d+) kernel audits of its page tables on the way: (\d+) problems$").groups())
    assert audits == 100 and problems == 0
    refusals = dict((k, int(v)) for k, v in re.findall(r" (E[A-Z0-9]+) (\d+)",
                                                      b.expect(r"^vm churn: refusals:.*$").group(0)))
    assert len(refusals) >= 15, f"the churn reached only {sorted(refusals)}"
    held, held0, frames, frames0 = map(int, b.expect(
        r"^vm churn: holding (\d+) capabilities \((\d+) at start\) and (\d+) frames \((\d+) at start\)").groups())
    assert held > held0 and frames > frames0  # it exits holding plenty ...
    granted = b.value(r"^vm churn: (\d+) capabilities granted to the other env$")
    revoked = b.value(r"^vm guard: memory intact through \d+ checks \(0 bad words\); (\d+) capabilities granted")
    assert revoked == granted  # ... and what it gave away went with it
    vm_ok(b, "churn", "guard")
    b.expect_nothing_leaked()  # ... every frame and capability back when it exits
