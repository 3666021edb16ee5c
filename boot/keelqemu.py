#!/usr/bin/python3
"""Boot Keel in QEMU: the one place that knows how to make an ISO and run it.

Used by `./keel run`/`./keel debug`, by Meson (to make build/keel.iso and the
symbol module) and by the pytest harness (tests/conftest.py).

    keelqemu.py syms KERNEL.elf OUT.sym
    keelqemu.py mkiso --builddir BUILD --cmdline "..." -o OUT.iso
    keelqemu.py run --builddir BUILD [--cpu max] [--mem 512M] [--machine q35]
                    [--icount] [--firmware bios|uefi] [--accel kvm]
                    [--cmdline "..."] [--timeout S] [--gdb]
                    [--serial-log PATH] [--record DIR]

Exit codes: the kernel ends a boot by writing a KEEL_EXIT_* value
(kern/uapi/keel/exit.h) to isa-debug-exit; QEMU then exits with
(value << 1) | 1. `run` maps that back: 0 for success, 1 otherwise.
"""

import argparse
import dataclasses
import hashlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent

# What `./keel run` boots by default, and build/keel.iso holds: several envs
# preempting each other, one program twice at different addresses.
DEMO_CMDLINE = ("run=hello:from:the:demo,spin:A:6,spin:B:6,ptrtable,ptrtable,ipc:server,ipc:client:1000,"
                "threads,sched:showcase timeslice_us=2000")
EXIT_H = SRC / "kern" / "uapi" / "keel" / "exit.h"


def _exit_codes():
    codes = {}
    for m in re.finditer(r"#define\s+KEEL_EXIT_(\w+)\s+(0x[0-9a-fA-F]+|\d+)", EXIT_H.read_text()):
        codes[m.group(1)] = int(m.group(2), 0)
    return codes


KEEL_EXIT = _exit_codes()
# QEMU's process status for each verdict the kernel can write.
QEMU_STATUS = {name: (v << 1) | 1 for name, v in KEEL_EXIT.items() if name != "PORT"}
VERDICT_BY_STATUS = {s: name.lower() for name, s in QEMU_STATUS.items()}


# --------------------------------------------------------------------- syms
def make_syms(elf, out):
    """Text symbols of the kernel, sorted by address, as `nm -n` prints them."""
    res = subprocess.run(["nm", "-n", "--defined-only", str(elf)], check=True,
                         capture_output=True, text=True)
    lines = [l for l in res.stdout.splitlines() if re.match(r"^[0-9a-f]+ [Tt] ", l)]
    Path(out).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------- ISO
@dataclasses.dataclass
class Module:
    path: Path
    name: str  # what the kernel sees as the module's command line


def font_path(builddir):
    """The screen console's PSF font (boot/font.py made it from the console_font option)."""
    return Path(builddir) / "boot" / "font.psf"


def iso_inputs(builddir, extra_modules=()):
    """The files that go on an ISO: stripped kernel, symbols, the console font,
    every app, and any extra modules a test supplies as (path, name)."""
    b = Path(builddir)
    kernel = b / "kern" / "keel-stripped.elf"
    syms = b / "kern" / "keel.sym"
    apps = sorted((b / "apps").glob("*.elf")) if (b / "apps").exists() else []
    modules = [Module(p, p.stem) for p in apps]
    modules += [Module(Path(p), name) for p, name in extra_modules]
    return kernel, syms, font_path(b), modules


def grub_quote(word):
    """Quote one command-line word for grub.cfg (single quotes: no expansion)."""
    return "'" + word.replace("'", "'\\''") + "'"


def render_grub_cfg(cmdline, modules, grub_pre=()):
    """grub_pre: GRUB commands run in the menu entry before the kernel is
    loaded (e.g. "lsmmap", so one boot prints GRUB's memory map and then the
    kernel's). Each must be a module in GRUB_MODULES."""
    template = (SRC / "boot" / "grub.cfg.in").read_text()
    words = " ".join(grub_quote(w) for w in cmdline.split())
    mods = "\n".join(f"\tmodule2 /apps/{m.name}.elf {grub_quote(m.name)}" for m in modules)
    pre = "\n".join(f"\t{c}" for c in grub_pre)
    return template.replace("@PRE@", pre).replace("@CMDLINE@", words).replace("@MODULES@", mods)


# What grub-mkrescue copies to the ISO for each GRUB platform installed here:
# i386-pc (BIOS), and x86_64-efi where grub-efi-amd64-bin is present (it is in
# the keel script's package list, so every machine builds both). all_video is
# every video driver of the platform, for the framebuffer the kernel asks for
# (grub.cfg.in). The list may name only modules that every platform has: x86_64-efi has no biosdisk, which
# the BIOS El Torito image needs to read the CD -- but grub-mkrescue builds that
# one into the image itself (with iso9660), whatever the list says. The image's
# built-in start-up script loads every partition map GRUB knows (its
# partmap.lst): without them each boot prints "file not found" once per map,
# which OVMF shows on the serial console. all_video is every video driver of
# the platform, for the framebuffer the kernel asks for (grub.cfg.in). lsmmap and
# serial are there for the tests, which compare the memory map GRUB reads from the
# firmware with the kernel's (under SeaBIOS GRUB's console is the screen until
# `serial` and `terminal_output serial` move it to COM1; under OVMF it is already there).
GRUB_MODULES = ("multiboot2", "normal", "iso9660", "configfile", "all_video", "lsmmap", "serial",
                "part_acorn", "part_amiga", "part_apple", "part_bsd", "part_dfly", "part_dvh",
                "part_gpt", "part_msdos", "part_plan", "part_sun", "part_sunpc")


def grub_platforms():
    """The GRUB platforms grub-mkrescue finds here and puts on every ISO."""
    lib = Path("/usr/lib/grub")
    return sorted(d.name for d in lib.iterdir() if (d / "moddep.lst").exists()) if lib.is_dir() else []


def make_iso(builddir, cmdline, out, extra_modules=(), grub_pre=()):
    kernel, syms, font, modules = iso_inputs(builddir, extra_modules)
    for f in [kernel, syms, font] + [m.path for m in modules]:
        if not f.exists():
            raise FileNotFoundError(f"{f} is missing: build first (ninja -C {builddir})")
    with tempfile.TemporaryDirectory(prefix="keel-iso-") as tmp:
        root = Path(tmp)
        (root / "boot" / "grub").mkdir(parents=True)
        (root / "apps").mkdir()
        shutil.copy(kernel, root / "boot" / "keel.elf")
        shutil.copy(syms, root / "boot" / "keel.sym")
        shutil.copy(font, root / "boot" / "font.psf")
        for m in modules:
            shutil.copy(m.path, root / "apps" / f"{m.name}.elf")
        (root / "boot" / "grub" / "grub.cfg").write_text(render_grub_cfg(cmdline, modules, grub_pre))
        tmp_out = Path(f"{out}.{os.getpid()}.{threading.get_ident()}.tmp")  # (boots may run in threads)
        res = subprocess.run(
            ["grub-mkrescue", "-o", str(tmp_out), "--install-modules=" + " ".join(GRUB_MODULES),
             "--locales=", "--fonts=", "--themes=", str(root)],
            capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"grub-mkrescue failed:\n{res.stderr}")
        os.replace(tmp_out, out)


def cached_iso(builddir, cmdline, extra_modules=(), grub_pre=()):
    """An ISO for this command line, rebuilt only when an input changed."""
    kernel, syms, font, modules = iso_inputs(builddir, extra_modules)
    h = hashlib.sha256()
    h.update(render_grub_cfg(cmdline, modules, grub_pre).encode())
    # The recipe too: an ISO made before GRUB's EFI platform was installed lacks it.
    h.update(repr((GRUB_MODULES, grub_platforms())).encode())
    for f in [kernel, syms, font] + [m.path for m in modules]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    cache = Path(builddir) / "isos"
    cache.mkdir(exist_ok=True)
    iso = cache / f"{h.hexdigest()[:20]}.iso"
    try:
        os.utime(iso)  # a hit is in use: newer than the kernel, never pruned from under its boot
    except FileNotFoundError:
        prune_isos(cache, kernel.stat().st_mtime)
        make_iso(builddir, cmdline, iso, extra_modules, grub_pre)
    return iso


def prune_isos(cache, kernel_mtime):
    """Every ISO holds the kernel: one made before the kernel was last built
    holds an older one and is not wanted again (unless the kernel goes back
    byte for byte: then it is made again). Without this a build directory
    gathered an ISO per command line per kernel build (24 GB after a few
    weeks of work). A hit is touched (cached_iso): one in use by a boot that
    has not opened it yet is newer than the kernel, and stays."""
    for old in cache.glob("*.iso"):
        try:
            if old.stat().st_mtime < kernel_mtime:
                old.unlink()
        except FileNotFoundError:
            pass  # another test's prune got there first


# --------------------------------------------------------------------- QEMU
@dataclasses.dataclass
class Machine:
    cpu: str = "max"
    mem: str = "512M"    # as QEMU's -m takes it: 512M, 8G, 1T (a bare number is MiB)
    machine: str = "q35"
    icount: bool = False
    smp: int = 1
    accel: str = ""  # "" = QEMU's default (TCG here); "kvm" where /dev/kvm exists
    firmware: str = "bios"  # bios (SeaBIOS, QEMU's default) | uefi (OVMF, Debian's ovmf)
    vga: str = "none"  # QEMU's -vga: none, or std (a framebuffer: the kernel's console draws on it)
    display: str = "none"  # QEMU's -display: where the screen is shown (gtk, sdl, vnc=:1, ...)
    serial: bool = True  # COM1; without it the console is on the screen only


FIRMWARES = ("bios", "uefi")
OVMF = "/usr/share/ovmf/OVMF.fd"  # Debian's ovmf: code and variables in one image


def mem_mib(size):
    """Guest RAM in MiB from QEMU's -m syntax: a number with an optional K, M, G or
    T suffix (any case); a bare number is MiB. Whole MiB only."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", str(size).strip(), re.I)
    if not m:
        raise ValueError(f"guest RAM size {size!r}: expected e.g. 512M, 8G or 1T")
    unit = {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    mib = float(m.group(1)) * unit
    if mib < 1 or mib != int(mib):
        raise ValueError(f"guest RAM size {size!r}: a whole number of MiB, at least 1")
    return int(mib)


@dataclasses.dataclass
class RR:
    """QEMU's record/replay of one boot (boot/replay.py makes these)."""
    mode: str        # record | replay
    iso: Path        # the CD, read through blkreplay
    log: Path        # QEMU's event log (rrfile)
    snapshot: Path   # a qcow2 image no device uses, for rrsnapshot


RR_SNAPSHOT = "boot"  # the snapshot taken as recording starts


def qemu_argv(iso, m, serial, extra=(), media=None, rr=None):
    """The QEMU command line: `media` replaces the ISO (e.g. -kernel/-initrd
    for the Linux baseline, which must run in the same configuration); `rr`
    records or replays the boot (boot/replay.py), the ISO then being rr.iso."""
    mib = mem_mib(m.mem)
    size = f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"
    argv = ["qemu-system-x86_64",
            # Guest RAM is a RAM backend with reserve=off (mmap MAP_NORESERVE): the
            # host commits nothing up front and lends a page only when the guest
            # first touches it. QEMU's implicit RAM is a mapping the host accounts
            # in full, and Linux's default overcommit heuristic refuses one larger
            # than RAM + swap: -m 64G died on a 24 GiB host without swap ("cannot
            # set up guest memory"). Keel touches only the frames it uses. The
            # guest sees the same machine either way; -m must equal the size.
            # (Under vm.overcommit_memory=2 Linux ignores MAP_NORESERVE.)
            "-object", f"memory-backend-ram,id=ram0,size={size},reserve=off",
            "-machine", f"{m.machine},memory-backend=ram0", "-m", size,
            "-cpu", m.cpu, "-smp", str(m.smp),
            "-display", m.display, "-vga", m.vga, "-no-reboot",
            "-serial", serial if m.serial else "none",
            "-device", f"isa-debug-exit,iobase={KEEL_EXIT['PORT']:#x},iosize=0x04"]
    if m.firmware == "uefi":
        argv += ["-bios", OVMF]  # read-only, variables kept in RAM: every boot starts alike
    elif m.firmware != "bios":
        raise ValueError(f"firmware {m.firmware!r}: bios or uefi")
    if rr is not None:
        # The CD through blkreplay, so its reads are in the event log; readonly,
        # as a replay must find the same bytes. No sleep=off: QEMU 7.2 hangs
        # recording with it. The snapshot image is a drive no device uses.
        if not m.icount or m.smp != 1 or media is not None:
            raise ValueError("record/replay: one CPU, icount, Keel's ISO (boot/replay.py why_not)")
        argv += ["-drive", f"file={rr.iso},if=none,id=cd-raw,format=raw,readonly=on",
                 "-drive", "driver=blkreplay,if=none,image=cd-raw,id=cd,readonly=on",
                 "-device", "ide-cd,drive=cd,bootindex=0",
                 "-drive", f"file={rr.snapshot},if=none,id=rr-snapshots,format=qcow2",
                 "-icount", f"shift=0,align=off,rr={rr.mode},rrfile={rr.log},rrsnapshot={RR_SNAPSHOT}",
                 "-rtc", "clock=vm,base=2000-01-01"]
    else:
        argv += list(media) if media is not None else ["-cdrom", str(iso), "-boot", "d"]
    if m.icount and rr is None:
        argv += ["-icount", "shift=0,align=off,sleep=off", "-rtc", "clock=vm,base=2000-01-01"]
    if m.accel:
        argv += ["-accel", m.accel]
    return argv + list(extra)


@dataclasses.dataclass
class BootResult:
    status: int          # QEMU's exit status (None: killed at the timeout)
    verdict: str         # success | failure | panic | timeout | died
    log: str             # everything the kernel wrote to COM1
    elapsed: float
    argv: list
    maxrss_kib: int = None  # QEMU's peak resident memory on the host (None: not measured)

    @property
    def ktap(self):
        """(ok, number, name, directive) for each KTAP result line."""
        out = []
        for m in re.finditer(r"^(ok|not ok) (\d+) (\S+)(?: # (.*))?$", self.log, re.M):
            out.append((m.group(1) == "ok", int(m.group(2)), m.group(3), m.group(4)))
        return out


# QEMUs this process started and has not yet reaped: killed (by pid, nothing
# else) if the harness itself is told to stop.
_live = set()


def _stop(signum, frame):
    for pid in list(_live):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    raise SystemExit(128 + signum)


def _install_stop_handlers():
    import threading
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _stop)


def _start(argv, **kw):
    _install_stop_handlers()
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    _live.add(proc.pid)
    return proc


def _reap(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _live.discard(proc.pid)


def verdict_of(status):
    if status is None:
        return "timeout"
    return VERDICT_BY_STATUS.get(status, "died")


def boot(builddir, cmdline="", machine=None, timeout=60.0, extra=(), log_path=None, modules=(), media=None,
         rss_limit_mib=None, record=None, grub_pre=()):
    """Boot once, serial to a file (never a pipe: under icount a late reader
    would shift the guest's instruction counts), and kill our QEMU -- and only
    ours -- if it outlives the timeout. `media` boots something else than
    Keel's ISO in the same configuration (the Linux baseline). `rss_limit_mib`
    kills QEMU (verdict "died") once it holds that much host memory: for a
    guest larger than the host, whose RAM the host lends only as it is touched.
    `record`: a directory to record the boot into (boot/replay.py), which
    keeps a copy of the serial log. `grub_pre`: GRUB commands before the
    kernel is loaded (render_grub_cfg)."""
    m = machine or Machine()
    iso = cached_iso(builddir, cmdline, modules, grub_pre) if media is None else None
    rec = rr = None
    if record is not None:
        import replay  # boot/replay.py, beside this file
        extra = list(extra) + replay.NO_VAPIC  # (snapshots after the start then load: replay.py)
        rec = replay.create(builddir, record, iso, m, cmdline, extra)
        rr = rec.rr("record")
    own_log = log_path is None
    if own_log:
        fd, log_path = tempfile.mkstemp(prefix="keel-serial-", suffix=".log")
        os.close(fd)
    argv = qemu_argv(iso, m, f"file:{log_path}", extra, media, rr=rr)
    r = run_argv(argv, log_path, timeout, rss_limit_mib)
    if rec is not None:
        shutil.copy(log_path, rec.serial_log)
    if own_log:
        os.unlink(log_path)
    return r


def run_argv(argv, log_path, timeout=60.0, rss_limit_mib=None):
    """Run one QEMU command line whose serial console goes to the file log_path; see boot()."""
    start = time.monotonic()
    with tempfile.TemporaryFile(prefix="keel-qemu-stderr-") as errf:
        proc = _start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        try:
            status, maxrss, note = _wait(proc, timeout, rss_limit_mib)
        finally:
            _reap(proc)
        errf.seek(0)
        err = errf.read().decode(errors="replace")
    elapsed = time.monotonic() - start
    log = Path(log_path).read_text(errors="replace") if Path(log_path).exists() else ""  # -serial none
    if err.strip():
        log += "\n[qemu stderr] " + err
    if note:
        log += "\n[keel] " + note
    return BootResult(status, verdict_of(status), log, elapsed, argv, maxrss)


def _rss_kib(pid):
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE") // 1024


def _wait(proc, timeout, rss_limit_mib=None):
    """Wait for QEMU to exit; kill it (its process group) if it outlives the
    timeout or, with a limit, holds more than rss_limit_mib of host memory.
    Returns (exit status, or None at the timeout; peak RSS in KiB; a note or None).
    os.wait4 reaps it, so the peak RSS is this QEMU's alone."""
    deadline = time.monotonic() + timeout
    timed_out, note = False, None
    pidfd = os.pidfd_open(proc.pid)
    try:
        while True:
            left = max(deadline - time.monotonic(), 0)
            # With a limit, look at QEMU's resident memory 20 times a second (a
            # guard for the host, not a measurement: wait4 gives the true peak).
            if select.select([pidfd], [], [], left if rss_limit_mib is None else min(left, 0.05))[0]:
                break
            if time.monotonic() >= deadline:
                timed_out = True
            elif rss_limit_mib is not None and _rss_kib(proc.pid) > rss_limit_mib * 1024:
                note = f"QEMU killed: it held more than {rss_limit_mib} MiB of host memory"
            else:
                continue
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended just now
                pass
            break
    finally:
        os.close(pidfd)
    _, wstatus, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(wstatus)  # reaped: Popen must not wait again
    return (None if timed_out else proc.returncode), usage.ru_maxrss, note


# ---------------------------------------------------------------------- CLI
def cmd_run(a):
    if a.smp is None:  # the demo runs on 2 CPUs; QEMU 7.2 records one only
        a.smp = 1 if a.record else 2
    m = Machine(cpu=a.cpu, mem=a.mem, machine=a.machine, icount=a.icount or bool(a.record), smp=a.smp,
                accel=a.accel, firmware=a.firmware, vga="std" if a.screen or a.display != "none" else "none",
                display=a.display)
    default_iso = Path(a.builddir) / "keel.iso"  # Meson's, made with the demo command line
    iso = default_iso if a.cmdline == DEMO_CMDLINE and default_iso.exists() else cached_iso(a.builddir, a.cmdline)
    extra = ["-s", "-S"] if a.gdb else []
    serial = "stdio"
    if a.serial_log:
        # The console on this terminal and, as it is written, in a file (gdb's keel-apps reads it).
        serial = "chardev:com1"
        extra += ["-chardev", f"stdio,id=com1,logfile={a.serial_log},logappend=off"]
    rr = None
    if a.record:
        import replay  # boot/replay.py, beside this file
        reason = replay.why_not(m)
        if reason:
            print(f"keel: cannot record: {reason}", file=sys.stderr)
            return 2
        extra += replay.NO_VAPIC  # (snapshots after the start then load: replay.py)
        rec = replay.create(a.builddir, a.record, iso, m, a.cmdline, replay.NO_VAPIC)
        rr = rec.rr("record")
        if not a.serial_log:  # the console on this terminal and in the recording
            serial = "chardev:com1"
            extra += ["-chardev", f"stdio,id=com1,logfile={rec.serial_log},logappend=off"]
    argv = qemu_argv(iso, m, serial, extra, rr=rr)
    print("+ " + " ".join(argv), file=sys.stderr)
    if a.gdb:
        # QEMU waits for gdb; the caller starts gdb and QEMU runs in the background.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        Path(a.builddir, "qemu-gdb.pid").write_text(str(proc.pid))
        return 0
    status = run_foreground(argv, a.timeout)
    if a.record:
        print(f"keel: recorded in {a.record}; replay it with ./keel debug --replay {a.record}", file=sys.stderr)
    return status


def run_foreground(argv, timeout):
    """Run QEMU with the console on this terminal; 0 if the kernel reported success, else 1 (130: ^C)."""
    proc = _start(argv, stdin=subprocess.DEVNULL)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"\nkeel: no verdict after {timeout:.0f} s: QEMU killed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        _reap(proc)
    verdict = verdict_of(status)
    print(f"\nkeel: QEMU exited with status {status}: {verdict}", file=sys.stderr)
    return 0 if verdict == "success" else 1


def _mem_arg(size):
    try:
        mem_mib(size)  # refuse what QEMU's -m and the RAM backend would read differently
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return size


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("syms")
    s.add_argument("elf")
    s.add_argument("out")
    s = sub.add_parser("mkiso")
    s.add_argument("--builddir", required=True)
    s.add_argument("--cmdline", default=DEMO_CMDLINE)
    s.add_argument("-o", dest="out", required=True)
    s = sub.add_parser("run")
    s.add_argument("--builddir", required=True)
    s.add_argument("--cpu", default="max")
    s.add_argument("--mem", default="512M", type=_mem_arg)
    s.add_argument("--machine", default="q35")
    s.add_argument("--icount", action="store_true")
    s.add_argument("--smp", type=int, default=None, help="CPUs (default 2; 1 with --record)")
    s.add_argument("--screen", action="store_true", help="a display device: the console is drawn on it too")
    s.add_argument("--display", default="none", help="QEMU's -display for the screen (gtk, sdl, vnc=:1); implies --screen")
    s.add_argument("--firmware", default="bios", choices=FIRMWARES)
    s.add_argument("--accel", default="", help="kvm where /dev/kvm exists (default QEMU's: TCG)")
    s.add_argument("--cmdline", default=DEMO_CMDLINE)
    s.add_argument("--timeout", type=float, default=600.0)
    s.add_argument("--gdb", action="store_true")
    s.add_argument("--record", metavar="DIR", help="record the boot into DIR (boot/replay.py); implies --icount")
    s.add_argument("--serial-log", metavar="PATH", help="also write the serial console to PATH")
    a = p.parse_args()
    if a.cmd == "syms":
        make_syms(a.elf, a.out)
        return 0
    if a.cmd == "mkiso":
        make_iso(a.builddir, a.cmdline, a.out)
        return 0
    return cmd_run(a)


if __name__ == "__main__":
    sys.exit(main())
