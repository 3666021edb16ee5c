"""One trace for the whole system (docs/debugging.md): the kernel's trace
rings, their sites, the trace capability, and bench/ktrace.py's Chrome
trace-event JSON."""

import json
import re
import struct
import subprocess
import sys

import pytest

import keelqemu
from qmp import live_boot
from conftest import BUILD, SRC, Com2Boot, Keel

sys.path.insert(0, str(SRC / "bench"))
import ktrace  # noqa: E402

# A seeded libOS workload (its scheduling trace dumped), a pct server and
# client, and threads:overflow (demand-mapped stack pages to its guard):
# every kind of event but device interrupts.
TRACED = "run=sched:trace:7,ipc:server,ipc:client:50,threads:overflow timeslice_us=1000"
NOP5 = bytes([0x0F, 0x1F, 0x44, 0x00, 0x00])


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """Two icount boots of TRACED with trace=on: the first through ktrace's
    own `run` (what ./keel trace executes), the second through the harness."""
    out = tmp_path_factory.mktemp("ktrace")
    rc = ktrace.main(["run", "--builddir", str(BUILD), "--icount", "--cmdline", TRACED, "--timeout", "120",
                      "--out", str(out)])
    first = (out / "serial.log").read_text(errors="replace")
    second = Keel().boot(TRACED + " trace=on", icount=True, timeout=120)
    return rc, first, second, out


def rows(log):
    return [line for line in log.splitlines() if line.startswith(("ktrace: ", "sched-trace: ", "sched-thread: "))]


def test_a_seeded_icount_trace_is_the_same_on_every_run(traced):
    rc, first, second, _ = traced
    second.expect_verdict("success")
    assert rc == 0, f"ktrace run failed:\n{first[-3000:]}"
    a, b = rows(first), rows(second.log)
    assert sum(r.startswith("ktrace: ") for r in a) > 500, "the kernel trace is (nearly) empty"
    assert any(r.startswith("sched-trace: ") for r in a), "no libOS trace in the run"
    diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    assert len(a) == len(b) and diff is None, \
        f"the two runs' traces differ: {len(a)} vs {len(b)} lines, first at {diff}: " \
        f"{a[diff] if diff is not None else ''!r} vs {b[diff] if diff is not None else ''!r}"


def test_the_trace_agrees_with_the_kernels_own_counters(traced):
    b = traced[2]
    s = b.expect_nothing_leaked(started=4, failed=0)
    dumps = ktrace.parse_ktrace(b.log)
    assert len(dumps) == 1 and dumps[0].complete, "one complete dump, for cpu0"
    d = dumps[0]
    assert d.dropped == 0, f"{d.dropped} events dropped: the counts cannot be compared"
    n = {}
    for e in d.events:
        key = e.ev if e.ev != "upcall" else f"upcall-{ktrace.UPCALL_KINDS[e.a]}"
        n[key] = n.get(key, 0) + 1
    for kind, counter in [("switch", "switches"), ("timer", "timer"), ("upcall-event", "upcalls"),
                          ("upcall-trap", "trap_upcalls"), ("upcall-pct", "pct_upcalls"), ("irq", "irqs"),
                          ("exit", "started")]:
        assert n.get(kind, 0) == s[counter], \
            f"{kind} events: {n.get(kind, 0)}, the summary's {counter}: {s[counter]} (all kinds: {n})"
    assert n["pct-call"] == n["pct-reply"] == s["pct_upcalls"] == 52, n  # 50 calls, the client's 2 probes
    assert n.get("fault", 0) >= s["trap_upcalls"] > 0, n
    assert n["syscall"] > 1000, n
    ts = [e.t for e in d.events]
    assert ts == sorted(ts), "the kernel clock went backwards in the ring"
    # The libOS's events fall inside the kernel's, on the same clock.
    lib = [int(r.split(",")[0].split()[-1]) for r in rows(b.log)
           if re.match(r"^sched-trace: \d+,", r)]
    assert lib and ts[0] <= min(lib) and max(lib) <= ts[-1], (ts[0], min(lib), max(lib), ts[-1])


def test_the_chrome_trace_is_valid_json_and_every_begin_has_its_end(traced):
    _, _, _, out = traced
    doc = json.loads((out / "trace.json").read_text())
    assert ktrace.check_balanced(doc) == []
    ev = doc["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "CPU 0" in names.values()
    for env, name in ((1, "sched"), (2, "ipc"), (3, "ipc")):
        assert f"env {env} ({name})" in names.values(), names
    assert sum(v.startswith("thread ") for v in names.values()) >= 5, "a track per libOS thread of env 1"
    flows = {}
    for e in ev:
        if e["ph"] in "sf":
            flows.setdefault(e["id"], []).append(e)
    assert flows and all(sorted(x["ph"] for x in f) == ["f", "s"] for f in flows.values())
    kinds = {f[0]["name"] for f in flows.values()}
    assert {"upcall event", "upcall pct", "pct call", "pct reply"} <= kinds, kinds
    for e in ev:
        assert e["ph"] in "MBEisf" and (e["ph"] == "M" or e["ts"] >= 0), e
    png = (out / "trace.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000


def test_the_converter_pairs_slices_and_flows_on_a_made_up_log():
    log = "\n".join([
        "env 1 (a): loaded at 0x1000", "env 2 (b): loaded at 0x2000",
        "ktrace: begin cpu=0 events=9 dropped=0 sites=21", "ktrace: t_ns,event,env,a,b",
        "ktrace: 1000,switch,1,0,0", "ktrace: 1500,syscall,1,22,0", "ktrace: 1600,pct-call,1,2,0",
        "ktrace: 1700,upcall,2,2,1", "ktrace: 1800,switch,2,1,0", "ktrace: 2500,pct-reply,2,1,0",
        "ktrace: 2600,switch,1,2,0", "ktrace: 3000,idle,0,0,0", "ktrace: 4000,exit,1,0,0",
        "ktrace: end cpu=0", "sched-trace: begin policy=rr events=2 dropped=0 env=1",
        "sched-thread: 1,main", "sched-trace: t_ns,event,tid,a,b", "sched-trace: 1000,switch,1,0,0",
        "sched-trace: 2900,exit,1,0,0", "sched-trace: end"])
    doc = ktrace.chrome_trace(log)
    assert ktrace.check_balanced(doc) == []
    slices = [(e["pid"], e["tid"], e["name"], e["ts"]) for e in doc["traceEvents"] if e["ph"] == "B"]
    assert (ktrace.KERNEL_PID, 1, "env 1 (a)", 1.0) in slices and (ktrace.KERNEL_PID, 1, "idle", 3.0) in slices
    assert (ktrace.env_pid(2), ktrace.env_tid(2), "running", 1.8) in slices
    assert (ktrace.env_pid(1), ktrace.thread_tid(1, 1), "running", 1.0) in slices
    flows = [(e["ph"], e["pid"], e["name"]) for e in doc["traceEvents"] if e["ph"] in "sf"]
    assert ("s", ktrace.env_pid(1), "pct call") in flows and ("f", ktrace.env_pid(2), "pct call") in flows
    assert ("s", ktrace.KERNEL_PID, "upcall pct") in flows
    # A begin without its end is caught.
    doc["traceEvents"].append(dict(ph="B", name="x", ts=5.0, pid=9, tid=9))
    assert ktrace.check_balanced(doc)


def test_trace_sites_are_nops_when_off_and_jumps_when_on(keel):
    b = keel.run_test("trace_sites_are_nops_until_switched_on")
    b.expect(r"^# on: (\d+) of \1 sites jump; the first at 0x[0-9a-f]+: e9 ")
    b.expect(r"^# off: (\d+) of \1 sites are `nopl 0\(%rax,%rax,1\)` again")


def built_sites():
    """[(site, target)] from the built kernel's .trace_sites, and a reader of its bytes."""
    elf = BUILD / "kern" / "keel.elf"
    syms = dict((l.split()[2], int(l.split()[0], 16)) for l in subprocess.check_output(["nm", str(elf)], text=True)
                .splitlines() if len(l.split()) == 3)
    start, end = syms["__trace_sites_start"], syms["__trace_sites_end"]
    sections = {}
    for l in subprocess.check_output(["readelf", "-S", "-W", str(elf)], text=True).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", l)
        if m:
            sections[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
    blob = elf.read_bytes()

    def read(va, n):
        for addr, off, size in sections.values():
            if addr <= va and va + n <= addr + size:
                return blob[off + va - addr: off + va - addr + n]
        raise AssertionError(f"{va:#x} is in no section")

    return [struct.unpack("<QQ", read(a, 16)) for a in range(start, end, 16)], read


def test_every_site_in_the_built_kernel_is_one_five_byte_nop():
    """From outside the guest: the image's .trace_sites, and the bytes at
    each site in its text, as objdump decodes them (an instruction of its
    own, not the middle of another)."""
    elf = BUILD / "kern" / "keel.elf"
    sites, read = built_sites()
    assert len(sites) >= 12
    dis = subprocess.check_output(["objdump", "-d", "--no-show-raw-insn", str(elf)], text=True)
    insns = dict(re.findall(r"^([0-9a-f]+):\s+(.*)$", dis, re.M))
    for at, target in sites:
        assert read(at, 5) == NOP5, f"site {at:#x}: {read(at, 5).hex()}"
        assert insns.get(f"{at:x}", "").startswith("nopl   0x0(%rax,%rax,1)"), f"site {at:#x}: {insns.get(f'{at:x}')}"
        assert f"{target:x}" in insns, f"site {at:#x}: its target {target:#x} is not an instruction"


def test_the_trace_capability_refuses_every_bad_request_and_gives_its_frames_back(keel):
    b = keel.boot("run=tracer:errors,tracer:idle grant=0:trace quota_frames=128").expect_verdict("success")
    b.expect(r"^tracer: ok on beyond the frame quota$")
    b.expect(r"^tracer: ok the revocation is in the trace$")
    b.expect(r"^tracer: 3000 random calls: [1-9]\d* accepted, [1-9]\d* refused$")
    b.expect(r"^tracer: ok after the random calls, its frames are back$")
    b.expect(r"^tracer: (\d+) checks, 0 failed$")
    b.expect_not(r"^tracer: FAIL")
    b.expect_nothing_leaked(started=2, failed=0)  # it ended with the trace on: the rings came back


def test_without_the_capability_every_trace_call_is_refused(keel):
    b = keel.boot("run=tracer:nocap").expect_verdict("success")
    b.expect(r"^tracer: 15 checks, 0 failed$")
    b.expect_nothing_leaked(started=1, failed=0)
    b.expect_not(r"^ktrace: ")


def live_site_bytes(cmdline):
    """Boot cmdline, stop the guest once its envs run, and read each site's
    five bytes of the live kernel text through QEMU's monitor."""
    sites, _ = built_sites()
    live = {}
    with live_boot(BUILD, cmdline, keelqemu.Machine(), timeout=60) as (qmp, _, result):
        assert qmp is not None, f"QEMU ended before its monitor was reached: {result}"
        qmp.execute("stop")
        for at, target in sites:
            out = qmp.hmp(f"x /5bx {at:#x}")
            live[at] = (bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})\b", out.split(":", 1)[1])), target)
        qmp.execute("quit")
    return live


def test_the_live_kernel_text_holds_nops_when_off_and_jumps_when_on():
    """Read from outside, with the guest stopped while its envs run: off,
    every site is the NOP; with trace=on, every site is `jmp rel32` to its
    recording code."""
    off = live_site_bytes("run=spin:a:50")
    assert off and all(b == NOP5 for b, _ in off.values()), {hex(a): b.hex() for a, (b, _) in off.items()}
    on = live_site_bytes("run=spin:a:50 trace=on")
    for at, (b, target) in on.items():
        want = b"\xe9" + struct.pack("<i", target - (at + 5))
        assert b == want, f"site {at:#x}: {b.hex()}, want {want.hex()}"


def test_device_interrupts_in_the_trace_agree_with_the_kernels_count(keel):
    """IRQ 3 from COM2, bound by a Ring 3 driver: one irq event per device
    interrupt the kernel counted, each with COM2's vector and GSI and the
    driver's env; and the event upcalls that brought them."""
    payload = bytes(range(64))
    c = Com2Boot(keel, "run=com2:echo:64 grant=0:irq3,0:io0x2f8+8 trace=on")
    assert c.wait_for(r"^com2 echo: ready"), c.log()[-3000:]
    c.connect()
    assert c.exchange(payload) == payload
    b = c.finish()
    b.expect_verdict("success")
    s = b.expect_nothing_leaked(started=1, failed=0)
    d = ktrace.parse_ktrace(b.log)[0]
    assert d.dropped == 0
    irqs = [e for e in d.events if e.ev == "irq"]
    assert s["irqs"] > 0 and len(irqs) == s["irqs"], (len(irqs), s["irqs"])
    assert all((e.a, e.b, e.env) == (0x33, 3, 1) for e in irqs), irqs[:5]
    ups = sum(e.ev == "upcall" and e.a == 0 for e in d.events)
    assert ups == s["upcalls"] > 0, (ups, s["upcalls"])
