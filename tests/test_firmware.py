"""One ISO, two firmwares: SeaBIOS (BIOS) and OVMF (UEFI) both boot it through GRUB,
and the kernel takes its memory map from GRUB's multiboot2 tags under either.

Under OVMF, GRUB writes to the firmware's console, which Debian's OVMF.fd copies
to the serial port: a boot's log holds what GRUB printed before the kernel's
banner. Under SeaBIOS GRUB prints to the (absent) screen unless told to use the
serial port, as the memory-map test does.
"""

import os
import re
import struct
import subprocess
import uuid

import pytest

from conftest import BUILD, SRC

# GRUB's names for its memory types (grub-core/commands/lsmmap.c) and the
# numbers its multiboot2 memory map gives them (include/grub/memory.h).
GRUB_TYPES = {"available RAM": 1, "reserved RAM": 2, "ACPI reclaimable RAM": 3,
              "ACPI non-volatile storage RAM": 4, "faulty RAM (BadRAM)": 5, "persistent RAM": 7,
              "persistent RAM (legacy)": 12, "RAM holding coreboot tables": 16,
              "RAM holding firmware code": 20}
PAGE = 4096


def grub_lines(log):
    """What GRUB (and OVMF) wrote to the serial port before the kernel's banner."""
    text = re.sub(r"\x1b\[[0-9;?=]*[A-Za-z]", "", log.replace("\r", ""))
    return re.split(r"^Keel \S+: an exokernel", text, maxsplit=1, flags=re.M)[0].splitlines()


@pytest.mark.parametrize("machine, cpu", [("q35", "max"), ("pc", "qemu64")])
def test_grub_loads_the_kernel_under_either_firmware(keel, firmware, machine, cpu):
    """The same ISO under SeaBIOS and under OVMF: GRUB's BIOS or EFI image loads
    the kernel by multiboot2 (the EFI one leaves boot services first) and enters
    it in 32-bit protected mode; the kernel reads the memory map GRUB made from
    the firmware's (under UEFI a fragmented one) and uses RAM above 4 GiB. The
    kernel names the firmware from the loader's EFI tags (Keel.boot checks the
    line). Under UEFI GRUB's one complaint is that it has no text mode to give a
    kernel that asks for no framebuffer."""
    b = keel.run_test("frames_above_4g", mem="8G", machine=machine, cpu=cpu, timeout=60)
    b.expect(rf'^boot: loader "GRUB 2\.\S+", command line "{re.escape(keel.cmdline_booted("test=frames_above_4g"))}", '
             r'\d+ modules$')
    b.expect(r"^slot audit: ok \(boot\)")
    b.expect(r"^# touched 256 frames from 0x1[0-9a-f]{8} ")
    if firmware == "bios":
        return
    grub = grub_lines(b.log)
    assert any(l.startswith("BdsDxe: starting Boot") and "DVD-ROM" in l for l in grub), grub
    assert "  Booting `Keel'" in grub, grub
    errors = [l for l in grub if l.startswith("error:") and l != "error: no suitable video mode found."]
    assert not errors, f"GRUB under OVMF: {errors}"


def lsmmap(log):
    """GRUB's `lsmmap` lines: [(start, end, multiboot2 type)] in the order printed."""
    out = []
    for base, length, name in re.findall(r"^base_addr = (0x[0-9a-f]+), length = (0x[0-9a-f]+), (.+?)\s*$",
                                         "\n".join(grub_lines(log)), re.M):
        assert name in GRUB_TYPES, f"lsmmap printed a memory type this test does not know: {name!r}"
        out.append((int(base, 16), int(base, 16) + int(length, 16), GRUB_TYPES[name]))
    return out


def joined(ranges):
    """Neighbouring ranges of one type joined, as GRUB's grub_mmap_iterate does
    when it builds the multiboot2 memory map (lsmmap prints the firmware's
    descriptors one by one: OVMF gives ~120 at 1 GiB, most of them free RAM
    split by the firmware's own allocations)."""
    out = []
    for start, end, t in sorted(ranges):
        if out and out[-1][1] == start and out[-1][2] == t:
            out[-1] = (out[-1][0], end, t)
        else:
            out.append((start, end, t))
    return out


def kernel_map(log):
    return [(int(a, 16), int(b, 16), int(t)) for a, b, t in
            re.findall(r"^mem: e820 (0x[0-9a-f]+|0+)-(0x[0-9a-f]+) type (\d+)$", log, re.M)]


def pages_free(usable, reserved):
    """Whole pages of the usable ranges outside every reserved range."""
    free = 0
    for start, end in usable:
        start, end = -(-start // PAGE) * PAGE, end // PAGE * PAGE
        holes = sorted((max(a, start), min(b, end)) for a, b in reserved if a < end and b > start)
        at = start
        for a, b in holes:
            free += max(a - at, 0)
            at = max(at, b)
        free += max(end - at, 0)
    return free // PAGE


# GRUB's serial terminal: under SeaBIOS its console is the screen (-vga none here).
GRUB_SERIAL = ("serial --unit=0 --speed=115200", "terminal_output serial")


@pytest.mark.parametrize("firmware_, mem", [("uefi", "128M"), ("uefi", "1G"), ("uefi", "3.5G"), ("uefi", "8G"),
                                            ("bios", "8G")])
def test_the_kernel_reads_the_firmwares_memory_map_and_finds_every_usable_byte(keel, firmware_, mem):
    """One boot runs GRUB's `lsmmap` (the firmware's map as GRUB reads it,
    printed before the kernel loads) and then the kernel, which prints the map
    it took from the multiboot2 tag. The two agree range for range and type for
    type once lsmmap's neighbours of one type are joined (GRUB joins them for
    the tag); the ranges GRUB itself then allocates for the kernel and modules
    are free RAM in both (EFI loader data; under UEFI GRUB exits boot services,
    whose memory is free RAM too). Every usable byte is found: the kernel's
    usable total is lsmmap's available RAM, and its free frames are exactly the
    whole pages of that RAM outside the ranges it says it reserved (the first
    MiB, kernel image, boot information, modules) and its frame bitmap."""
    b = keel.boot(mem=mem, firmware=firmware_, grub_pre=(GRUB_SERIAL if firmware_ == "bios" else ()) + ("lsmmap",))
    b.expect_verdict("success")
    grub = lsmmap(b.log)
    assert len(grub) >= 3, "no lsmmap output before the kernel's banner:\n" + "\n".join(grub_lines(b.log)[-20:])
    assert kernel_map(b.log) == joined(grub), (f"the kernel's map:\n{kernel_map(b.log)}\n"
                                               f"lsmmap's, joined:\n{joined(grub)}")
    available = [(s, e) for s, e, t in grub if t == 1]
    usable = b.value(r"^mem: usable (\d+) bytes")
    assert usable == sum(e - s for s, e in available), f"kernel: {usable} usable bytes; lsmmap: {available}"
    reserved = [(int(a, 16), int(b_, 16)) for a, b_ in
                re.findall(r"^mem: reserved (0x[0-9a-f]+|0+)-(0x[0-9a-f]+) ", b.log, re.M)]
    m = b.expect(r"^mem: (\d+) frames free \(\d+ MiB\); frame bitmap (\d+) KiB at (0x[0-9a-f]+)$")
    bitmap = int(m.group(3), 16)
    reserved.append((bitmap, bitmap + (int(m.group(2)) << 10)))
    assert int(m.group(1)) == pages_free([(s, e) for s, e, _ in joined([(s, e, 1) for s, e in available])], reserved)
    if firmware_ == "uefi":  # the firmware's RAM above 4 GiB, when there is some, is in both maps
        assert (max(e for s, e in available) > 1 << 32) == (mem == "8G" or mem == "3.5G"), available


# The EFI System Partition's type in a GPT (UEFI spec, "GPT Partition Entry Array").
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")


def gpt_partitions(image):
    """(type GUID, first LBA, last LBA) of every used entry of a disk image's GPT."""
    with open(image, "rb") as f:
        mbr, header = f.read(512), f.read(512)
        assert mbr[510:512] == b"\x55\xaa", "no MBR boot signature"
        assert header[:8] == b"EFI PART", "no GPT header at LBA 1"
        entries_lba, count, size = struct.unpack_from("<QII", header, 72)
        f.seek(entries_lba * 512)
        table = f.read(count * size)
    parts = []
    for i in range(count):
        e = table[i * size:(i + 1) * size]
        if e[:16] != bytes(16):
            parts.append((uuid.UUID(bytes_le=e[:16]), *struct.unpack_from("<QQ", e, 32)))
    return parts


def test_the_iso_is_a_hybrid_disk_image_with_an_efi_system_partition():
    """build/keel.iso written to a USB stick (docs/hardware.md) is a disk: the
    MBR's one partition is the GPT's protective 0xEE, and the GPT holds an EFI
    System Partition (GRUB's EFI image) that UEFI firmware boots from."""
    iso = BUILD / "keel.iso"
    mbr = iso.read_bytes()[:512]
    assert mbr[446 + 4] == 0xEE, f"MBR partition 1 type {mbr[446 + 4]:#x}, not a protective GPT entry"
    esps = [p for p in gpt_partitions(iso) if p[0] == ESP_TYPE]
    assert len(esps) == 1, gpt_partitions(iso)
    _, first, last = esps[0]
    assert (last - first + 1) * 512 >= 1 << 20, "an EFI System Partition too small to hold GRUB"


def test_keel_run_takes_the_firmware_and_the_accelerator():
    """./keel run --firmware uefi --accel tcg: OVMF and the accelerator reach QEMU's
    command line, the kernel says it was booted by UEFI, the verdict is the exit
    status; a firmware that is neither bios nor uefi is refused before any boot."""
    env = dict(os.environ, KEEL_BUILDDIR=str(BUILD))
    r = subprocess.run([str(SRC / "keel"), "run", "--firmware", "uefi", "--accel", "tcg", "--cmdline",
                        "test=heap_roundtrip", "--timeout", "90"], env=env, capture_output=True, text=True,
                       timeout=150)
    qemu = next((l for l in r.stderr.splitlines() if l.startswith("+ qemu-system-x86_64 ")), "")
    assert " -bios /usr/share/ovmf/OVMF.fd " in qemu and qemu.endswith(" -accel tcg"), r.stderr[-2000:]
    out = r.stdout.replace("\r", "")
    assert re.search(r"^boot: firmware UEFI \(EFI64 system table", out, re.M), out[-3000:]
    assert re.search(r"^ok 1 heap_roundtrip$", out, re.M) and r.returncode == 0, (r.returncode, out[-3000:])
    bad = subprocess.run([str(SRC / "keel"), "run", "--firmware", "efi"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'efi'" in bad.stderr, bad.stderr[-1000:]
