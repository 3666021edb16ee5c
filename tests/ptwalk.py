#!/usr/bin/python3
"""Walk a running guest's page tables from outside, through QEMU's monitor.

The in-kernel slot audit could share a blind spot with the code it audits;
this walker cannot. It reads guest-physical memory with the monitor's `xp`
(over QMP), starting at an address space's PML4, and walks PML4 slots
0-255 exactly as the MMU would: a present entry leads one level down, PS
makes a large page at levels 3 and 2 (at level 1 bit 7 is PAT), and a
translation is user-accessible only if U is set at every level on its way.
Every translation the walk reaches is counted as a user or a supervisor
page; a supervisor page anywhere in the user half breaks invariant 1 (a
self-map of a PML4 whose slot 511 is present makes hundreds of them).

    ptwalk.py [--builddir build] [--cmdline "..."] [--samples N]

boots the command line (the demo by default) with a QMP socket, stops the
guest now and then, walks every env alive at that moment (the kernel prints
each one's PML4 when it is made) and the address space loaded in CR3, and
prints what it found.
"""

import argparse
import re
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "boot"))
import keelqemu  # noqa: E402
from qmp import live_boot  # noqa: E402

ADDR = 0x000F_FFFF_FFFF_F000
P, U, PS = 1, 4, 0x80


class Walker:
    def __init__(self, qmp):
        self.qmp = qmp
        self.tables = {}

    def table(self, pa):
        """512 entries of the table at guest-physical pa (read once per stop)."""
        if pa not in self.tables:
            # Lines "ADDRESS: 0xVALUE 0xVALUE"; outside guest RAM fewer (or
            # none): nothing the MMU could use there either.
            text = self.qmp.hmp(f"xp /512gx {pa:#x}")
            vals = [int(v, 16) for v in re.findall(r"0x([0-9a-f]{16})", text)]
            self.tables[pa] = (vals + [0] * 512)[:512]
        return self.tables[pa]

    def walk(self, pml4):
        """Walk the user half of the address space at pml4: counts of user
        and supervisor pages, and a few examples of the latter."""
        out = {"user": 0, "supervisor": 0, "examples": []}

        def rec(pa, level, va, user):
            t = self.table(pa)
            for i in range(256 if level == 4 else 512):
                e = t[i]
                if not e & P:
                    continue
                v = va | (i << (12 + 9 * (level - 1)))
                u = user and bool(e & U)
                if level == 1 or (level in (2, 3) and e & PS):
                    out["user" if u else "supervisor"] += 1
                    if not u and len(out["examples"]) < 5:
                        out["examples"].append(f"{v:#x} -> {e & ADDR:#x} (level {level})")
                    continue
                rec(e & ADDR, level - 1, v, u)

        rec(pml4, 4, 0, True)
        return out


def live_envs(log):
    """{id: (name, pml4)} of the envs the serial log shows made and not ended."""
    envs = {}
    for m in re.finditer(r"^env (\d+) \((\S+)\): (?:loaded|spawned) .*PML4 (0x[0-9a-f]+)$", log, re.M):
        envs[int(m.group(1))] = (m.group(2), int(m.group(3), 16))
    for m in re.finditer(r"^env (\d+) \(\S+\): (?:exited|killed)", log, re.M):
        envs.pop(int(m.group(1)), None)
    return envs


def probe(builddir, cmdline, machine=None, samples=8, interval=0.25, start=r"^keel: \d+ envs? started",
          timeout=120.0, quit=False):
    """Boot cmdline, and once `start` appears on the serial console stop the
    guest up to `samples` times; each time walk every live env's address
    space. `quit`: end QEMU after the last sample rather than let the run
    finish. Returns (walks, boot result): walks is a list of
    (sample, env id, name, pml4, counts)."""
    walks = []
    with live_boot(builddir, cmdline, machine, start, timeout) as (qmp, log_path, result):
        try:
            for n in range(samples):
                if qmp is None or "r" in result:  # the run has ended
                    break
                qmp.execute("stop")
                # Stopped: everything the guest printed is in the file, and
                # an env not yet reported ended still has its tables.
                envs = live_envs(Path(log_path).read_text(errors="replace"))
                cr3 = re.search(r"CR3=([0-9a-f]+)", qmp.hmp("info registers"))
                if cr3 and int(cr3.group(1), 16) & ADDR not in {pml4 for _, pml4 in envs.values()}:
                    envs[0] = ("cr3", int(cr3.group(1), 16) & ADDR)  # whatever is loaded, too
                w = Walker(qmp)
                for eid, (name, pml4) in sorted(envs.items()):
                    walks.append((n, eid, name, pml4, w.walk(pml4)))
                if quit and n == samples - 1:
                    qmp.execute("quit")
                    break
                qmp.execute("cont")
                time.sleep(interval)
        except (ConnectionError, OSError, RuntimeError):
            pass  # QEMU ended: the walks so far stand
    return walks, result.get("r")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builddir", default=str(SRC / "build"))
    p.add_argument("--cmdline", default=keelqemu.DEMO_CMDLINE)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--icount", action="store_true")
    a = p.parse_args()
    walks, r = probe(a.builddir, a.cmdline, keelqemu.Machine(icount=a.icount), samples=a.samples)
    spaces = {pml4 for _, _, _, pml4, _ in walks}
    sup = sum(c["supervisor"] for *_, c in walks)
    for n, eid, name, pml4, c in walks:
        print(f"sample {n}: env {eid} ({name}) PML4 {pml4:#x}: {c['user']} user pages, "
              f"{c['supervisor']} supervisor" + (f": {', '.join(c['examples'])}" if c["examples"] else ""))
    worst = max((c["supervisor"] for *_, c in walks), default=0)
    print(f"{len(walks)} walks of {len(spaces)} address spaces: {sup} supervisor pages in all, "
          f"at most {worst} in one; boot verdict {r.verdict if r else '?'}")
    return 1 if sup else 0


if __name__ == "__main__":
    sys.exit(main())
