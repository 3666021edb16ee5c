"""Just enough of QEMU's machine protocol (QMP) for Keel's tools: commands,
and the human monitor's commands through it; and a boot to look at through
it while it runs. Used by tests/ptwalk.py (the page-table walker),
tests/test_trace.py (the live kernel text) and boot/gdb_keel.py (keel-seek)."""

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path


class QMP:
    """Just enough QMP: commands, and the human monitor's commands through it."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self._reply()  # the greeting
        self.execute("qmp_capabilities")

    def _message(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("QMP closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _reply(self):
        while True:
            m = self._message()
            if "event" not in m:
                return m

    def execute(self, cmd, **args):
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        r = self._reply()
        if "error" in r:
            raise RuntimeError(f"QMP {cmd}: {r['error']}")
        return r.get("return")

    def hmp(self, line):
        return self.execute("human-monitor-command", **{"command-line": line})

    def close(self):
        self.sock.close()


@contextlib.contextmanager
def live_boot(builddir, cmdline, machine=None, start=r"^keel: \d+ envs? started", timeout=120.0):
    """Boot cmdline (boot/keelqemu.py) in a thread with a QMP socket and, once the serial
    console matches `start` (at once if start is None), yield (QMP, serial log path, result): result["r"] is the
    BootResult once the boot has ended (after the block, at the latest). The QMP is None
    when QEMU ended before it could be reached. The block may stop, read and quit the
    guest; the boot's own timeout ends it otherwise."""
    import keelqemu  # beside this file; imported late: keelqemu knows nothing of QMP
    tmp = tempfile.mkdtemp(prefix="keel-qmp-", dir="/tmp")  # short: sun_path is 108 bytes
    sock, log_path = os.path.join(tmp, "qmp.sock"), os.path.join(tmp, "serial.log")
    result = {}

    def run():
        result["r"] = keelqemu.boot(builddir, cmdline, machine or keelqemu.Machine(), timeout=timeout,
                                    extra=["-qmp", f"unix:{sock},server=on,wait=off"], log_path=log_path)

    # The boot runs in a thread, where keelqemu cannot install its handlers
    # that kill our QEMUs when this process is told to stop: install them here.
    keelqemu._install_stop_handlers()
    th = threading.Thread(target=run)
    th.start()
    qmp = None
    try:
        deadline = time.monotonic() + timeout
        while start is not None and th.is_alive() and time.monotonic() < deadline:
            if os.path.exists(log_path) and re.search(start, Path(log_path).read_text(errors="replace"), re.M):
                break
            time.sleep(0.02)
        try:
            qmp = QMP(sock, timeout=30.0)
        except (ConnectionError, OSError):
            qmp = None  # QEMU ended first: result says how
        yield qmp, log_path, result
    finally:
        if qmp:
            qmp.close()
        th.join()
        shutil.rmtree(tmp, ignore_errors=True)
