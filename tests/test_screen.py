"""The screen console (kern/fbcon.c): the kernel's console drawn on GRUB's
framebuffer with Debian's console font, read from outside through QEMU's
screendump and compared pixel for pixel with the same text rendered on the
host from the same font (boot/screen.py), under BIOS and UEFI.

A boot with hold=1 stays up at its verdict (keel_exit prints
`keel: exit VERDICT (CODE) held`) so that the screen can be taken before QEMU is stopped."""

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, LOGDIR, SRC, keelqemu, log_name
from qmp import live_boot
import screen

HELD = r"keel: exit (\w+) \(0x[0-9a-f]+\) held \(hold=1\)"
FONT = screen.Font(keelqemu.font_path(BUILD))


def take_screen(qmp):
    with tempfile.TemporaryDirectory(prefix="keel-screen-") as tmp:
        path = Path(tmp) / "screen.ppm"
        qmp.execute("screendump", filename=str(path))
        return screen.read_ppm(path)


def screen_boot(request, cmdline, firmware=None, serial=True, cpu="max", timeout=120):
    """Boot cmdline + hold=1 with a display; once the verdict is held (seen on
    the serial port, or on the screen itself without one), take the screen.
    Returns (serial log as Latin-1, (width, height, rgb), the screen's text lines)."""
    firmware = firmware or request.config.getoption("--firmware")  # ./keel test --firmware
    m = keelqemu.Machine(firmware=firmware, vga="std", serial=serial, cpu=cpu)
    shot = None
    with live_boot(BUILD, f"{cmdline} hold=1", m, start=HELD if serial else None,
                   timeout=timeout) as (qmp, log_path, result):
        assert qmp is not None, f"QEMU ended before its monitor was reached: {result}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The held line reaches the serial port before the screen has drawn
            # it: wait until the CPU halts for good (hold=1 ends in cli; hlt).
            if re.search(r"\bHLT=1\b", qmp.hmp("info registers")):
                shot = take_screen(qmp)
                text = screen.read_text(shot[2], shot[0], shot[1], FONT)
                if serial or any(re.search(HELD, line) for line in text):
                    break
            time.sleep(0.2 if serial else 0.5)  # without a serial port, the screen says when
        # Every byte as the kernel wrote it (QEMU is halted: the log is complete).
        log = Path(log_path).read_bytes().decode("latin-1") if serial else ""
        request.node.keel_tlb = qmp.hmp("info tlb")  # the live page tables, read from outside
        qmp.execute("quit")
    w, h, rgb = shot
    LOGDIR.mkdir(parents=True, exist_ok=True)
    screen.write_png(rgb, w, h, LOGDIR / f"{log_name(request.node.nodeid)}.png")
    return log, shot, text


def framebuffer_page_flags(request, log):
    """The flags QEMU's `info tlb` shows for each page that maps the
    framebuffer (the address the kernel printed; 1024x768x4 bytes): its own
    letters, C for PCD, T for PWT, P for bit 7 (PAT, in a 4 KiB entry)."""
    pa = int(re.search(r"^console: screen 1024x768, 32 bpp, at (0x[0-9a-f]+)", log, re.M).group(1), 16)
    flags = {}
    for m in re.finditer(r"^([0-9a-f]+): ([0-9a-f]+) (\S{9})\r?$", request.node.keel_tlb, re.M):
        if pa <= int(m.group(2), 16) < pa + 1024 * 768 * 4:
            flags[int(m.group(2), 16)] = m.group(3)
    assert len(flags) == 768, f"{len(flags)} pages map the framebuffer at {pa:#x}, want 768 (4 KiB each)"
    return set(flags.values())


def expect_drawn_as_rendered(log, shot):
    """The screen is exactly the kernel's console output, from its first line,
    through the text grid (wrapping, scrolling) and rendered from the font."""
    w, h, rgb = shot
    lines = screen.grid(screen.kernel_output(log), w // FONT.width, h // FONT.height)
    want = screen.render(lines, FONT, w, h)
    if rgb != want:
        got = screen.read_text(rgb, w, h, FONT)
        diff = [f"row {i}: screen {g.rstrip()!r}\n        host   {e.rstrip()!r}"
                for i, (g, e) in enumerate(zip(got, lines)) if g != e]
        bad = sum(a != b for a, b in zip(rgb, want))
        pytest.fail(f"{bad} of {len(rgb)} colour bytes differ from the host's rendering; rows that differ:\n"
                    + "\n".join(diff[:12]))
    return lines


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_the_panic_report_is_on_the_screen_as_the_host_renders_it(request, firmware):
    """A kernel #PF under each firmware: GRUB sets a 1024x768x32 mode (VBE under
    SeaBIOS, GOP under OVMF), the kernel maps it write-combining and the whole
    console -- more lines than the screen holds, so it scrolled, and the slot
    audit's line longer than a row, so it wrapped -- ends in the panic report
    and backtrace, pixel for pixel what the host draws from the same font."""
    log, shot, text = screen_boot(request, "test=kernel_page_fault", firmware)
    assert re.search(r"^console: screen 1024x768, 32 bpp, at 0x[0-9a-f]+ \(write-combining\); "
                     r"128x48 characters of 8x16 pixels\r?$", log, re.M), log[-2000:]
    assert re.search(r"^cpu: PAT 0x7010600070106: write-back, write-combining \(PWT\)", log, re.M), log[-3000:]
    # From outside: every framebuffer page is PWT alone (PAT entry 1, write-combining), NX, writable, global.
    assert framebuffer_page_flags(request, log) <= {"XG-DA-T-W", "XG--A-T-W", "XG-D--T-W", "XG----T-W"}
    lines = expect_drawn_as_rendered(log, shot)
    assert len(screen.kernel_output(log).splitlines()) > 48, "the boot did not fill the screen: no scrolling shown"
    assert any(len(l) > 128 for l in screen.kernel_output(log).splitlines()), "no line long enough to wrap"
    shown = "\n".join(l.rstrip() for l in lines)
    assert "PANIC: #PF page fault (vector 14) in kernel mode" in shown
    assert re.search(r"#1 +[0-9a-f]{16} ktest_kernel_page_fault\+0x", shown)
    assert re.search(r"^keel: exit panic \(0x12\) held", shown, re.M)


def test_the_double_fault_diagnosis_is_on_the_screen(request):
    """#DF, handled on its IST stack, draws its diagnosis on the screen too."""
    log, shot, _ = screen_boot(request, "test=double_fault_unmapped_stack")
    shown = "\n".join(l.rstrip() for l in expect_drawn_as_rendered(log, shot))
    assert "PANIC: #DF double fault" in shown
    assert "=> kernel stack overflow" in shown


def test_without_a_pat_the_framebuffer_is_uncacheable_and_the_screen_the_same(request):
    """-cpu qemu64 without its PAT: the kernel leaves the PAT alone, maps the
    framebuffer uncacheable instead of write-combining, and draws the same."""
    log, shot, _ = screen_boot(request, "test=kernel_page_fault", cpu="qemu64,-pat")
    assert re.search(r"^cpu: no PAT: ", log, re.M), log[-3000:]
    assert re.search(r"^console: screen 1024x768, 32 bpp, at 0x[0-9a-f]+ \(uncacheable\)", log, re.M), log[-3000:]
    assert {f[5:7] for f in framebuffer_page_flags(request, log)} == {"CT"}  # PCD|PWT: uncacheable
    expect_drawn_as_rendered(log, shot)


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_without_a_serial_port_the_screen_shows_everything(request, firmware):
    """No COM1 at all (-serial none): the kernel finds no UART (scratch register),
    writes to the screen only, and the boot runs to its verdict -- envs started,
    ran and were reaped -- all read from the screen."""
    _, _, text = screen_boot(request, "run=hello:on:screen", firmware, serial=False)
    shown = "\n".join(l.rstrip() for l in text)
    assert "console: no serial port at COM1: this screen is the only console" in shown, shown
    assert re.search(r"^hello from env \d+", shown, re.M), shown
    assert re.search(r"^keel: exit success \(0x10\) held", shown, re.M), shown


def test_every_byte_a_console_can_be_sent_is_drawn_as_the_host_draws_it(request):
    """Control characters, tab, backspace, carriage return, DEL, Latin-1 and a
    line three rows long (kern/ktests/screen.c), then 96 lines that each scroll."""
    log, shot, _ = screen_boot(request, "test=screen_console")
    assert re.search(r"^ok 1 screen_console", log, re.M), log[-2000:]
    shown = "\n".join(l.rstrip() for l in expect_drawn_as_rendered(log, shot))
    assert "\nCRckspace: aX, carriage return: 123456\n" in shown, shown
    assert "\ntab     stops   at      eight|\n" in shown, shown


def test_keel_run_takes_the_screen():
    """./keel run --screen gives the machine a display device, and the console is drawn there."""
    env = dict(os.environ, KEEL_BUILDDIR=str(BUILD))
    r = subprocess.run([str(SRC / "keel"), "run", "--screen", "--cmdline", "test=screen_console", "--timeout", "60"],
                       env=env, capture_output=True, encoding="latin-1", timeout=120)
    qemu = next((l for l in r.stderr.splitlines() if l.startswith("+ qemu-system-x86_64 ")), "")
    assert " -display none -vga std " in qemu, r.stderr[-2000:]
    out = r.stdout.replace("\r", "")
    assert re.search(r"^console: screen 1024x768, 32 bpp", out, re.M), out[-3000:]
    assert re.search(r"^ok 1 screen_console$", out, re.M) and r.returncode == 0, (r.returncode, out[-3000:])


def test_without_a_display_the_console_is_serial_only(keel):
    """No display device: GRUB finds no linear framebuffer, and the kernel says so and goes on."""
    b = keel.boot("run=hello").expect_verdict("success")
    b.expect(r"^console: .*serial only$")
    b.expect_not(r"^console: screen")
