"""gdb's backtrace crosses the trap frame (entry.S's CFI), into the kernel code a
fault interrupted and into Ring 3 with the app's symbols (boot/gdb_keel.py).

Each test boots QEMU paused with its GDB stub on a free local port and drives
gdb in batch mode on build/kern/keel.elf; QEMU -- ours, by its pid -- is killed
when gdb is done. docs/debugging.md says what a user sees.
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import keelqemu
import pytest
from conftest import BUILD, SRC, free_port, tail

GDB_KEEL = SRC / "boot" / "gdb_keel.py"
KERNEL = BUILD / "kern" / "keel.elf"
MARK = "==keel-gdb-mark=="


def gdb_session(cmdline, commands, timeout=30.0):
    """Boot `cmdline` paused under the GDB stub, run gdb's batch `commands` (connected, paused at the
    first instruction) and return (gdb's stdout split at `echo MARK` lines, the serial log, stderr).
    `commands` may name the serial log as {log}."""
    iso = keelqemu.cached_iso(BUILD, cmdline)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cfi-gdb-") as tmp:
        log = Path(tmp) / "serial.log"
        script = Path(tmp) / "commands.gdb"
        script.write_text("\n".join(c.format(log=log) for c in commands) + "\nkill\n")
        argv = keelqemu.qemu_argv(iso, keelqemu.Machine(), f"file:{log}",
                                  ["-gdb", f"tcp:127.0.0.1:{port}", "-S"])
        with tempfile.TemporaryFile(prefix="cfi-qemu-stderr-") as errf:
            qemu = keelqemu._start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
            try:
                g = subprocess.run(["gdb", "-q", "-nx", "-batch", "-ex", "set pagination off",
                                    "-ex", "set confirm off", "-ex", "set tcp connect-timeout 10",
                                    "-ex", f"target remote 127.0.0.1:{port}", "-x", str(script), str(KERNEL)],
                                   capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                   env=dict(os.environ, KEEL_BUILDDIR=str(BUILD)))
            finally:
                keelqemu._reap(qemu)
            errf.seek(0)
            qemu_err = errf.read().decode(errors="replace")
        serial = log.read_text(errors="replace") if log.exists() else ""
    return g.stdout.split(MARK + "\n"), serial, g.stderr + qemu_err


def frames(bt_output):
    """The function of each frame of a `bt`, innermost first ("<signal handler called>" for the
    trap frame, "??" where gdb has no symbol)."""
    names = []
    for line in bt_output.splitlines():
        m = re.match(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(<signal handler called>|\S+)", line)
        if m:
            names.append(m.group(1))
    return names


def expect_frames(bt_output, want, context):
    """`want` appears in the backtrace in order, each right after the one before (nothing between).
    A function shown twice in a row is one (link-time optimisation can inline a function's own
    outlined part back into it: gdb then shows an inline frame of it inside its frame)."""
    shown = frames(bt_output)
    got = [f for i, f in enumerate(shown) if i == 0 or f != shown[i - 1]]
    try:
        i = got.index(want[0])
        ok = got[i:i + len(want)] == want
    except ValueError:
        ok = False
    if not ok:
        pytest.fail(f"expected the frames {want} in a row in gdb's backtrace, got {got}\n"
                    f"--- gdb ---\n{bt_output}\n{context}", pytrace=False)


def values(output):
    """name = 0x... lines printed by `echo name = ` + `p/x EXPR`, as a dict of ints."""
    return {m.group(1): int(m.group(2), 16) for m in re.finditer(r"^(\w+) =\s*\$\d+ = (0x[0-9a-f]+)$", output, re.M)}


def show(name, expr):
    return f"echo {name} = \nprint/x {expr}"


def test_gdb_backtrace_at_a_kernel_fault_reaches_the_faulting_function():
    """At panic_trap for a deliberate kernel #PF, `bt` goes through the trap frame into
    fault_here_deliberately and on up to kmain, and the interrupted frame's RIP, RSP and RBP
    are the trap frame's."""
    parts, serial, err = gdb_session("test=kernel_page_fault", [
        "break panic_trap", "continue", f"echo {MARK}\\n", "bt",
        show("tf_rip", "tf->rip"), show("tf_rsp", "tf->rsp"), show("tf_rbp", "tf->rbp"),
        "frame function fault_here_deliberately",
        show("pc", "$pc"), show("sp", "$sp"), show("rbp", "$rbp")])
    context = f"--- gdb stderr ---\n{err}\n--- serial log (tail) ---\n{tail(serial, 20)}"
    assert len(parts) == 2, f"gdb never stopped at panic_trap\n{parts}\n{context}"
    bt = parts[1]
    expect_frames(bt, ["panic_trap"], context)
    expect_frames(bt, ["trap_dispatch", "<signal handler called>", "fault_here_deliberately",
                       "ktest_kernel_page_fault", "ktest_run", "kmain"], context)
    v = values(bt)
    for frame_reg, tf_field in (("pc", "tf_rip"), ("sp", "tf_rsp"), ("rbp", "tf_rbp")):
        assert frame_reg in v and v[frame_reg] == v.get(tf_field), \
            f"the interrupted frame's {frame_reg} is not the trap frame's {tf_field}: {v}\n{bt}\n{context}"


DEEP = ["fault_at_the_bottom", "one_call_above", "two_calls_above"]


def test_gdb_backtrace_at_a_user_fault_shows_the_apps_frames_and_each_copy():
    """faulter:deep, twice (two copies of one program): keel-apps --auto loads each copy's symbols
    before it runs, so a breakpoint on an app function stops in Ring 3 in each; at the kernel's
    upcall_exception, `bt` crosses the trap frame into the app's functions, at addresses inside
    the copy that faulted; running keel-apps again adds nothing twice."""
    parts, serial, err = gdb_session("run=faulter:deep,faulter:deep", [
        "set breakpoint pending on",
        f"source {GDB_KEEL}",
        "keel-apps --auto {log}",
        "break fault_at_the_bottom",
        "break upcall_exception",
        "continue", f"echo {MARK}\\n", "bt",                            # env 1, Ring 3
        "continue", f"echo {MARK}\\n", "bt", show("tf_rip", "tf->rip"),  # env 1's #PF, in the kernel
        "continue", f"echo {MARK}\\n", "bt",                            # env 2, Ring 3
        "continue", f"echo {MARK}\\n", "bt", show("tf_rip", "tf->rip"),  # env 2's #PF
        f"echo {MARK}\\n", "keel-apps",
        "python print('faulter objfiles:', sum(o.filename.endswith('/faulter.elf') for o in gdb.objfiles()))"])
    context = f"--- gdb stderr ---\n{err}\n--- serial log (tail) ---\n{tail(serial, 20)}"
    assert len(parts) == 6, f"gdb did not stop four times\n{parts}\n{context}"
    spans = {int(env): (int(addr, 16), int(addr, 16) + 1024 * int(kib)) for env, addr, kib in
             re.findall(r"^env (\d+) \(faulter\): loaded at (0x[0-9a-f]+) \((\d+) KiB\)", serial, re.M)}
    assert sorted(spans) == [1, 2] and spans[1] != spans[2], f"two copies of faulter expected\n{context}"
    for n, env in ((1, 1), (3, 2)):
        ring3, kernel = parts[n], parts[n + 1]
        expect_frames(ring3, DEEP + ["fault", "main"], context)
        expect_frames(kernel, ["upcall_exception"], context)
        expect_frames(kernel, ["trap_dispatch", "<signal handler called>"] + DEEP + ["fault", "main"], context)
        lo, hi = spans[env]
        pcs = [int(a, 16) for a in re.findall(r"^#\d+\s+(0x[0-9a-f]+) in (?:one_call|two_calls)_above", kernel, re.M)]
        rip = values(kernel).get("tf_rip")
        assert len(pcs) == 2 and all(lo <= pc < hi for pc in pcs + [rip]), \
            f"env {env}'s frames are not in its copy [{lo:#x}, {hi:#x}): {pcs}, RIP {rip}\n{kernel}\n{context}"
        pc0 = re.search(r"^#\d+\s+(0x[0-9a-f]+) in fault_at_the_bottom", kernel, re.M)
        assert pc0 and int(pc0.group(1), 16) == rip, f"the faulting frame's PC is not the trap frame's RIP\n{kernel}"
    assert "keel-apps: 0 image(s) added" in parts[5] and "faulter objfiles: 2" in parts[5], \
        f"expected one objfile per copy, each added once\n{parts[5]}\n{context}"


def test_keel_apps_loads_every_copy_named_in_a_recorded_log(tmp_path):
    """Without a boot (as for a recorded run): each load line gives its copy's symbols at its
    own address, spawned children too; a program without an ELF is skipped, not fatal."""
    log = tmp_path / "serial.log"
    log.write_text("env 1 (faulter): loaded at 0x40000000 (28 KiB), stack at 0x40008000, PML4 0x1000\n"
                   "env 2 (faulter): spawned by env 1, loaded at 0x40100000, quotas 1 frames 1 caps 0 envs, "
                   "PML4 0x2000\n"
                   "env 3 (nosuchapp): loaded at 0x40200000 (4 KiB), stack at 0x40208000, PML4 0x3000\n")
    bottom = int(subprocess.run(["nm", str(BUILD / "apps" / "faulter.elf")], capture_output=True, text=True,
                                check=True).stdout.split(" t fault_at_the_bottom")[0].split("\n")[-1], 16)
    g = subprocess.run(["gdb", "-q", "-nx", "-batch", "-ex", f"source {GDB_KEEL}", "-ex", f"keel-apps {log}",
                        "-ex", f"info symbol {0x40000000 + bottom:#x}", "-ex", f"info symbol {0x40100000 + bottom:#x}",
                        "-ex", "info line fault_at_the_bottom", str(KERNEL)],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, KEEL_BUILDDIR=str(BUILD)))
    out = g.stdout + g.stderr
    assert "keel-apps: 2 image(s) added" in out, out
    assert "nosuchapp.elf, skipped" in out, out
    assert len(re.findall(r"^fault_at_the_bottom in section \.text of .*faulter\.elf$", out, re.M)) == 2, out
