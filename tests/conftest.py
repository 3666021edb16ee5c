"""The boot-test harness: every test boots the real ISO in QEMU.

    def test_something(keel):
        r = keel.run_test("frames_above_4g", mem="8G")   # boots test=frames_above_4g
        r.expect("touched 256 frames")

`keel.boot(cmdline, cpu=, mem=, machine=, icount=, firmware=)` boots once and returns a
Boot (below) around keelqemu's BootResult: `.verdict` (success, failure, panic,
timeout, died), `.log` (the serial console), `.ktap` (parsed result lines), and
the checks test modules share -- `expect`, `expect_not`, `value`,
`expect_verdict`, `summary`, `expect_nothing_leaked`, `iret_completions`,
`expect_victim_intact` (docs/testing.md, "Writing one"). Shared helpers live
here; a test module that imports another stops the session. Each boot
gets a per-command-line ISO (cached under build/isos/), a hard timeout, and
its own QEMU, which is killed by pid if it outlives the timeout. The serial
logs of a failed test are kept under build/test-logs/ (TEST.N.log); with
`./keel test --record-failures` each one-CPU icount boot is recorded with
QEMU's record/replay, and a failed test keeps its recordings there too
(TEST.N.rr, replayed by `./keel debug --replay build/test-logs/TEST.N.rr`).
"""

import ast
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "boot"))
import keelqemu  # noqa: E402
import replay  # noqa: E402

BUILD = Path(os.environ.get("KEEL_BUILDDIR", SRC / "build")).resolve()
LOGDIR = BUILD / "test-logs"
TESTS = Path(__file__).resolve().parent


def tail(text, n=60):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


class Boot:
    """A finished boot, with assertions that explain themselves."""

    def __init__(self, result, cmdline, n=0, recording=None):
        self.r = result
        self.cmdline = cmdline
        self.n = n  # the test's Nth boot (its logs and recordings are TEST.N.*)
        self.recording = recording  # its record/replay directory (--record-failures), or None

    def __getattr__(self, name):
        return getattr(self.r, name)

    def replay_command(self):
        return f"./keel debug --replay {os.path.relpath(self.recording, SRC)}" if self.recording else None

    def _fail(self, what):
        rr = f"\n  recorded: replay it with {self.replay_command()}" if self.recording else ""
        pytest.fail(f"{what}\n  command line: {self.cmdline!r}\n  verdict: {self.r.verdict} "
                    f"(QEMU status {self.r.status}){rr}\n--- serial log (tail) ---\n{tail(self.r.log)}",
                    pytrace=False)

    def expect_verdict(self, verdict):
        if self.r.verdict != verdict:
            self._fail(f"expected the boot to end in {verdict!r}")
        return self

    def expect(self, pattern, flags=re.M):
        """The log matches a regular expression; returns the match."""
        m = re.search(pattern, self.r.log, flags)
        if not m:
            self._fail(f"expected the serial log to match {pattern!r}")
        return m

    def expect_not(self, pattern, flags=re.M):
        m = re.search(pattern, self.r.log, flags)
        if m:
            self._fail(f"expected the serial log NOT to match {pattern!r}, found {m.group(0)!r}")

    def value(self, pattern, conv=int):
        """The first group of a required match, converted."""
        return conv(self.expect(pattern).group(1))

    # What the kernel prints once every env has ended (kern/sched.c, all_done).
    SUMMARY = (r"^envs: all ended: (?P<started>\d+) started, (?P<failed>\d+) failed; frames free before (?P<before>\d+), "
               r"after (?P<after>\d+); (?P<vranges>\d+) vranges held; (?P<caps>\d+) capabilities alive$")
    HEAP = (r"^envs: kernel heap objects live before (?P<heap_before>\d+), after (?P<heap_after>\d+) "
            r"\((?P<heap_bytes_before>\d+) bytes before, (?P<heap_bytes_after>\d+) after\)$")
    EXITS = (r"^envs: (?P<switches>\d+) env switches; exits to Ring 3: (?P<sysret>\d+) sysretq, (?P<iret>\d+) iretq; "
             r"(?P<timer>\d+) timer interrupts, (?P<timer_writes>\d+) LAPIC timer writes$")
    UPCALLS = (r"^envs: upcalls: (?P<upcalls>\d+) event, (?P<trap_upcalls>\d+) trap, (?P<pct_upcalls>\d+) control "
               r"transfer; (?P<irqs>\d+) device interrupts$")
    IRET_COMPLETIONS = r"^envs: (\d+) Ring 3 iretqs completed by the kernel"

    def summary(self):
        """The kernel's end-of-run summary, required, as a dict of ints: started, failed, before and after
        (frames free), vranges, caps, heap_before, heap_after, heap_bytes_before, heap_bytes_after, switches,
        sysret, iret, timer, upcalls, trap_upcalls, pct_upcalls, irqs, and iret_completions."""
        s = {}
        for pattern in (self.SUMMARY, self.HEAP, self.EXITS, self.UPCALLS):
            s.update({k: int(v) for k, v in self.expect(pattern).groupdict().items()})
        s["iret_completions"] = self.iret_completions()
        return s

    def iret_completions(self):
        """Ring 3 iretqs the kernel completed for QEMU's SMAP bug (the line is absent when none were: 0).
        Without SMAP (-cpu qemu64) it must stay 0: every Ring 3 iretq was the CPU's own."""
        m = re.search(self.IRET_COMPLETIONS, self.r.log, re.M)
        return int(m.group(1)) if m else 0

    def expect_nothing_leaked(self, started=None, failed=None):
        """Every env ended and everything came back: frames free before = after, no vrange, no capability,
        the kernel heap's live objects and bytes as before, no `envs: LEAK`, no panic. `started`,
        `failed`: how many envs the summary must count. Returns summary()."""
        s = self.summary()
        self.expect_not(r"LEAK|panic|PANIC")
        for what, got, want in [("frames free after", s["after"], s["before"]), ("vranges held", s["vranges"], 0),
                                ("capabilities alive", s["caps"], 0),
                                ("heap objects live after", s["heap_after"], s["heap_before"]),
                                ("heap bytes live after", s["heap_bytes_after"], s["heap_bytes_before"]),
                                ("envs started", s["started"], started), ("envs failed", s["failed"], failed)]:
            if want is not None and got != want:
                self._fail(f"expected {what}: {want}, the summary says {got}")
        return s

    # kern/main.c, print_firmware: what the loader's tags say booted the machine.
    FIRMWARE_LINE = {"bios": r"^boot: firmware BIOS \(no EFI tags\)$",
                     "uefi": r"^boot: firmware UEFI \(EFI64 system table at 0x[0-9a-f]+, boot services exited, "
                             r"EFI memory map of \d+ descriptors\)$"}

    def expect_firmware(self, firmware):
        """A boot that got as far as reading the boot information names the firmware it ran under."""
        if re.search(r"^boot: loader ", self.r.log, re.M):
            self.expect(self.FIRMWARE_LINE[firmware])

    def expect_cpus(self, smp):
        """A boot that got as far as starting the APs (kern/arch/x86_64/smp.c)
        has every CPU it was given up: a broken trampoline is never filed as an
        AP that did not answer. Only smp_skip= leaves one out, on purpose, and
        trampoline=move all but cpu0 when no module lies low enough to move."""
        if "smp_skip=" in self.cmdline or not re.search(r"^smp: ", self.r.log, re.M):
            return
        if "trampoline=move" in self.cmdline and re.search(r"^smp: no module below 640 KiB can move", self.r.log,
                                                           re.M):
            return
        if smp == 1:
            self.expect(r"^smp: 1 CPU$")
        else:
            self.expect(rf"^smp: {smp} of {smp} CPUs up ")
            self.expect_not(r"^smp: .*did not answer")

    def expect_victim_intact(self):
        """apps/victim checked its memory and its computation while others attacked, and exited 0."""
        self.expect(r"^victim env \d+: \d+ rounds, memory checksum 0x[0-9a-f]+ intact, computation intact$")
        self.expect(r"^env \d+ \(victim\): exited with code 0$")


def free_port():
    """A free local TCP port (for a QEMU GDB stub), as the kernel hands one out now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_name(nodeid):
    """A test's name as a file name under build/test-logs/."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)


# A UEFI boot spends seconds in OVMF and GRUB's EFI image before the kernel
# runs (~4 s under TCG, ~40 s under -icount, which counts the firmware's
# instructions too): added to every UEFI boot's timeout, so a timeout sized
# for the kernel's own work holds under either firmware.
UEFI_TIMEOUT_EXTRA = {False: 30.0, True: 120.0}


class Keel:
    def __init__(self, nodeid="", record=False, unrecorded=None, firmware="bios", accel="", fastpaths="on"):
        self.boots = []
        self.accel = accel  # ./keel test --accel: for every boot not under -icount
        self.firmware = firmware  # the firmware of boots that name none (./keel test --firmware, or the fixture)
        self.fastpaths = fastpaths  # ./keel test --fastpaths off: every boot with the general paths alone
        self.nodeid = nodeid
        self.record = record  # ./keel test --record-failures
        self.unrecorded = unrecorded  # why this test's boots are never recorded (@pytest.mark.unrecorded)
        self.lock = threading.Lock()  # boots may run in threads (test_irq)
        self.started = 0

    def cmdline_booted(self, cmdline):
        """The command line a boot of `cmdline` really gets: with
        --fastpaths off, fastpaths=off added -- unless it sets fastpaths
        itself (the tunables tests: what they set is their subject)."""
        if self.fastpaths == "off" and not re.search(r"(^|\s)fastpaths=", cmdline):
            return f"{cmdline} fastpaths=off".strip()
        return cmdline

    def boot(self, cmdline="", cpu="max", mem="512M", machine="q35", icount=False, timeout=60.0,
             extra=(), modules=(), log_path=None, firmware=None, rss_limit_mib=None, grub_pre=(), smp=1):
        """modules: extra (path, name) multiboot2 modules for this boot.
        log_path: where the serial log goes while it runs (to watch it).
        firmware: bios (SeaBIOS) or uefi (OVMF); None: this test's default
        (bios, the `firmware` fixture's, or ./keel test --firmware). Every boot
        that reaches the kernel must name the firmware it booted under.
        rss_limit_mib: kill QEMU once it holds that much host memory.
        grub_pre: GRUB commands run before the kernel is loaded (e.g. lsmmap).
        smp: CPUs (QEMU's -smp); every one must come up (Boot.expect_cpus).
        With --record-failures a one-CPU icount boot is recorded (boot/replay.py) into
        build/test-logs/TEST.N.rr, kept only if the test fails."""
        firmware = firmware or self.firmware
        cmdline = self.cmdline_booted(cmdline)
        if firmware == "uefi":
            timeout += UEFI_TIMEOUT_EXTRA[icount]
        machine_ = keelqemu.Machine(cpu=cpu, mem=mem, machine=machine, icount=icount, firmware=firmware,
                                    accel="" if icount else self.accel, smp=smp)
        with self.lock:
            n = self.started
            self.started += 1
        record = None
        if self.record and icount:
            reason = self.unrecorded or replay.why_not(machine_)
            if reason:
                print(f"keel: {self.nodeid}: boot {n} not recorded: {reason}", file=sys.stderr)
            else:
                record = LOGDIR / f"{log_name(self.nodeid)}.{n}.rr"
        r = keelqemu.boot(BUILD, cmdline, machine_, timeout=timeout, extra=extra, modules=modules,
                          log_path=log_path, rss_limit_mib=rss_limit_mib, record=record, grub_pre=grub_pre)
        b = Boot(r, cmdline, n, recording=record)
        with self.lock:
            self.boots.append(b)
        b.expect_firmware(firmware)
        b.expect_cpus(smp)
        return b

    def run_test(self, name, args="", expect="success", **machine):
        """Boot `test=NAME` and require its KTAP verdict (and exit) to be `expect`."""
        b = self.boot(f"test={name} {args}".strip(), **machine)
        b.expect_verdict(expect)
        if expect in ("success", "failure"):
            results = [t for t in b.ktap if t[2] == name]
            if len(results) != 1:
                b._fail(f"expected one KTAP result line for {name}")
            if results[0][0] != (expect == "success"):
                b._fail(f"expected KTAP {'ok' if expect == 'success' else 'not ok'} for {name}")
        return b


# COM2 on a Unix socket the test talks to (tests/test_irq.py, tests/test_trace.py).
COM2_SOCKET = ["-chardev", "socket,id=com2,path={sock},server=on,wait=off", "-serial", "chardev:com2"]


class Com2Boot:
    """Boot in a thread with COM2 on a Unix socket; talk to it while it runs."""

    def __init__(self, keel, cmdline, timeout=120.0):
        self.dir = Path(tempfile.mkdtemp(prefix="keel-com2-", dir="/tmp"))  # short: sun_path is 108 bytes
        self.sock_path = self.dir / "com2.sock"
        self.log_path = self.dir / "com1.log"
        extra = [a.format(sock=self.sock_path) for a in COM2_SOCKET]
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(keel, cmdline, extra, timeout), daemon=True)
        self.thread.start()
        self.sock = None

    def _run(self, keel, cmdline, extra, timeout):
        try:
            self.result = keel.boot(cmdline, extra=extra, log_path=str(self.log_path), timeout=timeout)
        except BaseException as e:  # a check in Keel.boot failed: finish() raises it in the test
            self.error = e

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, pattern, timeout=60.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.thread.is_alive():
            if re.search(pattern, self.log(), re.M):
                return True
            time.sleep(0.05)
        return bool(re.search(pattern, self.log(), re.M))

    def connect(self, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(self.sock_path))
                self.sock = s
                return
            except OSError:
                s.close()
                time.sleep(0.02)
        pytest.fail("cannot connect to QEMU's COM2 socket")

    def exchange(self, payload, chunk=256, timeout=90.0):
        """Send the payload (in chunks), collect what comes back until as
        many bytes arrived or the time is up."""
        got = bytearray()

        def reader():
            self.sock.settimeout(0.2)
            end = time.monotonic() + timeout
            while len(got) < len(payload) and time.monotonic() < end:
                try:
                    data = self.sock.recv(4096)
                except socket.timeout:
                    continue
                if not data:
                    break
                got.extend(data)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        for i in range(0, len(payload), chunk):
            self.sock.sendall(payload[i:i + chunk])
            time.sleep(0.002)
        t.join(timeout + 5)
        return bytes(got)

    def finish(self, timeout=120.0):
        self.thread.join(timeout)
        if self.sock:
            self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.error:
            raise self.error
        assert self.result is not None, "the boot did not finish"
        return self.result


def pytest_addoption(parser):
    parser.addoption("--firmware", choices=keelqemu.FIRMWARES, default="bios",
                     help="the firmware of every boot that names none (default bios: SeaBIOS; uefi: OVMF)")
    parser.addoption("--accel", default="",
                     help="QEMU's accelerator for every boot not under -icount (kvm where /dev/kvm exists; "
                          "icount is TCG's alone, so those boots stay on TCG)")
    parser.addoption("--fastpaths", choices=("on", "off"), default="on",
                     help="off: every boot runs with the kernel's fast paths switched off (fastpaths=off on its "
                          "command line), so the suite proves the general paths alone")
    parser.addoption("--record-failures", action="store_true",
                     help="record every one-CPU icount boot (QEMU record/replay) and keep the recording of each "
                          "failed test's boots in build/test-logs/ (docs/debugging.md)")


@pytest.fixture
def keel(request):
    mark = request.node.get_closest_marker("unrecorded")
    k = Keel(request.node.nodeid, record=request.config.getoption("--record-failures"),
             unrecorded=(mark.args[0] if mark and mark.args else "marked unrecorded") if mark else None,
             firmware=request.config.getoption("--firmware"), accel=request.config.getoption("--accel"),
             fastpaths=request.config.getoption("--fastpaths"))
    request.node._keel = k
    yield k


@pytest.fixture(params=keelqemu.FIRMWARES)
def firmware(request, keel):
    """Run the test once under each firmware: every boot it makes (Com2Boot's too) defaults to it. UEFI
    boots cost ~4 s each: the chosen subset is the boot, the slot audit, envs, upcalls, a device IRQ."""
    keel.firmware = request.param
    return request.param


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    k = getattr(item, "_keel", None)
    if rep.when != "call" or not k or not k.boots:
        return
    if not rep.failed:  # a passing test's recordings go
        for b in k.boots:
            if b.recording:
                shutil.rmtree(b.recording, ignore_errors=True)
        return
    LOGDIR.mkdir(parents=True, exist_ok=True)
    safe = log_name(item.nodeid)
    for b in k.boots:
        if b.recording:
            rep.sections.append(("keel recording", f"boot {b.recording.name}: {b.replay_command()}"))
        path = LOGDIR / f"{safe}.{b.n}.log"
        path.write_text(f"# command line: {b.cmdline}\n# qemu: {' '.join(b.r.argv)}\n"
                        f"# verdict: {b.r.verdict} (status {b.r.status}), {b.r.elapsed:.2f} s, "
                        f"QEMU's peak RSS {b.r.maxrss_kib} KiB\n"
                        + b.r.log)
        rep.sections.append(("keel serial log", f"kept in {path}"))


def imports_between_test_modules(tests=TESTS):
    """Every place a test module imports another test module (`import test_x`, `from test_x import ...`,
    `from . import test_x`, `importlib.import_module("test_x")`), as "file:line: name". Helpers shared
    between modules belong here, in conftest.py: a test module imported by another runs its module code
    twice, and its helpers change under tests that never asked for it."""
    modules = {p.stem for p in tests.glob("test_*.py")}
    found = []
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module] if node.module else [a.name for a in node.names]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
                  in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            else:
                continue
            found += [f"{path.name}:{node.lineno}: {n}" for n in names if set(n.split(".")) & modules]
    return found


def pytest_configure(config):
    kernel = BUILD / "kern" / "keel-stripped.elf"
    if not kernel.exists():
        raise pytest.UsageError(f"{kernel} is missing: run ./keel test (it builds first)")
    imports = imports_between_test_modules()
    if imports:
        raise pytest.UsageError("a test module imports another test module; share helpers through "
                                "tests/conftest.py instead:\n  " + "\n  ".join(imports))
