"""Keel's gdb commands (sourced by boot/gdbinit; docs/debugging.md).

    keel-apps [--auto] [--builddir DIR] [LOG]
    keel-icount            (replays) the guest instruction count here: $icount
    keel-seek N            (replays) go to instruction count N in one move
    keel-snapshots         (replays) the snapshots a seek can start from

Loads the symbols of every app the serial log LOG says was loaded: for each
line `env N (NAME): loaded at ADDR` (kern/main.c) or `env N (NAME): spawned by
env M, loaded at ADDR` (kern/spawn.c) it runs

    add-symbol-file DIR/apps/NAME.elf -o ADDR

Apps are static PIEs linked at 0 (readelf -l build/apps/NAME.elf: the first
PT_LOAD's VirtAddr is 0), and the kernel maps an image's vaddr V at ADDR + V
(kern/loader.c), so the offset is ADDR itself. Then breakpoints on app and
libOS symbols resolve (`break keel_event_entry`), and `bt` at a user fault shows
the Ring 3 frames above the trap frame (entry.S's CFI).

The same program loaded twice (the demo runs ptrtable twice) is added once
per address: gdb keeps one objfile per copy, `bt` and `info symbol` name the
copy an address is in, and `break NAME` gets one location in every copy --
and a libOS symbol such as keel_event_entry one in every app that links it.

Running it again adds only what is new in the log. With --auto it also stops,
silently, at the kernel's debug_env_loaded() -- called once each env's
"loaded at" line is in the log -- and loads that env's symbols there, before
its first instruction runs; so a breakpoint on an app symbol set while the app
is not loaded yet (pending) is placed in time. LOG defaults to $KEEL_SERIAL_LOG
(./keel debug sets it); DIR to $KEEL_BUILDDIR, else the directory above the
kernel's (build/kern/keel.elf -> build).
"""

import os
import re
import shlex
import struct
import sys
import time

import gdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp import QMP  # noqa: E402  boot/qmp.py

LOADED = re.compile(r"^env (\d+) \(([^)\s]+)\): (?:spawned by env \d+, )?loaded at (0x[0-9a-fA-F]+)", re.M)
ET_DYN = 3


def loaded_images(text):
    """(env id, program name, load address) for every load the log records, in order."""
    return [(int(m.group(1)), m.group(2), int(m.group(3), 16)) for m in LOADED.finditer(text)]


def elf_type(path):
    with open(path, "rb") as f:
        head = f.read(18)
    if len(head) < 18 or head[:4] != b"\x7fELF":
        raise gdb.GdbError(f"keel-apps: {path} is not an ELF file")
    return struct.unpack_from("<H", head, 16)[0]


class KeelApps(gdb.Command):
    """Load app symbols from a Keel serial log: keel-apps [--auto] [--builddir DIR] [LOG]."""

    def __init__(self):
        super().__init__("keel-apps", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)
        self.log = None
        self.builddir = None
        self.added = set()  # (name, address) already given to gdb
        self.hook = None

    def default_builddir(self):
        if os.environ.get("KEEL_BUILDDIR"):
            return os.environ["KEEL_BUILDDIR"]
        for o in gdb.objfiles():
            if o.filename and o.filename.endswith(os.path.join("kern", "keel.elf")):
                return os.path.dirname(os.path.dirname(o.filename))
        return "build"

    def invoke(self, arg, from_tty):
        words = shlex.split(arg)
        auto = False
        while words and words[0].startswith("--"):
            w = words.pop(0)
            if w == "--auto":
                auto = True
            elif w == "--builddir" and words:
                self.builddir = words.pop(0)
            else:
                raise gdb.GdbError("usage: keel-apps [--auto] [--builddir DIR] [LOG]")
        if len(words) > 1:
            raise gdb.GdbError("usage: keel-apps [--auto] [--builddir DIR] [LOG]")
        log = words[0] if words else self.log or os.environ.get("KEEL_SERIAL_LOG")
        if not log:
            raise gdb.GdbError("keel-apps: which serial log? (keel-apps LOG, or set KEEL_SERIAL_LOG)")
        self.log = os.path.abspath(os.path.expanduser(log))
        self.builddir = self.builddir or self.default_builddir()
        if auto and self.hook is None:
            self.hook = EnvLoaded(self)
        n = self.load(verbose=True)
        print(f"keel-apps: {n} image(s) added from {self.log}"
              + (" (and each new one at debug_env_loaded)" if self.hook else ""))

    def load(self, verbose):
        """Add every image of the log not added yet; how many were added."""
        try:
            with open(self.log, errors="replace") as f:
                text = f.read()
        except OSError as e:
            raise gdb.GdbError(f"keel-apps: cannot read {self.log}: {e.strerror}")
        n = 0
        for env, name, addr in loaded_images(text):
            if (name, addr) in self.added:
                continue  # added by an earlier run or stop
            path = os.path.join(self.builddir, "apps", name + ".elf")
            if not os.path.exists(path):
                print(f"keel-apps: env {env} ({name}): no {path}, skipped")
                self.added.add((name, addr))
                continue
            if elf_type(path) != ET_DYN:
                raise gdb.GdbError(f"keel-apps: {path} is not a PIE (ET_DYN): the offset would be wrong")
            gdb.execute(f"add-symbol-file {shlex.quote(path)} -o {addr:#x}", from_tty=False, to_string=True)
            self.added.add((name, addr))
            n += 1
            if verbose:
                print(f"keel-apps: env {env} ({name}) at {addr:#x}: {path}")
        return n


class EnvLoaded(gdb.Breakpoint):
    """At debug_env_loaded: read the log again, add what is new, go on (never stops)."""

    def __init__(self, cmd):
        super().__init__("debug_env_loaded", internal=True)
        self.silent = True
        self.cmd = cmd

    def stop(self):
        self.cmd.load(verbose=False)
        return False


KeelApps()


# ------------------------------------------------------------------ replays
# ./keel debug --replay (boot/replay.py) gives QEMU a QMP socket, named in
# $KEEL_QMP, and its GDB stub's address in $KEEL_GDB_TARGET. A replay knows
# where it is by instruction count (QEMU's "icount"): every instruction of the
# recording has its own. The gdb protocol knows nothing of it, so these two
# commands speak to QEMU over QMP.

def replay_qmp():
    path = os.environ.get("KEEL_QMP")
    if not path:
        raise gdb.GdbError("no replay's QMP socket in $KEEL_QMP (./keel debug --replay DIR sets it)")
    return QMP(path, timeout=10.0)


def replay_icount(q):
    r = q.execute("query-replay")
    if r.get("mode") != "play":
        raise gdb.GdbError(f"QEMU is not replaying (mode {r.get('mode')})")
    return r["icount"]


class KeelIcount(gdb.Command):
    """Replays: print the guest instruction count where the replay stands, and set $icount to it."""

    def __init__(self):
        super().__init__("keel-icount", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        q = replay_qmp()
        try:
            n = replay_icount(q)
        finally:
            q.close()
        gdb.set_convenience_variable("icount", n)
        print(f"icount {n}")


class KeelSeek(gdb.Command):
    """Replays: go to guest instruction count N in one move: keel-seek N (an expression, e.g. $icount - 100).

QEMU loads the last snapshot at or before N when N lies behind (the one taken
as recording started) and replays forward to N; going forward it just runs.
gdb is disconnected meanwhile -- QEMU's pause at N would reach it as a stray
stop -- and reconnects when QEMU stands at N; breakpoints are not hit on the way."""

    def __init__(self):
        super().__init__("keel-seek", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: keel-seek N")
        n = int(gdb.parse_and_eval(arg))
        if n < 0:
            raise gdb.GdbError(f"keel-seek: {n} is not an instruction count")
        target = os.environ.get("KEEL_GDB_TARGET", "localhost:1234")
        q = replay_qmp()
        try:
            replay_icount(q)  # refuse before disconnecting
            gdb.execute("disconnect", to_string=True)
            q.execute("replay-seek", icount=n)
            deadline = time.monotonic() + float(os.environ.get("KEEL_SEEK_TIMEOUT", "600"))
            while True:
                status = q.execute("query-status")["status"]
                here = replay_icount(q)
                if here == n and status != "running":
                    break
                if status != "running" and status != "restore-vm":
                    raise gdb.GdbError(f"keel-seek: the replay stopped at {here} ({status}), not at {n}: "
                                       "past the recording's end?")
                if time.monotonic() > deadline:
                    raise gdb.GdbError(f"keel-seek: not at {n} after the time allowed ($KEEL_SEEK_TIMEOUT): "
                                       f"at {here} ({status})")
                time.sleep(0.01)  # from a snapshot nearby a seek takes ~0.1 s
        finally:
            q.close()
            if gdb.selected_inferior().connection is None:
                gdb.execute(f"target remote {target}", to_string=True)
        gdb.set_convenience_variable("icount", n)
        if from_tty:
            gdb.execute("frame")


class KeelSnapshots(gdb.Command):
    """Replays: the snapshots QEMU has for this replay, each with its instruction count.

A seek (keel-seek, reverse-stepi, reverse-continue) loads the last one at or before
its target: "boot" is the recording's start; boot/replay.py record --snapshot-at SYMBOL
takes one at a kernel function's first call, `monitor savevm NAME` one where the
replay stands (a recording made with kvmvapic off: boot/replay.py's NO_VAPIC)."""

    def __init__(self):
        super().__init__("keel-snapshots", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        q = replay_qmp()
        try:
            replay_icount(q)
            table = q.hmp("info snapshots")
        finally:
            q.close()
        # ID TAG VM-SIZE(2) DATE(2) VM-CLOCK ICOUNT
        rows = [line.split() for line in table.splitlines()]
        rows = [r for r in rows if len(r) >= 8 and r[-1].isdigit()]
        if not rows:
            print("no snapshots")
        for r in sorted(rows, key=lambda r: int(r[-1])):
            print(f"{r[1]} at icount {r[-1]}")


KeelIcount()
KeelSeek()
KeelSnapshots()
