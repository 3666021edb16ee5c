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
    machine.json     the machine, the command line, the extra QEMU options and
                     the snapshots taken after the start (name: icount)

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
  * A replay's cost is its events, not its instructions: the log has an event
    each time the vCPU leaves its loop (an interrupt, a `pause`, ...), and in a
    replay each is a hand-over between QEMU's vCPU and main-loop threads, 14-23
    us apiece here (2 cores), against under 2 us while recording. The kernel's
    10 ms PIT calibration (lapic_calibrate: `inb` and `pause` in a loop) is 2.2 M
    of the 2.5 M events of a run=race boot: 35-55 s of replay, where the
    firmware, GRUB, the rest of the boot and the app (the other 178 M
    instructions) replay in ~5 s. A reverse step or a seek back replays from the
    last snapshot before its target: from the start, the calibration again.
  * Snapshots after the start: QEMU's kvmvapic (the TPR-patching option ROM of
    every APIC, for old Windows guests) has a post-load hook that runs work on
    the vCPU (run_on_cpu) and waits for it, from the main loop, which holds the
    replay lock the vCPU thread waits for: once the firmware has turned kvmvapic
    on, loading any snapshot while the replay is under way deadlocks -- one taken
    while recording or one taken while replaying (`savevm`) alike. The start
    snapshot predates the firmware and loads. record() below turns kvmvapic off
    (NO_VAPIC, recorded in machine.json with the rest of the machine); Keel has
    no use for it. Then `savevm` works while recording and while replaying,
    and a seek loads the snapshot nearest its target.
  * record(snapshot_at=SYMBOL) stops the recording once, at the first call of a
    kernel function, through QEMU's GDB stub, and takes a snapshot there: at
    debug_env_loaded, an app is loaded and has not run its first instruction,
    and a replay goes there in one move (keel-seek to its instruction count:
    0.1 s) instead of replaying the boot up to it (35-55 s).
  * reverse-continue to a kernel breakpoint works. From the start snapshot, to
    a Ring 3 breakpoint or a watchpoint it did not come back within minutes
    (apps/race's recording; each of its passes replays the boot, calibration
    included); from a snapshot at debug_env_loaded it came back to both in
    0.2 s. The worked example goes back with keel-seek to an instruction count
    noted going forward, which names its target exactly.
  * The monitor's replay_seek runs the machine to the target and then pauses
    it, which gdb (waiting for nothing) sees as a stray stop: seek with gdb
    disconnected, over QMP, then reconnect -- boot/gdb_keel.py's keel-seek.

    replay.py record DIR [--builddir DIR] [--cmdline LINE] [--snapshot-at SYMBOL]
    replay.py replay DIR [--serial-log PATH] [--gdb PORT --qmp SOCKET]
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import keelqemu
from qmp import QMP  # beside this file

# kvmvapic off: snapshots after the start then load (above). Part of the recorded
# machine: a replay gets it from machine.json's extra options.
NO_VAPIC = ["-global", "apic.vapic=off"]

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

    def snapshots(self):
        """The snapshots taken after the start, {name: instruction count} (record(snapshot_at=))."""
        return dict(self.meta().get("snapshots", {}))

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gdb on the recording QEMU's stub: to the first call of SYMBOL, a snapshot there
# named after it, then gdb lets go (detach: the recording goes on). A snapshot can
# be refused while an event is queued ("Try once more later"): a step, and again.
SNAPSHOT_GDB = """set pagination off
set confirm off
target remote 127.0.0.1:PORT
break SYMBOL
continue
python
import sys
sys.path.insert(0, BOOT)
from qmp import QMP
q = QMP(QMP_PATH, timeout=30.0)
for _ in range(20):
    err = q.hmp("savevm SYMBOL").strip()
    if not err:
        print("keel-snapshot SYMBOL", q.execute("query-replay")["icount"])
        break
    print("keel-snapshot refused:", err)
    gdb.execute("stepi")
q.close()
end
delete
detach
"""


def _snapshot_at(rec, symbol, port, qmp_path, timeout):
    """Run SNAPSHOT_GDB on the recording QEMU (waiting at its first instruction, -S).
    The snapshot's instruction count, or None (and the reason)."""
    QMP(str(qmp_path), timeout=30.0).close()  # QEMU is up, and its GDB stub with it
    boot = os.path.dirname(os.path.abspath(__file__))
    script = (SNAPSHOT_GDB.replace("PORT", str(port)).replace("SYMBOL", symbol)
              .replace("QMP_PATH", repr(str(qmp_path))).replace("BOOT", repr(boot)))
    with tempfile.NamedTemporaryFile("w", suffix=".gdb") as f:
        f.write(script)
        f.flush()
        try:
            g = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", f.name, str(rec.kernel)], capture_output=True,
                               text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            out = g.stdout + g.stderr
        except subprocess.TimeoutExpired:
            out = f"gdb timed out after {timeout:.0f} s"
    m = re.search(rf"^keel-snapshot {re.escape(symbol)} (\d+)$", out, re.M)
    if m:
        return int(m.group(1)), None
    try:  # gdb gave up: QEMU must not wait for it
        q = QMP(str(qmp_path), timeout=5.0)
        if q.execute("query-status")["status"] != "running":
            q.execute("cont")
        q.close()
    except (OSError, RuntimeError, ConnectionError):
        pass  # QEMU has ended
    return None, f"no snapshot at {symbol}: " + "\n".join(out.strip().splitlines()[-5:])


def record(builddir, dirpath, cmdline, machine=None, timeout=120.0, snapshot_at=None, extra=()):
    """Record one boot of Keel's ISO with `cmdline` into `dirpath` (as keelqemu.boot(record=)
    does), with kvmvapic off, so that snapshots after the start load. With `snapshot_at`, a
    kernel function, the recording stops once at its first call (QEMU's GDB stub) and takes a
    snapshot there named after it; rec.snapshots() has its instruction count. Returns
    keelqemu's BootResult; a snapshot that could not be taken is a note in its log."""
    m = machine or keelqemu.Machine(icount=True)
    extra = list(extra) + NO_VAPIC
    iso = keelqemu.cached_iso(builddir, cmdline)
    rec = create(builddir, dirpath, iso, m, cmdline, extra)
    scratch = Path(tempfile.mkdtemp(prefix="keel-record-", dir="/tmp"))  # short: sun_path
    try:
        log, qmp_path, stub, port = scratch / "serial.log", scratch / "qmp.sock", [], None
        if snapshot_at:
            port = free_port()
            stub = ["-gdb", f"tcp:127.0.0.1:{port}", "-S", "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        argv = keelqemu.qemu_argv(iso, m, f"file:{log}", extra + stub, rr=rec.rr("record"))
        done = {}

        def run():
            try:
                done["r"] = keelqemu.run_argv(argv, log, timeout)
            except BaseException as e:  # noqa: B036  handed to the caller's thread
                done["e"] = e

        t = threading.Thread(target=run)
        t.start()
        icount = note = None
        try:
            if snapshot_at:
                icount, note = _snapshot_at(rec, snapshot_at, port, qmp_path, timeout)
        finally:
            t.join()
        if "e" in done:
            raise done["e"]
        r = done["r"]
        if log.exists():
            shutil.copy(log, rec.serial_log)
        if icount is not None:
            meta = rec.meta()
            meta["snapshots"] = {snapshot_at: icount}
            rec.path("machine.json").write_text(json.dumps(meta, indent=1) + "\n")
        if note:
            r.log += "\n[keel] " + note
        return r
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
    s = sub.add_parser("record", help="record a boot (one CPU, icount, kvmvapic off); with --snapshot-at, "
                       "a snapshot at a kernel function's first call")
    s.add_argument("dir")
    s.add_argument("--builddir", default=os.environ.get("KEEL_BUILDDIR", str(Path(__file__).resolve().parent.parent
                                                                                / "build")))
    s.add_argument("--cmdline", default=keelqemu.DEMO_CMDLINE)
    s.add_argument("--snapshot-at", metavar="SYMBOL", help="e.g. debug_env_loaded: each app loaded, none run yet")
    s.add_argument("--timeout", type=float, default=600.0)
    s = sub.add_parser("replay", help="replay a recording; with --gdb, paused for gdb (./keel debug --replay)")
    s.add_argument("dir")
    s.add_argument("--serial-log", help="the serial console to this file as well as the terminal")
    s.add_argument("--gdb", metavar="PORT", type=int, help="QEMU's GDB stub on this port, paused at the start")
    s.add_argument("--qmp", metavar="SOCKET", help="a QMP socket (keel-seek uses it)")
    s.add_argument("--pidfile", help="with --gdb: QEMU runs in the background; its pid goes here")
    s.add_argument("--timeout", type=float, default=600.0)
    a = p.parse_args()
    if a.cmd == "record":
        r = record(a.builddir, a.dir, a.cmdline, timeout=a.timeout, snapshot_at=a.snapshot_at)
        print(r.log, end="" if r.log.endswith("\n") else "\n")
        print(f"keel: QEMU exited with status {r.status}: {r.verdict}", file=sys.stderr)
        for name, n in open_recording(a.dir).snapshots().items():
            print(f"keel: snapshot {name} at icount {n}", file=sys.stderr)
        print(f"keel: recorded in {a.dir}; replay it with ./keel debug --replay {a.dir}", file=sys.stderr)
        return 0 if r.verdict == "success" else 1
    rec = open_recording(a.dir)
    for name, n in rec.snapshots().items():
        print(f"keel: snapshot {name} at icount {n}: keel-seek {n} goes there in one move", file=sys.stderr)
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
