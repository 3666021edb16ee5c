#!/usr/bin/python3
"""./keel bench --profile ROW: where one benchmark row's instructions go.

Boots the bench exactly as `./keel bench --quick` does (icount, the same
command line and machine), paused under QEMU's GDB stub; gdb stops at the
row's op function in apps/bench once the warm-up is past, then single-steps
the guest through the timed window -- from the op's first Ring 3 `rdtsc` to
its next (the kernel's own clock reads are in the kernel half and do not
count), across every env and the kernel alike -- REPS times. Each step is
one guest instruction, the unit of the icount figures.

Prints, and writes to build/bench/profile-ROW.txt:
  - the instructions of each iteration (to set beside the row's median);
  - per function, the instructions executed in it (exclusive: a callee's are
    its own), averaged over the iterations, with the share of the total;
  - the first iteration's path: each run of consecutive instructions in one
    function as `function n`, in order -- where the time goes, step by step;
  - with --listing, build/bench/profile-ROW-listing.txt: the first
    iteration's every instruction, the kernel's disassembled (objdump).

Two builds side by side (`--builddir`) find a regression's function in
minutes. Caveat: QEMU's stub masks interrupts and stops the guest's timers
while it steps (its default sstep flags), and a stop moves the guest clock:
a path that depends on the clock (the lazy slice timer's decisions) may
take a branch here that it does not take in the bench. The totals say when:
compare them with the row's median.
"""

import argparse
import bisect
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "boot"))
import keelqemu  # noqa: E402

# Row -> the apps/bench function that times it (its two rdtsc bound the window).
OPS = {
    "empty_frame": "op_empty",
    "null_syscall": "op_null_syscall",
    "upcall_roundtrip": "op_self_upcall",
    "upcall_roundtrip_xsave": "op_self_upcall",
    "swvec_upcall_roundtrip": "op_swvec",
    "trap_upcall_roundtrip": "op_trap",
    "yield_roundtrip_2_switches": "yield_switching",
    "yield_roundtrip_in_place": "yield_in_place",
    "pct_roundtrip": "pct_round_trip",
    "demand_zero_fault_upcall": "demand_fault",
    "map_unmap_1_page": "map_unmap_1",
    "map_unmap_512_pages": "map_unmap_512",
    "unmap_1_page": "unmap_1",
}
# How many calls of the op to let pass first: past the warm-up (a tenth of
# the quick run's samples), so caches, tables and the lazy timer are settled.
# upcall_roundtrip_xsave shares its op with upcall_roundtrip: it is the one
# after that row (1,100 calls and 16 trace-site runs) and the swvec row's.
SKIP = {"yield_roundtrip_2_switches": 20, "yield_roundtrip_in_place": 20, "upcall_roundtrip_xsave": 1200,
        "map_unmap_512_pages": 20}
SKIP_DEFAULT = 150

class Stub:
    """The GDB remote protocol, the little of it this needs, spoken to QEMU's
    stub directly (gdb itself would unwind a frame at every step, and the
    kernel's entry paths have none to unwind)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a packet per step: no Nagle delay
        self.buf = b""
        self.ack = True  # (QEMU 7.2 has no QStartNoAckMode)

    def _packet(self):
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i + 1) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                data = self.buf[i + 1:j].decode()
                self.buf = self.buf[j + 3:]
                if self.ack:
                    self.sock.sendall(b"+")
                return data
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QEMU's GDB stub closed the connection")
            self.buf += chunk

    def cmd(self, data):
        self.sock.sendall(b"$%s#%02x" % (data.encode(), sum(data.encode()) & 0xFF))
        return self._packet()

    def rip(self):
        # `g`: rax..r15 (16 words), then rip. (QEMU answers `p` only to a gdb
        # that has read its register description.)
        return int.from_bytes(bytes.fromhex(self.cmd("g")[256:272]), "little")

    def read(self, addr, n):
        r = self.cmd(f"m{addr:x},{n:x}")
        return bytes.fromhex(r) if not r.startswith("E") else b""

    def cont(self):
        """On to the next breakpoint; from one, a step off it first (QEMU's
        stub would report the breakpoint it stands on again)."""
        self.cmd("s")
        return self.cmd("c")

    def hbreak(self, addr, on=True):
        if self.cmd(f"{'Z' if on else 'z'}1,{addr:x},1") != "OK":
            raise RuntimeError(f"QEMU refused a breakpoint at {addr:#x}")


LOADED = re.compile(r"^env (\d+) \(([^)\s]+)\): (?:spawned by env \d+, )?loaded at (0x[0-9a-fA-F]+)", re.M)
KERNEL_HALF = 1 << 63


def text_symbols(elf, offset=0, tag=""):
    """(address, name) of every text symbol of elf, moved by offset."""
    out = subprocess.run(["nm", "--defined-only", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tTwW":
            syms.append((int(f[0], 16) + offset, f[2] + tag))
    return syms


class Symbols:
    def __init__(self, entries):
        entries.sort()
        self.addrs = [a for a, _ in entries]
        self.names = [n for _, n in entries]
        self.cache = {}

    def name(self, pc):
        n = self.cache.get(pc)
        if n is None:
            i = bisect.bisect_right(self.addrs, pc) - 1
            n = self.names[i] if i >= 0 and pc - self.addrs[i] < (1 << 20) else f"?{pc & ~0xFFF:#x}"
            self.cache[pc] = n
        return n

    def addr(self, name):
        return self.addrs[self.names.index(name)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step_iterations(stub, builddir, serial, row, skip, reps, limit):
    """Run to the row's op past `skip` calls, then step `reps` timed windows;
    each a list of (pc, function)."""
    kernel = Symbols(text_symbols(Path(builddir) / "kern" / "keel.elf"))
    stub.hbreak(kernel.addr("debug_env_loaded"))
    loads = []
    while not any(name == "bench" for _, name, _ in loads):  # each env's symbols as it is loaded
        stub.cont()
        loads = [(int(e), n, int(a, 16)) for e, n, a in LOADED.findall(serial.read_text(errors="replace"))]
    stub.hbreak(kernel.addr("debug_env_loaded"), on=False)
    env, name, base = next(x for x in loads if x[1] == "bench")
    op = Symbols(text_symbols(Path(builddir) / "apps" / "bench.elf", base)).addr(OPS[row])
    stub.hbreak(op)
    iters = []
    for it in range(skip + reps):
        stub.cont()
        if it < skip:
            continue
        if it == skip:  # every env loaded by now (the boot's at once, spawned ones before they run)
            entries = list(zip(kernel.addrs, kernel.names))
            for env, name, base in LOADED.findall(serial.read_text(errors="replace")):
                entries += text_symbols(Path(builddir) / "apps" / f"{name}.elf", int(base, 16), f" [env {env}]")
            syms = Symbols(entries)
        started, path = False, []
        while len(path) < limit:
            pc = stub.rip()
            rdtsc = pc < KERNEL_HALF and stub.read(pc, 2) == b"\x0f\x31"
            if rdtsc and started:
                break
            if started:
                path.append((pc, syms.name(pc)))
            started = started or rdtsc
            stub.cmd("s")
        iters.append(dict(n=len(path), cut=len(path) >= limit, path=path))
    # The rest of the row runs free: its median, from this very boot, to set
    # the stepped windows beside (one stepped sample of a thousand moves no median).
    stub.hbreak(op, on=False)
    stub.sock.sendall(b"$c#63")
    want = re.compile(r"^BENCH (empty_frame|%s) n=\d+ min=(\d+) median=(\d+)" % re.escape(row), re.M)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in want.finditer(serial.read_text(errors="replace"))}
        if row in got:
            return iters, got
        time.sleep(0.2)
    return iters, got


def summarize(row, iters, bench, limit):
    if not iters:
        return f"profile {row}: no iteration stepped (did the op run?)\n"
    lines = [f"profile {row}: {len(iters)} iteration(s) of "
             + ", ".join(str(i["n"]) + (" (cut)" if i["cut"] else "") for i in iters)
             + " guest instructions (icount) between the op's two rdtsc"]
    if row in bench and "empty_frame" in bench:
        # A bench sample is the ticks from one rdtsc to the next (the window
        # stepped here and the closing rdtsc) less the empty frame's minimum
        # (apps/bench: collect).
        empty = bench["empty_frame"][0]
        lines.append(f"as the bench counts them (+1 rdtsc, -{empty} the empty frame): "
                     + ", ".join(str(i["n"] + 1 - empty) for i in iters)
                     + f"; the row's median in this boot: {bench[row][1]}")
    lines.append("")
    per, order = {}, []
    for i in iters:
        for _, name in i["path"]:
            if name not in per:
                per[name] = 0
                order.append(name)
            per[name] += 1
    total = sum(per.values())
    lines.append(f"{'instructions':>12} {'share':>6}  function (exclusive, mean per iteration)")
    for name in sorted(order, key=lambda k: -per[k]):
        lines.append(f"{per[name] / len(iters):12.1f} {100.0 * per[name] / total:5.1f}%  {name}")
    lines += ["", "path of iteration 1 (function instructions, in order):"]
    runs = []
    for _, name in iters[0]["path"]:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    lines += [f"  {name} {n}" for name, n in runs]
    if any(i["cut"] for i in iters):
        lines.append(f"\n(cut: an iteration reached the limit of {limit} steps before its closing rdtsc)")
    return "\n".join(lines) + "\n"


def listing(builddir, path):
    """Each instruction of one stepped iteration, a line each: the kernel's
    with objdump's disassembly, Ring 3's by function only."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(Path(builddir) / "kern" / "keel.elf")],
                         capture_output=True, text=True, check=True).stdout
    text = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+(.*)$", line)
        if m:
            text[int(m.group(1), 16)] = m.group(2).strip()
    return "".join(f"{pc:#018x} {name:<28} {text.get(pc, '') if pc >= KERNEL_HALF else ''}\n"
                   for pc, name in path)


def profile(builddir, row, reps, skip, cpu, limit, timeout, with_listing=False):
    if row not in OPS:
        raise SystemExit(f"--profile: unknown row {row!r}; known: {', '.join(OPS)}")
    m = keelqemu.Machine(cpu=cpu, icount=True)
    cmdline = "run=bench:quick,bench:yieldpeer grant=0:swvec0xa0,0:trace"  # as run_keel's --quick
    iso = keelqemu.cached_iso(builddir, cmdline)
    outdir = Path(builddir) / "bench"
    outdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="keel-profile-") as tmp:
        serial = Path(tmp) / "serial.log"
        argv = keelqemu.qemu_argv(iso, m, f"file:{serial}", ["-gdb", f"tcp:127.0.0.1:{port}", "-S"])
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:  # until the stub listens
                try:
                    stub = Stub(port)
                    break
                except OSError:
                    if time.monotonic() > deadline or qemu.poll() is not None:
                        raise RuntimeError("QEMU's GDB stub did not come up")
                    time.sleep(0.05)
            stub.sock.settimeout(timeout)
            iters, bench = step_iterations(stub, builddir, serial, row,
                                    skip if skip is not None else SKIP.get(row, SKIP_DEFAULT), reps, limit)
        finally:
            if qemu.poll() is None:
                qemu.kill()  # ours, by its handle
            qemu.wait()
    report = summarize(row, iters, bench, limit)
    (outdir / f"profile-{row}.txt").write_text(report)
    if with_listing and iters:
        (outdir / f"profile-{row}-listing.txt").write_text(listing(builddir, iters[0]["path"]))
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("row", help="a bench row: " + ", ".join(OPS))
    p.add_argument("--builddir", default=str(SRC / "build"))
    p.add_argument("--reps", type=int, default=3, help="iterations stepped (default 3)")
    p.add_argument("--skip", type=int, default=None, help="calls of the op to let pass first")
    p.add_argument("--cpu", default="max,-smap", help="QEMU CPU model (default the bench's)")
    p.add_argument("--limit", type=int, default=200000, help="steps at most per iteration")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--listing", action="store_true", help="also every instruction of iteration 1, disassembled")
    a = p.parse_args(argv)
    sys.stdout.write(profile(Path(a.builddir), a.row, a.reps, a.skip, a.cpu, a.limit, a.timeout, a.listing))
    print(f"\n(written to {Path(a.builddir) / 'bench' / ('profile-' + a.row + '.txt')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
