#!/usr/bin/python3
"""bench/ktrace.py: one trace for the whole system, as Chrome trace-event JSON.

A boot with `trace=on` ends with the kernel's rings on the serial console
(kern/trace.c), one block per CPU:

    ktrace: begin cpu=C events=N dropped=D sites=S
    ktrace: t_ns,event,env,a,b
    ktrace: T,EVENT,ENV,A,B         N rows, oldest first
    ktrace: end cpu=C

and each libOS that dumps its scheduling trace prints `sched-trace:` lines
(bench/schedtrace.py), whose begin line names its env (env=ID). Both use one
clock (ns since kernel entry; under icount, guest instructions), so they merge
on one timeline. This module turns a serial log into the JSON format that
Perfetto (ui.perfetto.dev) and chrome://tracing open, and a PNG timeline:

  - process "kernel", one track per CPU: which env the CPU runs (a slice per
    stretch), idle stretches, and the interrupts it takes (timer, irq, ipi);
  - one process per env, its first track the env itself: when it runs,
    and its syscalls, upcalls, faults and revocations as instants;
  - below it, one track per libOS thread of that env: when it runs;
  - flows (arrows): every upcall, from the CPU's track to the env it enters,
    and every protected control transfer (pct), caller -> callee at the
    call and callee -> caller at the reply.

Usage:

    bench/ktrace.py convert LOG [--json OUT] [--png OUT]
    bench/ktrace.py run --builddir B [--cpu M] [--mem S] [--machine T] [--icount]
                        [--cmdline "..."] [--timeout S] [--out DIR]

`run` boots with the command line plus trace=on (serial log to a file) and
converts: DIR/serial.log, DIR/trace.json, DIR/trace.png (./keel trace).

Importable: parse_ktrace(text) -> [CpuDump]; chrome_trace(text) -> dict;
check_balanced(doc) -> [problems]; plot_timeline(doc, path).
"""

import argparse
import collections
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent
sys.path.insert(0, str(HERE))
import schedtrace  # noqa: E402

ABI_H = SRC / "kern" / "uapi" / "keel" / "abi.h"
BEGIN_RE = re.compile(r"^ktrace: begin cpu=(\d+) events=(\d+) dropped=(\d+) sites=(\d+)$")
END_RE = re.compile(r"^ktrace: end cpu=(\d+)$")
HEADER = "ktrace: t_ns,event,env,a,b"
ROW_RE = re.compile(r"^ktrace: (\d+),([a-z-]+|\?),(\d+),(\d+),(\d+)$")
ENV_RE = re.compile(r"^env (\d+) \(([^)]*)\): (?:loaded at|spawned by)", re.M)
SCHED_ENV_RE = re.compile(r"\benv=(\d+)\b")
KERNEL_PID = 1
UPCALL_KINDS = {0: "event", 1: "trap", 2: "pct"}

Event = collections.namedtuple("Event", "t ev env a b")


@dataclass
class CpuDump:
    cpu: int
    declared: int
    dropped: int
    sites: int
    events: list = field(default_factory=list)
    complete: bool = False


def parse_ktrace(text):
    """The kernel's per-CPU dumps in a serial log; only complete ones (an
    end line seen), the last dump of each CPU."""
    out, cur = {}, None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.startswith("ktrace: "):
            continue
        m = BEGIN_RE.match(line)
        if m:
            cur = CpuDump(*map(int, m.groups()))
            continue
        if cur is None or line == HEADER:
            continue
        m = END_RE.match(line)
        if m:
            cur.complete = int(m.group(1)) == cur.cpu and len(cur.events) == cur.declared
            if cur.complete:
                out[cur.cpu] = cur
            cur = None
            continue
        m = ROW_RE.match(line)
        if m:
            cur.events.append(Event(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)),
                                    int(m.group(5))))
    return [out[c] for c in sorted(out)]


def syscall_names():
    """{number: name} from the ABI header, SYS_CONSOLE_WRITE -> console_write."""
    try:
        text = ABI_H.read_text()
    except OSError:
        return {}
    return {int(n): name.lower() for name, n in re.findall(r"^#define SYS_(\w+)\s+(\d+)", text, re.M)
            if name != "COUNT"}


def env_names(text):
    return {int(i): n for i, n in ENV_RE.findall(text)}


def sched_dumps(text):
    """{env id: the last complete libOS scheduling dump of that env}."""
    lines = text.splitlines()
    out = {}
    for d in schedtrace.parse_dumps(text):
        m = SCHED_ENV_RE.search(lines[d.line - 1])
        if m:
            out[int(m.group(1))] = d
    return out


def _us(ns):
    return ns / 1000.0


def env_pid(env):
    return 1000 + env


def env_tid(env):
    return 10000 * env


def thread_tid(env, tid):
    return 10000 * env + tid


def chrome_trace(text):
    """The Chrome trace-event document (a dict) for a serial log."""
    dumps = parse_ktrace(text)
    names = env_names(text)
    sysname = syscall_names()
    sched = sched_dumps(text)
    ev = []
    seen_envs = set(names)
    flow_id = [0]

    def meta(kind, pid, tid, name, sort=None):
        ev.append(dict(ph="M", name=kind, pid=pid, tid=tid, args=dict(name=name)))
        if sort is not None:
            ev.append(dict(ph="M", name=kind.replace("_name", "_sort_index"), pid=pid, tid=tid,
                           args=dict(sort_index=sort)))

    def label(env):
        return f"env {env} ({names.get(env, '?')})"

    def flow(t, src, dst, name, enclosing_dst):
        flow_id[0] += 1
        ev.append(dict(ph="s", id=flow_id[0], name=name, cat="flow", ts=_us(t), pid=src[0], tid=src[1]))
        f = dict(ph="f", id=flow_id[0], name=name, cat="flow", ts=_us(t), pid=dst[0], tid=dst[1])
        if enclosing_dst:
            f["bp"] = "e"
        ev.append(f)

    meta("process_name", KERNEL_PID, 0, "kernel", 0)
    for d in dumps:
        cpu_track = (KERNEL_PID, d.cpu + 1)
        meta("thread_name", KERNEL_PID, d.cpu + 1, f"CPU {d.cpu}", d.cpu)
        cur, running, idle = None, False, False
        last_t = d.events[-1].t if d.events else 0

        def begin(t, env):
            nonlocal running
            seen_envs.add(env)
            ev.append(dict(ph="B", name=label(env), cat="run", ts=_us(t), pid=cpu_track[0], tid=cpu_track[1],
                           args=dict(env=env)))
            ev.append(dict(ph="B", name="running", cat="run", ts=_us(t), pid=env_pid(env), tid=env_tid(env),
                           args=dict(cpu=d.cpu)))
            running = True

        def end(t):
            nonlocal running
            if running:
                ev.append(dict(ph="E", ts=_us(t), pid=cpu_track[0], tid=cpu_track[1]))
                ev.append(dict(ph="E", ts=_us(t), pid=env_pid(cur), tid=env_tid(cur)))
            running = False

        def instant(t, pid, tid, name, args):
            ev.append(dict(ph="i", s="t", name=name, ts=_us(t), pid=pid, tid=tid, args=args))

        for e in d.events:
            if cur is None and not idle and not running and e.ev in ("syscall", "fault") and e.env:
                # The ring lost the switch to the env that makes this call
                # (dropped events): it is running now.
                cur = e.env
                begin(e.t, cur)
            if e.ev == "switch":
                end(e.t)
                cur = e.env
                begin(e.t, cur)
            elif e.ev == "exit":
                seen_envs.add(e.env)
                if e.env == cur:
                    end(e.t)
                    cur = None
                instant(e.t, env_pid(e.env), env_tid(e.env), "exit", {})
            elif e.ev == "idle":
                if e.a == 0 and not idle:
                    end(e.t)
                    ev.append(dict(ph="B", name="idle", cat="idle", ts=_us(e.t), pid=cpu_track[0],
                                   tid=cpu_track[1]))
                    idle = True
                elif e.a == 1 and idle:
                    ev.append(dict(ph="E", ts=_us(e.t), pid=cpu_track[0], tid=cpu_track[1]))
                    idle = False
                    if cur is not None:
                        begin(e.t, cur)
            elif e.ev == "syscall":
                instant(e.t, env_pid(e.env), env_tid(e.env), f"syscall {sysname.get(e.a, e.a)}",
                        dict(nr=e.a))
            elif e.ev == "upcall":
                kind = UPCALL_KINDS.get(e.a, str(e.a))
                instant(e.t, env_pid(e.env), env_tid(e.env), f"upcall {kind}", dict(kind=kind, detail=e.b))
                flow(e.t, cpu_track, (env_pid(e.env), env_tid(e.env)), f"upcall {kind}",
                     running and e.env == cur)
            elif e.ev == "fault":
                instant(e.t, env_pid(e.env), env_tid(e.env), f"fault {e.a}", dict(vector=e.a, address=hex(e.b)))
            elif e.ev == "revoke":
                instant(e.t, env_pid(e.env), env_tid(e.env), "revoked", dict(type=e.a, slot=e.b))
            elif e.ev == "pct-call":
                seen_envs.add(e.a)
                flow(e.t, (env_pid(e.env), env_tid(e.env)), (env_pid(e.a), env_tid(e.a)), "pct call", False)
            elif e.ev == "pct-reply":
                seen_envs.add(e.a)
                flow(e.t, (env_pid(e.env), env_tid(e.env)), (env_pid(e.a), env_tid(e.a)), "pct reply", False)
            elif e.ev in ("timer", "irq", "ipi"):
                args = dict(vector=e.a, gsi=e.b) if e.ev == "irq" else \
                    dict(vector=e.a, target=e.b) if e.ev == "ipi" else {}
                if e.env:
                    args["env"] = e.env
                instant(e.t, cpu_track[0], cpu_track[1], e.ev, args)
        end(last_t)
        if idle:
            ev.append(dict(ph="E", ts=_us(last_t), pid=cpu_track[0], tid=cpu_track[1]))

    for env, dump in sched.items():
        seen_envs.add(env)
        for tid, ivs in sorted(schedtrace.running_intervals(dump).items()):
            t = thread_tid(env, tid)
            meta("thread_name", env_pid(env), t, f"thread {tid} {schedtrace.thread_name(dump, tid)}", tid)
            for a, b in ivs:
                ev.append(dict(ph="B", name="running", cat="thread", ts=_us(a), pid=env_pid(env), tid=t))
                ev.append(dict(ph="E", ts=_us(b), pid=env_pid(env), tid=t))
        for e in dump.events:
            if e.ev in ("miss", "exit", "policy", "activation"):
                ev.append(dict(ph="i", s="t", name=f"libos {e.ev}", ts=_us(e.t), pid=env_pid(env),
                               tid=thread_tid(env, e.tid) if e.tid else env_tid(env), args=dict(a=e.a, b=e.b)))
    for env in sorted(seen_envs):
        meta("process_name", env_pid(env), 0, label(env), env)
        meta("thread_name", env_pid(env), env_tid(env), label(env), 0)
    other = dict(cpus=len(dumps), events=sum(len(d.events) for d in dumps),
                 dropped=sum(d.dropped for d in dumps), sites=dumps[0].sites if dumps else 0,
                 libos_dumps=sorted(sched), clock="ns since kernel entry (under -icount: guest instructions)")
    return dict(traceEvents=ev, displayTimeUnit="ns", otherData=other)


def check_balanced(doc):
    """Problems with B/E pairing: every B has its E on the same track, in
    order, with time never going backwards on a track. [] when sound."""
    problems, stacks, last = [], collections.defaultdict(list), {}
    for e in doc["traceEvents"]:
        if e["ph"] not in ("B", "E"):
            continue
        track = (e["pid"], e["tid"])
        if e["ts"] < last.get(track, float("-inf")):
            problems.append(f"track {track}: time goes backwards at {e['ts']}")
        last[track] = e["ts"]
        if e["ph"] == "B":
            stacks[track].append(e)
        elif not stacks[track]:
            problems.append(f"track {track}: an E at {e['ts']} without its B")
        else:
            stacks[track].pop()
    for track, st in stacks.items():
        for b in st:
            problems.append(f"track {track}: a B at {b['ts']} ({b.get('name')}) without its E")
    return problems


def summary(doc):
    c = collections.Counter(e["ph"] for e in doc["traceEvents"])
    o = doc["otherData"]
    tracks = {(e["pid"], e["tid"]) for e in doc["traceEvents"] if e["ph"] != "M"}
    return (f"ktrace: {o['events']} kernel events on {o['cpus']} CPU(s), {o['dropped']} dropped, "
            f"{o['sites']} sites; {len(tracks)} tracks, {c['B']} slices, {c['i']} instants, {c['s']} flows; "
            f"libOS dumps from env(s) {o['libos_dumps'] or 'none'}")


# ----------------------------------------------------------------- the picture
def plot_timeline(doc, path):
    """A PNG: one lane per track with running slices, upcall and fault
    markers. Raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    slices, open_ = collections.defaultdict(list), {}
    marks = collections.defaultdict(list)
    for e in doc["traceEvents"]:
        k = (e.get("pid"), e.get("tid"))
        if e["ph"] == "B":
            open_.setdefault(k, []).append(e)
        elif e["ph"] == "E" and open_.get(k):
            b = open_[k].pop()
            slices[k].append((b["ts"], e["ts"] - b["ts"], b.get("name", "")))
        elif e["ph"] == "i" and (e["name"].startswith("upcall") or e["name"].startswith("fault")):
            marks[k].append((e["ts"], e["name"]))
    lanes = sorted(set(slices) | set(marks), key=lambda k: (k[0], k[1]))
    if not lanes:
        lanes = [(KERNEL_PID, 1)]
    colours = plt.get_cmap("tab20")
    env_colour = {}

    def colour(name):
        if name == "idle":
            return "#cccccc"
        return env_colour.setdefault(name, colours(len(env_colour) % 20))

    fig, ax = plt.subplots(figsize=(14, max(3.0, 1.2 + 0.35 * len(lanes))))
    t0 = min((s[0] for v in slices.values() for s in v), default=0)
    for y, k in enumerate(reversed(lanes)):
        segs = slices.get(k, [])
        ax.broken_barh([((a - t0) / 1000, max(w, 1e-3) / 1000) for a, w, _ in segs], (y - 0.3, 0.6),
                       facecolors=[colour(n if k[0] == KERNEL_PID else names.get(k, "")) for _, _, n in segs],
                       linewidth=0)
        up = [(t - t0) / 1000 for t, n in marks.get(k, []) if n.startswith("upcall")]
        fl = [(t - t0) / 1000 for t, n in marks.get(k, []) if n.startswith("fault")]
        if up:
            ax.plot(up, [y + 0.38] * len(up), ls="none", marker="v", ms=3, color="#2ca02c")
        if fl:
            ax.plot(fl, [y + 0.38] * len(fl), ls="none", marker="x", ms=4, color="#d62728")
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([names.get(k, str(k)) for k in reversed(lanes)], fontsize="small")
    o = doc["otherData"]
    ax.set_xlabel(f"ms after the first slice, at {t0 / 1000:.3f} ms after kernel entry "
                  "(kernel clock; under -icount 1 ms = 10^6 guest instructions)")
    ax.set_title(f"Keel: one trace for the whole system -- {o['events']} kernel events, {o['dropped']} dropped "
                 f"(v upcall, x fault)", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------- main
def convert(text, json_path=None, png_path=None):
    doc = chrome_trace(text)
    if not doc["otherData"]["cpus"]:
        print("ktrace: no complete kernel trace (ktrace: begin ... end) in the log: was trace=on given?",
              file=sys.stderr)
        return 1
    for p in check_balanced(doc):
        print(f"ktrace: warning: {p}", file=sys.stderr)
    if json_path:
        Path(json_path).write_text(json.dumps(doc))
        print(f"ktrace: Chrome trace-event JSON written to {json_path} (open it in ui.perfetto.dev)")
    if png_path:
        try:
            plot_timeline(doc, png_path)
            print(f"ktrace: timeline written to {png_path}")
        except ImportError as e:
            print(f"ktrace: no PNG: matplotlib is missing ({e}); install python3-matplotlib", file=sys.stderr)
    print(summary(doc))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Kernel + libOS trace to Chrome trace-event JSON and a PNG.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="convert a serial log")
    c.add_argument("log")
    c.add_argument("--json")
    c.add_argument("--png")
    r = sub.add_parser("run", help="boot with trace=on and convert (./keel trace)")
    r.add_argument("--builddir", required=True)
    r.add_argument("--cpu", default="max")
    r.add_argument("--mem", default="512M")
    r.add_argument("--machine", default="q35")
    r.add_argument("--icount", action="store_true")
    r.add_argument("--screen", action="store_true")
    r.add_argument("--smp", type=int, default=1)
    r.add_argument("--display", default="none")
    r.add_argument("--firmware", default="bios", choices=("bios", "uefi"))
    r.add_argument("--accel", default="")
    r.add_argument("--cmdline", default=None)
    r.add_argument("--timeout", type=float, default=600.0)
    r.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.cmd == "convert":
        text = sys.stdin.read() if a.log == "-" else Path(a.log).read_text(errors="replace")
        return convert(text, a.json, a.png)
    sys.path.insert(0, str(SRC / "boot"))
    import keelqemu

    cmdline = (a.cmdline if a.cmdline is not None else keelqemu.DEMO_CMDLINE) + " trace=on"
    out = Path(a.out or Path(a.builddir) / "trace")
    out.mkdir(parents=True, exist_ok=True)
    m = keelqemu.Machine(cpu=a.cpu, mem=a.mem, machine=a.machine, icount=a.icount, firmware=a.firmware,
                         accel=a.accel, smp=a.smp, vga="std" if a.screen or a.display != "none" else "none",
                         display=a.display)
    log_path = out / "serial.log"
    print(f"ktrace: booting: {cmdline}", file=sys.stderr)
    res = keelqemu.boot(a.builddir, cmdline, m, timeout=a.timeout, log_path=str(log_path))
    print(f"ktrace: boot ended: {res.verdict}; serial log {log_path}", file=sys.stderr)
    rc = convert(res.log, out / "trace.json", out / "trace.png")
    return rc or (0 if res.verdict == "success" else 1)


if __name__ == "__main__":
    sys.exit(main())
