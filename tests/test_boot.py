"""Boot into the shared kernel slot: each test is a real GRUB + QEMU boot."""

import concurrent.futures
import re
import subprocess
from pathlib import Path

import pytest

# What QEMU 7.2 + SeaBIOS put in the e820 map (OVMF's maps: test_firmware.py) as usable RAM (type 1), per
# machine and -m size: 639 KiB of conventional memory; RAM from 1 MiB up to
# the top of low memory, less what SeaBIOS keeps for itself (128 KiB on pc,
# 132 KiB on q35); the rest above 4 GiB. Low memory ends at 3 GiB on pc when
# -m >= 3.5 GiB, at 2 GiB on q35 when -m >= 2.75 GiB.
E820_RAM = {
    ("pc", "64M"): [(0x0, 0x9FC00), (0x100000, 0x3FE0000)],
    ("pc", "512M"): [(0x0, 0x9FC00), (0x100000, 0x1FFE0000)],
    ("pc", "4G"): [(0x0, 0x9FC00), (0x100000, 0xBFFE0000), (0x100000000, 0x140000000)],
    ("pc", "8G"): [(0x0, 0x9FC00), (0x100000, 0xBFFE0000), (0x100000000, 0x240000000)],
    ("q35", "64M"): [(0x0, 0x9FC00), (0x100000, 0x3FDF000)],
    ("q35", "512M"): [(0x0, 0x9FC00), (0x100000, 0x1FFDF000)],
    ("q35", "4G"): [(0x0, 0x9FC00), (0x100000, 0x7FFDF000), (0x100000000, 0x180000000)],
    ("q35", "8G"): [(0x0, 0x9FC00), (0x100000, 0x7FFDF000), (0x100000000, 0x280000000)],
    ("pc", "64G"): [(0x0, 0x9FC00), (0x100000, 0xBFFE0000), (0x100000000, 0x1040000000)],
    ("q35", "64G"): [(0x0, 0x9FC00), (0x100000, 0x7FFDF000), (0x100000000, 0x1080000000)],
}


@pytest.mark.parametrize("machine", ["pc", "q35"])
@pytest.mark.parametrize("cpu", ["qemu64", "max"])
def test_boots_to_banner_and_exits_with_success_code(keel, cpu, machine):
    b = keel.boot(cpu=cpu, machine=machine)
    b.expect_verdict("success")
    b.expect(r"^Keel \S+: an exokernel for x86_64$")
    b.expect(r"^keel: boot ok$")
    b.expect_not(r"PANIC|warning:")


def test_cpu_features_are_detected_not_assumed(keel):
    """-cpu qemu64 lacks SMEP/SMAP/UMIP and 1 GiB pages; -cpu max has them.
    Each boot enables exactly what its CPU offers (and clac/stac are patched
    out where SMAP is absent, or the entry path would #UD)."""
    old = keel.boot(cpu="qemu64").expect_verdict("success")
    new = keel.boot(cpu="max").expect_verdict("success")
    on_old = old.expect(r"^cpu: protections on: (.*)$").group(1).split()
    on_new = new.expect(r"^cpu: protections on: (.*)$").group(1).split()
    assert not {"smep", "smap", "umip"} & set(on_old), on_old
    assert {"nx", "smep", "smap", "umip", "write-protect"} <= set(on_new), on_new


@pytest.mark.parametrize("mem", ["64M", "512M", "4G", "8G", "64G"])
@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_usable_ram_matches_the_e820_map(keel, machine, mem):
    ranges = E820_RAM[(machine, mem)]
    high = any(end > 1 << 32 for _, end in ranges)
    if high:
        # Also allocate frames above 4 GiB and the very top one, and touch them.
        b = keel.run_test("frames_above_4g", mem=mem, machine=machine, firmware="bios")
        b.expect(r"touched 256 frames from 0x1[0-9a-f]{8} ")
    else:
        b = keel.boot(mem=mem, machine=machine, firmware="bios").expect_verdict("success")
    usable = b.value(r"^mem: usable (\d+) bytes")
    expected = sum(end - start for start, end in ranges)
    assert usable == expected, f"kernel reports {usable} usable bytes, e820 holds {expected}"
    seen = [(int(a, 16), int(b_, 16)) for a, b_ in
            re.findall(r"^mem: e820 (0x[0-9a-f]+|0+)-(0x[0-9a-f]+) type 1$", b.log, re.M)]
    assert seen == ranges, f"RAM ranges the kernel read: {seen}"


def host_ram_and_swap():
    kib = dict(re.findall(r"^(\w+):\s+(\d+) kB$", Path("/proc/meminfo").read_text(), re.M))
    return (int(kib["MemTotal"]) + int(kib["SwapTotal"])) << 10


def e820_ram_top(log):
    return max(int(end, 16) for _, end in
               re.findall(r"^mem: e820 (0x[0-9a-f]+|0+)-(0x[0-9a-f]+) type 1$", log, re.M))


# The most host memory a boot below may hold: QEMU itself needs ~55 MiB for a
# 512M guest and ~130 MiB (64G) to ~350 MiB (256G) for its per-page
# bookkeeping; a kernel that touched every frame would need the whole guest.
HOST_RSS_LIMIT_MIB = 1024


@pytest.mark.parametrize("mem", ["64G", "256G"])
def test_a_guest_larger_than_the_host_boots_and_costs_the_host_only_what_it_touches(keel, mem):
    """Guest RAM is a QEMU memory backend that reserves nothing (reserve=off,
    boot/keelqemu.py), so a guest may be larger than the host's RAM and swap
    (here 24 GiB, no swap; QEMU's own RAM died with "cannot set up guest
    memory"): the host lends a page when the guest first touches it. The kernel
    tracks frames in a bitmap and touches only the frames it uses, so QEMU holds
    a sliver of the guest -- and is killed before it can hold more, rather than
    push the host out of memory. 256G is all the direct map covers: the kernel
    uses RAM up to 256 GiB and says so about the rest."""
    size = int(mem[:-1]) << 30
    b = keel.run_test("frames_above_4g", mem=mem, rss_limit_mib=HOST_RSS_LIMIT_MIB)
    # The top of RAM is the guest's: the frame in its last 64 MiB was written and read back.
    top = min(e820_ram_top(b.log), 256 << 30)
    last = b.value(r"^# touched 256 frames from 0x1[0-9a-f]{8} to \S+ and the frame at (0x[0-9a-f]+)$",
                   lambda v: int(v, 16))
    assert top - (64 << 20) <= last < top, f"top frame {last:#x}, RAM ends at {top:#x}"
    assert b.value(r"^mem: usable (\d+) bytes") > size - (2 << 30)
    if e820_ram_top(b.log) > 256 << 30:
        b.expect(r"^mem: RAM above 256 GiB is not used \(direct map limit\)$")
    assert b.maxrss_kib < HOST_RSS_LIMIT_MIB << 10, f"QEMU held {b.maxrss_kib >> 10} MiB of the host"
    print(f"{mem} guest on a host with {host_ram_and_swap() >> 30} GiB RAM + swap: "
          f"QEMU's peak RSS {b.maxrss_kib >> 10} MiB")


def iso_of(boot):
    return Path(boot.argv[boot.argv.index("-cdrom") + 1])


def el_torito(iso):
    """The ISO's El Torito boot images (xorriso's report) and its GRUB module
    directories."""
    res = subprocess.run(["xorriso", "-indev", str(iso), "-report_el_torito", "plain",
                          "-ls", "/boot/grub/*/multiboot2.mod"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_the_iso_holds_bios_and_uefi_grub_and_boots_under_seabios(keel, machine):
    """With GRUB's EFI platform installed (grub-efi-amd64-bin, in the keel
    script's package list) grub-mkrescue makes every ISO for BIOS and UEFI at
    once; it used to fail outright, asked to install biosdisk, which only the
    BIOS platform has. SeaBIOS boots the BIOS image."""
    assert Path("/usr/lib/grub/x86_64-efi/multiboot2.mod").exists(), \
        "GRUB's EFI platform is missing: ./keel installs grub-efi-amd64-bin"
    b = keel.boot(machine=machine, firmware="bios").expect_verdict("success")
    b.expect(r"^keel: boot ok$")
    report = el_torito(iso_of(b))
    assert re.search(r"^El Torito boot img : +1 +BIOS ", report, re.M), report
    assert re.search(r"^El Torito boot img : +2 +UEFI ", report, re.M), report
    assert "/boot/grub/i386-pc/multiboot2.mod" in report, report
    assert "/boot/grub/x86_64-efi/multiboot2.mod" in report, report


def test_slot_audit_passes_at_boot(keel, firmware):
    b = keel.boot().expect_verdict("success")
    b.expect(r"^slot audit: ok \(boot\): PML4\[511\] -> shared PDPT")
    b.expect(r"identity map gone")


@pytest.mark.parametrize("plant, finding", [
    ("slot288", r"PML4\[288\] = \S+: slots 256..510 must stay empty"),
    ("identity", r"PML4\[0\] = \S+: the kernel's own address space must have an empty user half"),
    ("idtr", r"IDTR base at 0xffff9000\S+ is outside slot 511"),
])
def test_slot_audit_fails_loudly_when_a_kernel_page_is_mapped_outside_slot_511(keel, plant, finding):
    b = keel.boot(f"audit_plant={plant}").expect_verdict("panic")
    b.expect(r"^slot audit: FAIL \(boot\): " + finding)
    b.expect(r"^slot audit: FAILED \(boot\): \d+ problems?$")
    b.expect(r"^PANIC: slot audit failed at boot$")


CLONE = r"(?:\.(?:constprop|isra|part|lto_priv|cold)(?:\.\d+)?)*"  # GCC's suffixes for a function's copies


def test_kernel_page_fault_gives_register_dump_backtrace_and_panic_code(keel):
    b = keel.run_test("kernel_page_fault", expect="panic")
    # A name may carry GCC's clone suffix (link-time optimisation makes
    # fault_here_deliberately.constprop.0): the symbol as the ELF has it.
    b.expect(rf"^PANIC: #PF page fault \(vector 14\) in kernel mode at 0xffffffff8\S+ "
             rf"<fault_here_deliberately{CLONE}\+0x[0-9a-f]+>$")
    b.expect(r"^error code 0x2: page not present, write, supervisor-mode$")
    b.expect(r"^CR2 \(faulting address\) = 0xdead000$")
    for reg in ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP", "R8 ", "R9 ", "R10", "R11",
                "R12", "R13", "R14", "R15", "RIP", "RFLAGS", "CR0", "CR2", "CR3", "CR4", "EFER"]:
        b.expect(re.escape(reg) + r"=[0-9a-f]{16}")
    trace = b.expect(r"^backtrace:\n((?:  #.*\n)+)").group(1)
    assert re.search(rf"#0 +ffffffff8\S+ fault_here_deliberately{CLONE}\+", trace), trace
    assert re.search(rf"#1 +ffffffff8\S+ ktest_kernel_page_fault{CLONE}\+", trace), trace
    assert re.search(r"kmain\+", trace), trace


def test_switch_to_unmapped_stack_gives_double_fault_report(keel):
    b = keel.run_test("double_fault_unmapped_stack", expect="panic")
    b.expect(r"^PANIC: #DF double fault")
    b.expect(r"^  saved RSP-8 0xffffffff8\S+ is NOT mapped in CR3 0x[0-9a-f]+ "
             r"\(guard page below the bootstrap stack\)$")
    b.expect(r"^  CR2 0xffffffff8\S+ is NOT mapped in CR3")
    b.expect(r"ktest_double_fault_unmapped_stack\+")


def test_every_frame_allocation_failure_during_boot_is_reported_not_crashed_on(keel):
    """Fail each frame allocation the boot makes, one boot per allocation:
    each boot stops cleanly with the reason, or carries on and says what it
    lost -- never a panic, a fault or a hang. Two boots at a time (each
    one's outcome is its log, not its timing): the suite's longest test."""
    n = keel.boot().expect_verdict("success").value(r"^boot: (\d+) frame allocations")
    assert 5 <= n <= 200, n
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        boots = list(pool.map(lambda i: keel.boot(f"fail=frame:{i}"), range(1, n + 1)))
    for i, b in enumerate(boots, 1):
        b.expect(rf"^fail: injecting failure of frame allocation #{i}$")
        b.expect_not(r"PANIC|double fault")
        if b.verdict == "failure":
            b.expect(r"^boot: .* failed: ENOMEM \(-12\)\nboot: stopped$")
        else:
            b.expect_verdict("success")
            b.expect(r"\(ENOMEM\)")


def test_heap_allocation_failure_is_reported_and_survived(keel):
    b = keel.run_test("heap_failure_is_reported")
    b.expect(r"^fail: injecting failure of heap allocation #\d+$")
    b.expect(r"^# kmalloc #17 returned NULL \(injected\)$")


def test_frame_allocation_failure_at_run_time_is_survived(keel):
    b = keel.run_test("frame_failure_is_reported")
    b.expect(r"^# frame_alloc #17 returned 0 \(injected\)$")


def test_a_heap_double_free_is_a_panic_and_the_poison_alone_is_not(keel):
    b = keel.run_test("heap_double_free", expect="panic")
    b.expect(r"^ktest: an object holding the poison was freed$")
    b.expect(r"kfree\(0x[0-9a-f]+\): double free")


def test_heap_round_trip_returns_everything(keel):
    keel.run_test("heap_roundtrip")


def test_spurious_interrupts_are_absorbed(keel):
    keel.run_test("spurious_vectors_ignored")


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
@pytest.mark.unrecorded("its lateness is in virtual time only under sleep=off, which QEMU 7.2 cannot record with")
def test_the_timer_queue_never_fires_early_and_fires_in_deadline_order(keel, cpu):
    """A periodic timer re-armed from its own callback beside 64 one-shots
    (16 re-armed, 8 cancelled, many sharing a deadline): the ktest checks
    every callback against the clock (never before its deadline), the order
    (deadlines never go backwards, equal ones in the order armed) and the
    count (each one-shot once at its last deadline, cancelled ones never).
    Under -icount the lateness is the kernel's own, not the host's: each
    callback runs within 20 us of its deadline."""
    b = keel.run_test("timer_queue_fires_on_time", cpu=cpu, icount=True)
    m = b.expect(r"^# (\d+) periodic callbacks, 56 one-shots, \d+ interrupts in (\d+) us; (\d+) callbacks logged")
    assert int(m.group(3)) == int(m.group(1)) + 56
    late = b.value(r"^# 0 early, 0 out of order, 0 one-shots fired wrongly; latest callback (\d+) ns after its "
                   r"deadline$")
    assert late < 20000, f"a callback ran {late} ns after its deadline"


def test_unknown_test_name_is_a_failure_listing_the_tests(keel):
    b = keel.boot("test=no_such_test").expect_verdict("failure")
    b.expect(r"^# no test named 'no_such_test'; the tests are:$")
    b.expect(r"^#   frames_above_4g$")
    b.expect(r"^not ok 1 no_such_test$")


def test_hostile_command_line_is_reported_and_boot_goes_on(keel):
    words = " ".join(f"w{i}=x" for i in range(40))
    b = keel.boot(f'fail=bogus:0 q="a\\b" {words}').expect_verdict("success")
    b.expect(r"^fail: 'bogus:0' is not KIND:N")
    b.expect(r"^warning: cmdline: more than 32 words, 'w30' and after ignored$")
    b.expect(r"^keel: boot ok$")


# Every command-line tunable (kern/tunables.c): a bad value, the range the
# warning must name, and the default that must stay in force.
TUNABLES = {
    "quota_caps": ("15", "16..16777216", "65536"),
    "quota_frames": ("x", "64..67108864", "65536"),
    "quota_vspace_gib": ("0", "1..131072", "1024"),
    "quota_envs": ("65537", "0..65536", "16"),
    "timeslice_us": ("1000001", "10..1000000", "10000"),
    "watchdog_ms": ("0", "1..100000", "100"),
    "metronome_us": ("50001", "0..50000", "0"),
    "uaccess_window": ("wide", "closed|open", "closed"),  # open: debug builds (the default)
    "shootdown": ("none", "ipi|skip", "ipi"),  # skip: debug builds
    "fastpaths": ("fast", "on|off", "on"),  # off: debug builds
    "lockstat": ("yes", "off|on", "off"),
    "trampoline": ("anywhere", "choose|move", "choose"),  # move: test only (test_smp.py)
}


def tunables_in_force(b):
    return dict(kv.split("=", 1) for kv in b.expect(r"^tunables: (.*)$").group(1).split())


def test_a_bad_value_of_any_tunable_is_refused_with_the_same_warning_and_its_default_kept(keel):
    b = keel.boot(" ".join(f"{k}={bad}" for k, (bad, _, _) in TUNABLES.items())).expect_verdict("success")
    for key, (bad, accepted, default) in TUNABLES.items():
        b.expect(rf"^warning: {key}={re.escape(bad)} is not {re.escape(accepted)}, keeping {default}$")
    # Every key the kernel has is one of these, and each kept its default.
    assert tunables_in_force(b) == {k: default for k, (_, _, default) in TUNABLES.items()}
    b.expect(r"^keel: boot ok$")


def test_every_tunable_takes_a_value_at_either_end_of_its_range(keel):
    # The lower end of one key's range, the upper end of the next's, ...; open.
    ends = {k: accepted.split("..")[i % 2] if ".." in accepted else accepted.split("|")[-1]
            for i, (k, (_, accepted, _)) in enumerate(TUNABLES.items())}
    b = keel.boot(" ".join(f"{k}={v}" for k, v in ends.items())).expect_verdict("success")
    b.expect_not(r" is not ")
    assert tunables_in_force(b) == ends
