"""The boot-test harness: every test boots the real ISO in QEMU.

    def test_something(keel):
        r = keel.run_test("frames_above_4g", mem="8G")   # boots test=frames_above_4g
        r.expect("touched 256 frames")

`keel.boot(cmdline, cpu=, mem=, machine=, icount=, firmware=)` boots once and returns a
BootResult (boot/keelqemu.py): `.verdict` (success, failure, panic, timeout,
died), `.log` (the serial console), `.ktap` (parsed result lines). Each boot
gets a per-command-line ISO (cached under build/isos/), a hard timeout, and
its own QEMU, which is killed by pid if it outlives the timeout. The serial
logs of a failed test are kept under build/test-logs/.
"""

import os
import re
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "boot"))
import keelqemu  # noqa: E402

BUILD = Path(os.environ.get("KEEL_BUILDDIR", SRC / "build")).resolve()
LOGDIR = BUILD / "test-logs"


def tail(text, n=60):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


class Boot:
    """A finished boot, with assertions that explain themselves."""

    def __init__(self, result, cmdline):
        self.r = result
        self.cmdline = cmdline

    def __getattr__(self, name):
        return getattr(self.r, name)

    def _fail(self, what):
        pytest.fail(f"{what}\n  command line: {self.cmdline!r}\n  verdict: {self.r.verdict} "
                    f"(QEMU status {self.r.status})\n--- serial log (tail) ---\n{tail(self.r.log)}",
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


class Keel:
    def __init__(self):
        self.boots = []

    def boot(self, cmdline="", cpu="max", mem="512M", machine="q35", icount=False, timeout=60.0,
             extra=(), modules=(), log_path=None, firmware="bios", rss_limit_mib=None):
        """modules: extra (path, name) multiboot2 modules for this boot.
        log_path: where the serial log goes while it runs (to watch it).
        firmware: bios (SeaBIOS) or ovmf (UEFI).
        rss_limit_mib: kill QEMU once it holds that much host memory."""
        machine_ = keelqemu.Machine(cpu=cpu, mem=mem, machine=machine, icount=icount, firmware=firmware)
        r = keelqemu.boot(BUILD, cmdline, machine_, timeout=timeout, extra=extra, modules=modules,
                          log_path=log_path, rss_limit_mib=rss_limit_mib)
        b = Boot(r, cmdline)
        self.boots.append(b)
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


@pytest.fixture
def keel(request):
    k = Keel()
    request.node._keel = k
    yield k


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    k = getattr(item, "_keel", None)
    if rep.when != "call" or not rep.failed or not k or not k.boots:
        return
    LOGDIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
    for i, b in enumerate(k.boots):
        path = LOGDIR / f"{safe}.{i}.log"
        path.write_text(f"# command line: {b.cmdline}\n# qemu: {' '.join(b.r.argv)}\n"
                        f"# verdict: {b.r.verdict} (status {b.r.status}), {b.r.elapsed:.2f} s, "
                        f"QEMU's peak RSS {b.r.maxrss_kib} KiB\n"
                        + b.r.log)
        rep.sections.append(("keel serial log", f"kept in {path}"))


def pytest_configure(config):
    kernel = BUILD / "kern" / "keel-stripped.elf"
    if not kernel.exists():
        raise pytest.UsageError(f"{kernel} is missing: run ./keel test (it builds first)")
