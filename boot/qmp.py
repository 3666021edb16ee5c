"""Just enough of QEMU's machine protocol (QMP) for Keel's tools: commands,
and the human monitor's commands through it. Used by tests/ptwalk.py (the
page-table walker) and boot/replay.py (record/replay seeks)."""

import json
import socket
import time


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
