"""Record/replay (boot/replay.py, docs/debugging.md "Record and replay"): a boot recorded once
replays exactly, and gdb goes backwards in it.

One recording of a deliberate kernel panic (test=kernel_page_fault) serves the module. Each replay
is QEMU in replay mode, ours, killed by pid; gdb runs in batch mode with boot/gdbinit-replay -- what
`./keel debug --replay DIR` runs -- on the kernel kept in the recording.
"""

import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import keelqemu
import pytest
import replay
from conftest import BUILD, SRC, free_port, tail

CMDLINE = "test=kernel_page_fault"
MARK = "==keel-replay-mark=="
REGS = ("rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "eflags")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    d = tmp_path_factory.mktemp("rr") / "panic.rr"
    r = keelqemu.boot(BUILD, CMDLINE, keelqemu.Machine(icount=True), timeout=120.0, record=d)
    if r.verdict != "panic":
        pytest.fail(f"the recorded boot ended in {r.verdict}, not the deliberate panic\n{tail(r.log)}", pytrace=False)
    return d, r


class Replay:
    """QEMU replaying the recording, paused for gdb on a free port, with a QMP socket; serial to a file."""

    def __init__(self, recdir, name):
        self.tmp = Path(tempfile.mkdtemp(prefix="keel-replay-test-", dir="/tmp"))  # short: sun_path
        self.serial = self.tmp / f"{name}.serial.log"
        self.qmp = self.tmp / "qmp.sock"
        self.port = free_port()
        rec = replay.open_recording(recdir)
        argv = replay.replay_argv(rec, f"file:{self.serial}", self.tmp,
                                  ["-gdb", f"tcp:127.0.0.1:{self.port}", "-S",
                                   "-qmp", f"unix:{self.qmp},server=on,wait=off"])
        self.errf = open(self.tmp / "qemu.stderr", "w+")
        self.qemu = keelqemu._start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.errf)
        self.recdir = recdir

    def gdb(self, commands, timeout=400.0):
        """gdb in batch mode as ./keel debug --replay starts it, then `commands`; its stdout+stderr."""
        script = self.tmp / "commands.gdb"
        script.write_text("\n".join(commands) + "\n")
        env = dict(os.environ, KEEL_SRC=str(SRC), KEEL_BUILDDIR=str(self.recdir),
                   KEEL_SERIAL_LOG=str(Path(self.recdir) / "serial.log"), KEEL_QMP=str(self.qmp),
                   KEEL_GDB_TARGET=f"127.0.0.1:{self.port}")
        g = subprocess.Popen(["gdb", "-q", "-nx", "-batch", "-x", str(SRC / "boot" / "gdbinit-replay"),
                              "-x", str(script), str(Path(self.recdir) / "kern" / "keel.elf")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                             env=env)
        try:
            out, err = g.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            g.kill()
            out, err = g.communicate()
            err += f"\n[test] gdb killed after {timeout:.0f} s"
        return out + "\n--- gdb stderr ---\n" + err

    def close(self):
        keelqemu._reap(self.qemu)
        self.errf.close()
        log = self.serial.read_bytes() if self.serial.exists() else b""
        subprocess.run(["rm", "-rf", str(self.tmp)])
        return log


def registers(text):
    """The registers `info registers` printed, as {name: int}."""
    return {m.group(1): int(m.group(2), 16) for m in re.finditer(r"^(\w+)\s+(0x[0-9a-f]+)\s", text, re.M)
            if m.group(1) in REGS}


def icounts(text):
    return [int(n) for n in re.findall(r"^icount (\d+)$", text, re.M)]


def test_a_recording_holds_the_boot_and_what_a_replay_needs(recording):
    d, r = recording
    assert re.search(r"^PANIC: #PF page fault", r.log, re.M), tail(r.log)
    for name in ("replay.bin", "snapshot.qcow2", "keel.iso", "serial.log", "machine.json", "kern/keel.elf"):
        assert (d / name).is_file(), f"the recording lacks {name}"
    assert (d / "serial.log").read_text(errors="replace") == r.log
    assert replay.open_recording(d).meta()["cmdline"] == CMDLINE


def test_a_recording_refuses_what_qemu_cannot_record():
    assert "icount" in replay.why_not(keelqemu.Machine(icount=False))
    assert replay.why_not(keelqemu.Machine(icount=True, smp=2)) == replay.REFUSED_SMP
    assert replay.why_not(keelqemu.Machine(icount=True)) is None


# ~2 minutes (two replays under gdb, one single-stepping): ./keel test --slow. Going back under
# gdb (keel-seek: a snapshot load and a replay forward) stays in the default suite through
# test_race_replay.py, back from a failed assertion to the preemption that caused it.
@pytest.mark.slow
def test_gdb_goes_back_from_the_panic_to_its_instruction_count_minus_100(recording):
    """Replay A stops at panic_trap (instruction count N), goes to N - 100 in one move (keel-seek: a
    snapshot load and a replay forward), takes one reverse-stepi, then reverse-continues to a kernel
    breakpoint. Replay B, independent, runs forward to N - 105 and single-steps, logging the registers
    at every instruction count: at N - 100 and N - 101 they must be A's. B then runs to the end, and its
    serial output, a plain replay's and the recording's are the same bytes."""
    d, r = recording
    n_file = Path(tempfile.mkdtemp(prefix="keel-replay-n-", dir="/tmp")) / "n"
    out = {}

    def run_a():
        a = Replay(d, "a")
        try:
            out["a"] = a.gdb([
                "break panic_trap", "continue", "keel-icount",
                "python import time; t0 = time.time()",
                f"python open('{n_file}', 'w').write(str(int(gdb.parse_and_eval('$icount'))))",
                "bt 4",
                f"echo {MARK}\\n", "keel-seek $icount - 100", "keel-icount", "info registers",
                f"echo {MARK}\\n", "reverse-stepi", "keel-icount", "info registers",
                f"echo {MARK}\\n", "delete", "break ktest_kernel_page_fault", "reverse-continue", "keel-icount",
                "info registers rip", "kill"])
        finally:
            out["a-serial"] = a.close()

    plain_log = Path(tempfile.mkdtemp(prefix="keel-replay-plain-", dir="/tmp")) / "serial.log"
    t = threading.Thread(target=run_a)
    t.start()
    try:
        plain = replay.replay(d, plain_log, timeout=300.0)
        deadline = time.monotonic() + 300
        while not n_file.exists() and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert n_file.exists(), f"replay A never reached panic_trap\n{out.get('a', '')}"
        time.sleep(0.1)
        n = int(n_file.read_text())
        b = Replay(d, "b")
        try:
            log_b = b.gdb([
                f"keel-seek {n - 105}",
                "python\n"
                "import re\n"
                f"for _ in range(20):\n"
                "    gdb.execute('keel-icount')\n"
                "    gdb.execute('info registers')\n"
                f"    if int(gdb.parse_and_eval('$icount')) >= {n - 100}:\n"
                "        break\n"
                "    gdb.execute('stepi', to_string=True)\n"
                "end",
                "delete", "continue"])
        finally:
            serial_b = b.close()
    finally:
        t.join(600)
    a_out = out.get("a", "")
    context = f"--- replay A (gdb) ---\n{tail(a_out, 80)}"
    parts = a_out.split(MARK + "\n")
    assert len(parts) == 4, f"replay A did not get through its steps\n{context}"
    at_panic, seek, rstep, rcont = parts
    assert "panic_trap" in at_panic and icounts(at_panic) == [n], context
    assert icounts(seek) == [n - 100], f"keel-seek did not land on {n - 100}\n{context}"
    assert icounts(rstep) == [n - 101], f"reverse-stepi did not go back one instruction\n{context}"
    m = re.search(r"^rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <(\w+)>", rcont, re.M)
    assert m and m.group(1) == "ktest_kernel_page_fault" and icounts(rcont)[0] < n - 101, \
        f"reverse-continue did not go back to ktest_kernel_page_fault\n{context}"

    # B's forward log: the registers at each instruction count it stood at.
    pieces = re.split(r"^icount (\d+)$", log_b, flags=re.M)  # text, count, its registers, count, ...
    forward = {int(count): registers(regs) for count, regs in zip(pieces[1::2], pieces[2::2])}
    for count, got in ((n - 100, registers(seek)), (n - 101, registers(rstep))):
        assert count in forward, f"replay B's single steps never stood at {count}: {sorted(forward)}\n{tail(log_b)}"
        assert got and set(got) == set(REGS), f"replay A printed no registers at {count}\n{context}"
        assert got == forward[count], (f"at instruction count {count} replay A (going back) and replay B "
                                       f"(stepping forward) disagree:\nA {got}\nB {forward[count]}")

    recorded = (d / "serial.log").read_bytes()
    assert plain.verdict == "panic", tail(plain.log)
    assert plain_log.read_bytes() == recorded, "a plain replay printed other serial output than the recording"
    assert serial_b == recorded, "replay B printed other serial output than the recording"
