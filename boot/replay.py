#!/usr/bin/python3
"""Record a Keel boot once and replay it exactly: forwards, backwards, under gdb.

QEMU's record/replay (docs/debugging.md, "Record and replay") logs every
non-deterministic input of a boot -- interrupts' timing, device and clock
reads, the CD's sectors -- so a replay executes the same instructions in the
same order, down to the instruction count. A recording is a directory:

    replay.bin       QEMU's event log
    snapshot.qcow2   the VM snapshot taken as recording starts (rrsnapshot);
                     reverse-stepi, reverse-continue and seeks replay from it
    keel.iso         the ISO that was booted
    kern/keel.elf    the kernel as built then, with its symbols,
    apps/NAME.elf    and every app: gdb reads these, not today's build
    serial.log       what the kernel printed while it was recorded
    machine.json     the machine, the command line and the extra QEMU options

What works with QEMU 7.2 (Debian 12), found by trying:
  * rr= needs icount. Recording with `sleep=off` hangs, so a recording runs with
    `-icount shift=0,align=off`: the guest still counts instructions (rdtsc),
    but an idle `hlt` waits for its timer in host time instead of jumping to it.
  * The CD goes through a blkreplay driver over a read-only raw drive; the
    snapshots need a qcow2 drive no device uses (qemu-img makes it).
  * A replay writes to the snapshot image (loading a snapshot, gdb's own), and
    an image left by a killed replay can make the next replay hang at its first
    instruction: every replay therefore works on a copy, and the recording
    stays as it was made.
  * One CPU only: QEMU refuses rr= with -smp above 1.
  * A replay runs about 4x slower than the recording (its vCPU and I/O threads
    hand every checkpoint back and forth), and a reverse step replays from the
    snapshot: ~25 s per reverse-stepi for a boot of 150 M instructions here.
  * Snapshots taken during a recording (`savevm` over QMP: 0.05-0.4 s each,
    each keeping its instruction count) would shorten every backwards move,
    but a replay's seek that loads one hung: only the start snapshot is made.
  * reverse-continue to a kernel breakpoint works; to a Ring 3 breakpoint or
    a watchpoint it did not come back within minutes (apps/race's recording):
    go back with keel-seek to an instruction count noted going forward.
  * The monitor's replay_seek runs the machine to the target and then pauses
    it, which gdb (waiting for nothing) sees as a stray stop: seek with gdb
    disconnected, over QMP, then reconnect -- boot/gdb_keel.py's keel-seek.

    replay.py replay DIR [--serial-log PATH] [--gdb PORT --qmp SOCKET]
"""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import keelqemu

# The CPU limit of QEMU 7.2's record/replay.
REFUSED_SMP = "QEMU 7.2 refuses record/replay with more than one CPU (-smp above 1)"


def why_not(machine, media=None):
    """Why this boot cannot be recorded, or None."""
    if not machine.icount:
        return "record/replay needs icount (--icount)"
    if machine.smp != 1:
        return REFUSED_SMP
    if machine.accel:
        return f"record/replay needs TCG, not -accel {machine.accel}"
    if media is not None:
        return "only Keel's ISO is recorded"
    return None


@dataclasses.dataclass
class Recording:
    dir: Path

    def path(self, name):
        return self.dir / name

    @property
    def serial_log(self):
        return self.dir / "serial.log"

    @property
    def kernel(self):
        return self.dir / "kern" / "keel.elf"

    def meta(self):
        return json.loads(self.path("machine.json").read_text())

    def machine(self):
        return keelqemu.Machine(**self.meta()["machine"])

    def rr(self, mode, snapshot=None):
        """The part of QEMU's command line that records or replays: the CD through
        blkreplay, the snapshot image (the recording's own unless a copy is named),
        and icount with rr=."""
        return keelqemu.RR(mode=mode, iso=self.path("keel.iso"), log=self.path("replay.bin"),
                           snapshot=snapshot or self.path("snapshot.qcow2"))


def create(builddir, dirpath, iso, machine, cmdline, extra=()):
    """A fresh recording directory for one boot: the ISO, an empty snapshot image,
    the kernel's and apps' ELF files, and machine.json. Returns the Recording; the
    boot itself (keelqemu.boot with rr=rec.rr("record")) fills in the rest."""
    reason = why_not(machine)
    if reason:
        raise ValueError(reason)
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("replay.bin", "snapshot.qcow2", "serial.log", "keel.iso", "machine.json"):
        (d / stale).unlink(missing_ok=True)
    for sub in ("kern", "apps"):
        shutil.rmtree(d / sub, ignore_errors=True)
        (d / sub).mkdir()
    rec = Recording(d)
    try:
        os.link(iso, rec.path("keel.iso"))  # the cached ISO never changes in place
    except OSError:
        shutil.copy(iso, rec.path("keel.iso"))
    b = Path(builddir)
    shutil.copy(b / "kern" / "keel.elf", rec.kernel)
    for app in sorted((b / "apps").glob("*.elf")):
        shutil.copy(app, d / "apps" / app.name)
    res = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(rec.path("snapshot.qcow2")), "1M"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"qemu-img create failed (package qemu-utils): {res.stderr.strip()}")
    rec.path("machine.json").write_text(json.dumps({"machine": dataclasses.asdict(machine), "cmdline": cmdline,
                                                    "extra": list(extra)}, indent=1) + "\n")
    return rec


def open_recording(dirpath):
    rec = Recording(Path(dirpath))
    for need in ("replay.bin", "snapshot.qcow2", "keel.iso", "machine.json"):
        if not rec.path(need).exists():
            raise FileNotFoundError(f"{rec.path(need)} is missing: {dirpath} is not a complete recording")
    return rec


def replay_argv(rec, serial, scratch, extra=()):
    """QEMU's command line replaying `rec`, with the serial console to `serial` (QEMU's
    -serial syntax) and the snapshot image copied into the directory `scratch` first."""
    snap = Path(scratch) / "snapshot.qcow2"
    shutil.copy(rec.path("snapshot.qcow2"), snap)
    return keelqemu.qemu_argv(None, rec.machine(), serial, list(rec.meta()["extra"]) + list(extra),
                              rr=rec.rr("replay", snap))


def replay(dirpath, serial_log, timeout=600.0, extra=()):
    """Replay a recording to its end, the serial console to `serial_log`. Returns keelqemu.BootResult."""
    rec = open_recording(dirpath)
    with tempfile.TemporaryDirectory(prefix="keel-replay-") as scratch:
        argv = replay_argv(rec, f"file:{serial_log}", scratch, extra)
        return keelqemu.run_argv(argv, serial_log, timeout)


# ---------------------------------------------------------------------- CLI
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("replay", help="replay a recording; with --gdb, paused for gdb (./keel debug --replay)")
    s.add_argument("dir")
    s.add_argument("--serial-log", help="the serial console to this file as well as the terminal")
    s.add_argument("--gdb", metavar="PORT", type=int, help="QEMU's GDB stub on this port, paused at the start")
    s.add_argument("--qmp", metavar="SOCKET", help="a QMP socket (keel-seek uses it)")
    s.add_argument("--pidfile", help="with --gdb: QEMU runs in the background; its pid goes here")
    s.add_argument("--timeout", type=float, default=600.0)
    a = p.parse_args()
    rec = open_recording(a.dir)
    scratch = tempfile.mkdtemp(prefix="keel-replay-")
    extra, serial = [], "stdio"
    if a.serial_log:
        serial = "chardev:com1"
        extra += ["-chardev", f"stdio,id=com1,logfile={a.serial_log},logappend=off"]
    if a.gdb:
        extra += ["-gdb", f"tcp:127.0.0.1:{a.gdb}", "-S"]
    if a.qmp:
        extra += ["-qmp", f"unix:{a.qmp},server=on,wait=off"]
    argv = replay_argv(rec, serial, scratch, extra)
    print("+ " + " ".join(argv), file=sys.stderr)
    if a.gdb:
        # The caller runs gdb; QEMU runs in the background and the caller kills it
        # (and removes `scratch`, named in the pid file's second line).
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        Path(a.pidfile).write_text(f"{proc.pid}\n{scratch}\n")
        return 0
    try:
        return keelqemu.run_foreground(argv, a.timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
