#!/usr/bin/python3
"""bench/schedtrace.py: per-thread metrics and a Gantt chart from a Keel
libOS scheduling trace.

The libOS dispatcher records scheduling events in a ring (libos/trace.c);
trace_dump() prints it on the serial console, where it is interleaved with
whatever else the system prints. This script finds the dump in a serial log,
rebuilds who ran when, and reports per-thread figures in the manner of
LITMUS^RT's st-job-stats and SimSo: CPU time, dispatches, preemptions, and
for periodic threads the response time, lateness and tardiness of each job.

Usage:

    bench/schedtrace.py LOG [--dump K] [--png FILE] [--json FILE] [--csv FILE]
                            [--from-ms MS] [--to-ms MS] [--max-lanes N]

    LOG          a serial log ("-": standard input)
    --dump K     use the K-th complete dump (0-based; negative counts from
                 the end; default: the last)
    --png FILE   write a Gantt chart (needs python3-matplotlib)
    --json FILE  write the per-thread metrics and totals as JSON
    --csv FILE   write one row per completed job
    --from-ms, --to-ms
                 crop the chart to this window (ms after the first event)
    --max-lanes  the most thread lanes in the chart (default 30: those with
                 the most CPU time)

The dump format (every line starts with its prefix; other lines are ignored):

    sched-trace: begin policy=NAME events=N dropped=D env=ID   (ID: the env that dumped it)
    sched-thread: TID,NAME              zero or more
    sched-trace: t_ns,event,tid,a,b     the CSV header, literally
    sched-trace: T,EVENT,TID,A,B        N rows, oldest first
    sched-trace: end

T is ns of the kernel clock since kernel entry. D > 0 means the ring
overflowed and its D oldest events are lost; the figures are then computed
from what is left, and a warning says so. EVENT is one of

    switch      TID starts running; A: the thread that ran before (0: none)
    preempt     TID's turn was cut (a tick or a woken thread)
    wake        TID became runnable
    block       TID blocked (A: the thread it joins, or 0)
    sleep       TID sleeps (A: until, ns)
    tick        quantum expiry seen while TID ran
    release     TID released job A; B: its nominal release time
    complete    TID completed job A at T; B: its absolute deadline
    miss        TID's job A completed late; B: lateness, ns
    create      thread TID was created
    exit        TID exited (A = 1: killed by a fault)
    policy      a policy switch (A = 1: the ejection of a broken policy);
                the initial installation at start-up is one too
    activation  the whole env was descheduled; A: ns lost (TID: the thread
                that was running, or 0)

How the figures are derived:

  - A thread runs from its switch event until the next switch event, or
    until its own block, sleep or exit event if that comes first (the CPU
    is then idle until the next switch). The thread running before the
    first switch (that switch's A) is taken to run from the first event.
    cpu_ns is the sum of these intervals; activation losses are reported
    separately, not subtracted.
  - A job's release time is B of the release event of the same thread and
    job number (the nominal release, as LITMUS^RT uses); response = the
    complete event's T - release. Without the release event (dropped) the
    job has no response time and no preemption count.
  - lateness = T - deadline; tardiness = max(0, lateness); a job misses if
    its lateness > 0. The miss events are cross-checked against this.
  - A job's preemptions are the thread's preempt events between its release
    event and its complete event.

Output: a table and, per thread, one line that tests grep:

    schedtrace: thread TID NAME: cpu_us=X jobs=J misses=M max_response_us=R max_lateness_us=L preemptions=P
    schedtrace: total misses=M jobs=J switches=S

(X, R, L: the floor of the value in microseconds; R and L are 0 for a
thread without completed jobs; P counts the thread's preempt events.)

Importable (bench/ on sys.path, then `import schedtrace`):

    parse_dumps(text, complete_only=True) -> [Dump]
    running_intervals(dump) -> {tid: [(start_ns, end_ns)]}
    jobs(dump) -> [per-job dict]
    metrics(dump) -> dict (threads, totals, jobs, intervals, warnings, ...)
    report(m) -> str;  summary_line(thread) -> str;  total_line(m) -> str
    plot_gantt(m, path, from_ms=None, to_ms=None, max_lanes=30, dump=None)
"""

import argparse
import collections
import csv
import json
import sys
from dataclasses import dataclass, field

BEGIN = "sched-trace: begin"
HEADER = "sched-trace: t_ns,event,tid,a,b"
HEADERS = (HEADER, HEADER + ",cpu")  # the cpu column: each event's CPU (0 in dumps from before it)
END = "sched-trace: end"
ROW = "sched-trace: "
THREAD = "sched-thread: "

EVENTS = frozenset(("switch", "preempt", "wake", "block", "sleep", "tick", "release", "complete", "miss",
                    "create", "exit", "policy", "activation"))
STOPS = frozenset(("block", "sleep", "exit"))  # the running thread stops running
# Events recorded by (or for) the thread that is running at the time.
RUNNING_EVENTS = frozenset(("preempt", "block", "sleep", "tick", "release", "complete", "miss", "exit"))
MAX_LANES = 30

Event = collections.namedtuple("Event", "t ev tid a b cpu", defaults=(0,))


@dataclass
class Dump:
    """One trace dump as found in the log."""

    policy: str  # the policy at dump time
    declared: int  # events=N
    dropped: int  # dropped=D
    line: int  # the log line of its begin line (1-based)
    names: dict = field(default_factory=dict)  # tid -> name
    events: list = field(default_factory=list)  # Event, oldest first
    warnings: list = field(default_factory=list)
    complete: bool = False  # its end line was seen


# ----------------------------------------------------------------- parsing
def _begin(line, no):
    kv = dict(tok.split("=", 1) for tok in line[len(BEGIN):].split() if "=" in tok)
    d = Dump(policy=kv.get("policy", "?"), declared=-1, dropped=0, line=no)
    for key in ("events", "dropped"):
        try:
            setattr(d, "declared" if key == "events" else key, int(kv[key]))
        except (KeyError, ValueError):
            d.warnings.append(f"line {no}: begin line without a valid {key}=")
    return d


def _row(text):
    """An Event from "T,EVENT,TID,A,B[,CPU]", or None if it is not one."""
    f = text.split(",")
    if len(f) not in (5, 6):
        return None
    try:
        return Event(int(f[0]), f[1].strip(), int(f[2]), int(f[3]), int(f[4]), int(f[5]) if len(f) == 6 else 0)
    except ValueError:
        return None


def _finish(d, no):
    d.complete = True
    if d.declared >= 0 and len(d.events) != d.declared:
        d.warnings.append(f"dump at line {d.line}: begin says {d.declared} events, found {len(d.events)}")
    unknown = collections.Counter(e.ev for e in d.events if e.ev not in EVENTS)
    for ev, n in sorted(unknown.items()):
        d.warnings.append(f"dump at line {d.line}: {n} events of unknown kind '{ev}' ignored")
    if any(b.t < a.t for a, b in zip(d.events, d.events[1:])):
        d.warnings.append(f"dump at line {d.line}: timestamps go backwards")


def parse_dumps(text, complete_only=True):
    """The trace dumps in a serial log, in log order.

    A dump is complete once its end line is seen; one cut short (a new begin
    or the end of the log first) is left out unless complete_only is False.
    """
    dumps, cur = [], None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if line.startswith(BEGIN):
            if cur is not None:
                dumps.append(cur)  # cut short
            cur = _begin(line, no)
        elif cur is None:
            continue
        elif line == END:
            _finish(cur, no)
            dumps.append(cur)
            cur = None
        elif line in HEADERS:
            continue
        elif line.startswith(THREAD):
            tid, _, name = line[len(THREAD):].partition(",")
            try:
                cur.names[int(tid)] = name
            except ValueError:
                cur.warnings.append(f"line {no}: malformed thread line")
        elif line.startswith(ROW):
            e = _row(line[len(ROW):])
            if e is None:
                cur.warnings.append(f"line {no}: malformed trace row")
            else:
                cur.events.append(e)
    if cur is not None:
        dumps.append(cur)
    return [d for d in dumps if d.complete or not complete_only]


# ----------------------------------------------------------------- analysis
def thread_name(dump, tid):
    return dump.names.get(tid, "?")


def _first_running(events):
    """The thread running at the first event: the A of the first switch, or
    failing a switch, the thread of the first event only a running thread
    records."""
    for e in events:
        if e.ev == "switch":
            return e.a or None
    for e in events:
        if e.ev in RUNNING_EVENTS and e.tid:
            return e.tid
    return None


def cpu_intervals(dump, warnings=None):
    """{cpu: [(start_ns, end_ns, tid), ...]}: what ran on each CPU, in time
    order (empty intervals left out). A CPU's events alone say what runs on
    it: a switch there starts a thread, a stop of the thread it runs ends
    it. A switch whose A is not the thread then running there is noted in
    warnings (if given)."""
    events = dump.events
    if not events:
        return {}
    per_cpu = collections.defaultdict(list)
    for e in events:
        per_cpu[e.cpu].append(e)
    out, odd = {}, 0
    end = events[-1].t
    for cpu, evs in sorted(per_cpu.items()):
        iv = []
        running, since = _first_running(evs), events[0].t
        for e in evs:
            if e.ev == "switch":
                odd += running is not None and e.a != running
                if running and e.t > since:
                    iv.append((since, e.t, running))
                running, since = e.tid or None, e.t
            elif e.ev in STOPS and e.tid == running:
                if e.t > since:
                    iv.append((since, e.t, running))
                running = None
        if running and end > since:
            iv.append((since, end, running))
        out[cpu] = iv
    if odd and warnings is not None:
        warnings.append(f"{odd} switch events name as the previous thread one that was not running")
    return out


def running_intervals(dump, warnings=None):
    """{tid: [(start_ns, end_ns), ...]}, each list in time order; empty
    intervals are left out (on any CPU: cpu_intervals)."""
    out = collections.defaultdict(list)
    for iv in cpu_intervals(dump, warnings).values():
        for a, b, tid in iv:
            out[tid].append((a, b))
    return {tid: sorted(v) for tid, v in out.items()}


def migrations(cpu_iv):
    """[(t_ns, tid, from_cpu, to_cpu)]: each time a thread ran on another CPU
    than the one it ran on last, from cpu_intervals()."""
    runs = sorted((a, tid, cpu) for cpu, iv in cpu_iv.items() for a, _, tid in iv)
    last, out = {}, []
    for t, tid, cpu in runs:
        if tid in last and last[tid] != cpu:
            out.append((t, tid, last[tid], cpu))
        last[tid] = cpu
    return out


def jobs(dump, warnings=None):
    """The completed jobs, in completion order, as dicts: tid, name, job,
    release_ns (None if its release event is missing), complete_ns,
    deadline_ns, response_ns, lateness_ns, tardiness_ns, missed, miss_event,
    preemptions (None without the release). Miss events are cross-checked
    against the lateness; disagreements go to warnings (if given)."""
    releases = {}  # (tid, job) -> (release_ns, the thread's preempt count then)
    preempts = collections.Counter()
    done, last = [], {}
    orphans = []
    for e in dump.events:
        if e.ev == "preempt":
            preempts[e.tid] += 1
        elif e.ev == "release":
            releases[(e.tid, e.a)] = (e.b, preempts[e.tid])
        elif e.ev == "complete":
            rel = releases.pop((e.tid, e.a), None)
            lateness = e.t - e.b
            j = dict(tid=e.tid, name=thread_name(dump, e.tid), job=e.a,
                     release_ns=rel[0] if rel else None, complete_ns=e.t, deadline_ns=e.b,
                     response_ns=e.t - rel[0] if rel else None, lateness_ns=lateness,
                     tardiness_ns=max(0, lateness), missed=lateness > 0, miss_event=False,
                     preemptions=preempts[e.tid] - rel[1] if rel else None)
            done.append(j)
            last[(e.tid, e.a)] = j
        elif e.ev == "miss":
            j = last.get((e.tid, e.a))
            if j is None or j["miss_event"]:
                orphans.append(e)
            else:
                j["miss_event"] = True
    if warnings is not None:
        for j in done:
            if j["missed"] != j["miss_event"]:
                warnings.append(f"thread {j['tid']} job {j['job']}: lateness {j['lateness_ns']} ns but "
                                f"{'no' if j['missed'] else 'a'} miss event")
        for e in orphans:
            warnings.append(f"miss event of thread {e.tid} job {e.a} at {e.t} ns without its complete event")
    return done


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def _thread_ids(dump):
    """Every thread the events mention (not the names of threads from before)."""
    tids = {e.tid for e in dump.events if e.tid and e.ev in EVENTS}
    tids |= {e.a for e in dump.events if e.ev == "switch" and e.a}
    return sorted(tids)


def _thread_metrics(dump, tid, intervals, done, span):
    own = [e for e in dump.events if e.tid == tid]
    count = collections.Counter(e.ev for e in own)
    resp = [j["response_ns"] for j in done if j["response_ns"] is not None]
    late = [j["lateness_ns"] for j in done]
    tard = [j["tardiness_ns"] for j in done]
    jpre = [j["preemptions"] for j in done if j["preemptions"] is not None]
    exits = [e for e in own if e.ev == "exit"]
    cpu = sum(b - a for a, b in intervals)
    return dict(
        tid=tid, name=thread_name(dump, tid), cpu_ns=cpu, cpu_share=cpu / span if span else None,
        dispatches=count["switch"], preemptions=count["preempt"], wakes=count["wake"],
        blocks=count["block"], sleeps=count["sleep"], ticks=count["tick"],
        jobs=len(done), misses=sum(j["missed"] for j in done), miss_events=count["miss"],
        response_mean_ns=_mean(resp), response_max_ns=max(resp, default=None),
        lateness_max_ns=max(late, default=None),
        tardiness_mean_ns=_mean(tard), tardiness_max_ns=max(tard, default=None),
        job_preemptions=sum(jpre),
        exit=None if not exits else ("fault" if exits[-1].a == 1 else "normal"),
        exit_ns=exits[-1].t if exits else None)


def metrics(dump):
    """Per-thread metrics and totals of one dump, as a dict: policy, events,
    dropped, first_ns, last_ns, span_ns, threads (a list of dicts, by tid),
    totals, jobs (see jobs()), intervals (see running_intervals()),
    policy_events [(t_ns, ejection)], activations [(t_ns, ns lost)], warnings."""
    warnings = list(dump.warnings)
    if dump.dropped:
        warnings.append(f"the ring overflowed: the {dump.dropped} oldest events are lost; "
                        "figures are from the remaining ones")
    ev = dump.events
    first, last = (ev[0].t, ev[-1].t) if ev else (0, 0)
    span = last - first
    civ = cpu_intervals(dump, warnings)
    iv = running_intervals(dump)
    done = jobs(dump, warnings)
    by_tid = collections.defaultdict(list)
    for j in done:
        by_tid[j["tid"]].append(j)
    threads = [_thread_metrics(dump, tid, iv.get(tid, []), by_tid[tid], span) for tid in _thread_ids(dump)]
    policy = [(e.t, e.a == 1) for e in ev if e.ev == "policy"]
    act = [(e.t, e.a) for e in ev if e.ev == "activation"]
    cpu = sum(t["cpu_ns"] for t in threads)
    ncpus = max(1, len(civ))
    totals = dict(
        threads=len(threads), span_ns=span, cpu_ns=cpu, idle_ns=span * ncpus - cpu,
        utilisation=cpu / (span * ncpus) if span else None,
        switches=sum(e.ev == "switch" for e in ev),
        policy_switches=len(policy), ejections=sum(ej for _, ej in policy),
        activations=len(act), activation_lost_ns=sum(a for _, a in act),
        jobs=len(done), misses=sum(j["missed"] for j in done),
        miss_events=sum(e.ev == "miss" for e in ev))
    cpus = [dict(cpu=c, busy_ns=sum(b - a for a, b, _ in civ[c]), dispatches=len(civ[c]),
                 utilisation=sum(b - a for a, b, _ in civ[c]) / span if span else None) for c in sorted(civ)]
    moves = migrations(civ)
    totals["cpus"] = len(cpus)
    totals["migrations"] = len(moves)
    return dict(policy=dump.policy, events=len(ev), dropped=dump.dropped, first_ns=first, last_ns=last,
                span_ns=span, threads=threads, totals=totals, jobs=done, intervals=iv,
                cpu_intervals=civ, cpus=cpus, migrations=moves,
                policy_events=policy, activations=act, warnings=warnings)


# ----------------------------------------------------------------- output
def _us(ns, width=10):
    return f"{'-':>{width}}" if ns is None else f"{ns / 1000:>{width}.1f}"


def _floor_us(ns):
    return 0 if ns is None else int(ns // 1000)


COLUMNS = (" tid name              cpu_us   cpu%  disp   pre  wake  jobs  miss"
           "  resp_mean   resp_max   late_max  tard_mean   tard_max  jpre")


def _table_row(t):
    share = "-" if t["cpu_share"] is None else f"{100 * t['cpu_share']:.1f}"
    jpre = t["job_preemptions"] if t["jobs"] else "-"
    return (f"{t['tid']:>4} {t['name'][:15]:<15} {_us(t['cpu_ns'], 9)} {share:>6} {t['dispatches']:>5} "
            f"{t['preemptions']:>5} {t['wakes']:>5} {t['jobs']:>5} {t['misses']:>5} "
            f"{_us(t['response_mean_ns'])} {_us(t['response_max_ns'])} {_us(t['lateness_max_ns'])} "
            f"{_us(t['tardiness_mean_ns'])} {_us(t['tardiness_max_ns'])} {jpre:>5}")


def summary_line(t):
    """The machine-checkable line for one thread."""
    return (f"schedtrace: thread {t['tid']} {t['name']}: cpu_us={_floor_us(t['cpu_ns'])} jobs={t['jobs']} "
            f"misses={t['misses']} max_response_us={_floor_us(t['response_max_ns'])} "
            f"max_lateness_us={_floor_us(t['lateness_max_ns'])} preemptions={t['preemptions']}")


def cpu_line(c):
    """The machine-checkable line for one CPU."""
    util = -1 if c["utilisation"] is None else round(1000 * c["utilisation"])
    return f"schedtrace: cpu {c['cpu']}: busy_us={_floor_us(c['busy_ns'])} runs={c['dispatches']} util_permille={util}"


def total_line(m):
    s = m["totals"]
    return f"schedtrace: total misses={s['misses']} jobs={s['jobs']} switches={s['switches']}"


def report(m):
    """The human-readable report, ending with the summary lines."""
    s = m["totals"]
    util = "-" if s["utilisation"] is None else f"{100 * s['utilisation']:.1f} %"
    out = [
        f"policy {m['policy']} (at dump time), {m['events']} events, {m['dropped']} dropped",
        f"span {s['span_ns'] / 1e6:.3f} ms (from {m['first_ns'] / 1e6:.3f} ms after kernel entry); threads ran "
        f"{s['cpu_ns'] / 1e6:.3f} ms, utilisation {util}, idle {s['idle_ns'] / 1e6:.3f} ms",
        f"switches {s['switches']}, policy switches {s['policy_switches']} (ejections {s['ejections']}), "
        f"activations {s['activations']} (the env descheduled: {s['activation_lost_ns'] / 1000:.1f} us lost)",
        f"jobs {s['jobs']}, deadline misses {s['misses']} (miss events {s['miss_events']})",
    ]
    if len(m["cpus"]) > 1:
        out.append(f"{len(m['cpus'])} CPUs, {s['migrations']} migrations; per CPU, the share of the span a thread ran:")
        out += [f"  cpu {c['cpu']}: {c['busy_ns'] / 1e6:.3f} ms in {c['dispatches']} runs, "
                f"utilisation {100 * c['utilisation']:.1f} %" for c in m["cpus"] if c["utilisation"] is not None]
    out += [
        "",
        "times in us; disp: switches to it; pre: preemptions; jpre: preemptions within its jobs",
        COLUMNS,
    ]
    out += [_table_row(t) for t in m["threads"]]
    for t in m["threads"]:
        if t["exit"] == "fault":
            out.append(f"note: thread {t['tid']} ({t['name']}) was killed by a fault at "
                       f"{(t['exit_ns'] - m['first_ns']) / 1e6:.3f} ms")
    out.append("")
    out += [summary_line(t) for t in m["threads"]]
    if len(m["cpus"]) > 1:
        out += [cpu_line(c) for c in m["cpus"]]
    out.append(total_line(m))
    return "\n".join(out)


def json_doc(m):
    """The JSON document: everything but the per-job rows and intervals."""
    return {k: v for k, v in m.items() if k not in ("jobs", "intervals", "cpu_intervals")}


CSV_FIELDS = ("tid", "name", "job", "release_ns", "complete_ns", "deadline_ns", "response_ns", "lateness_ns",
              "tardiness_ns", "missed", "miss_event", "preemptions")


def write_csv(m, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for j in m["jobs"]:
            w.writerow({k: ("" if j[k] is None else int(j[k]) if isinstance(j[k], bool) else j[k])
                        for k in CSV_FIELDS})


# ----------------------------------------------------------------- the chart
C_RUN, C_LATE, C_REL, C_DL, C_POLICY, C_EJECT = "#4c72b0", "#d62728", "#2ca02c", "#555555", "#7f7f7f", "#d62728"


def _clip(intervals, lo, hi):
    """The parts of intervals within [lo, hi]."""
    return [(max(a, lo), min(b, hi)) for a, b in intervals if a < hi and b > lo]


def chart_lanes(m, max_lanes=MAX_LANES):
    """The threads to draw (by tid) and how many were left out: all of
    them, or the max_lanes with the most CPU time."""
    threads = m["threads"]
    if len(threads) <= max_lanes:
        return threads, 0
    keep = sorted(threads, key=lambda t: -t["cpu_ns"])[:max_lanes]
    return sorted(keep, key=lambda t: t["tid"]), len(threads) - max_lanes


def plot_gantt(m, path, from_ms=None, to_ms=None, max_lanes=MAX_LANES, dump=None):
    """Write a Gantt chart of m (from metrics()) to path. Raises ImportError
    without matplotlib. Release markers come from dump's release events if
    the dump is given, else from the completed jobs. Returns the number of
    threads left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    t0 = m["first_ns"]

    def ms(ns):
        return (ns - t0) / 1e6

    span_ms = m["span_ns"] / 1e6
    pad = 0.01 * max(span_ms, 1e-3)  # room for the markers and lines at either end
    lo = from_ms if from_ms is not None else -pad
    hi = to_ms if to_ms is not None else span_ms + pad
    lanes, left_out = chart_lanes(m, max_lanes)
    cpus = sorted(m["cpu_intervals"]) if len(m["cpus"]) > 1 else []
    n = len(lanes) + len(cpus)
    fig, ax = plt.subplots(figsize=(14, max(3.0, 1.6 + 0.32 * n)))
    y_of = {t["tid"]: n - 1 - i for i, t in enumerate(lanes)}
    # Several CPUs: a lane per CPU below the threads', each run coloured by
    # its thread, a thread's run on another CPU than its last marked.
    palette = plt.get_cmap("tab20")
    for k, cpu in enumerate(cpus):
        y = len(cpus) - 1 - k
        iv = m["cpu_intervals"][cpu]
        ax.broken_barh([(ms(a), (b - a) / 1e6) for a, b, _ in iv], (y - 0.3, 0.6),
                       facecolors=[palette(tid % 20) for _, _, tid in iv], linewidth=0)
    if cpus:
        moved = [(t, cpus.index(to)) for t, _, _, to in m["migrations"] if to in cpus]
        ax.plot([ms(t) for t, _ in moved], [len(cpus) - 1 - k + 0.42 for _, k in moved], ls="none", marker="v",
                ms=3, color="black", clip_on=True)
        ax.axhline(len(cpus) - 0.5, color="#999999", lw=0.8)
    releases = collections.defaultdict(list)
    if dump is not None:
        for e in dump.events:
            if e.ev == "release":
                releases[e.tid].append(e.b)
    else:
        for j in m["jobs"]:
            if j["release_ns"] is not None:
                releases[j["tid"]].append(j["release_ns"])
    small = 4 if n > 12 else 5
    for t in lanes:
        tid, y = t["tid"], y_of[t["tid"]]
        iv = m["intervals"].get(tid, [])
        ax.broken_barh([(ms(a), (b - a) / 1e6) for a, b in iv], (y - 0.25, 0.5), facecolors=C_RUN, linewidth=0)
        mine = [j for j in m["jobs"] if j["tid"] == tid]
        late = [seg for j in mine if j["missed"] for seg in _clip(iv, j["deadline_ns"], j["complete_ns"])]
        if late:
            ax.broken_barh([(ms(a), (b - a) / 1e6) for a, b in late], (y - 0.25, 0.5), facecolors=C_LATE,
                           linewidth=0)
        if releases[tid]:
            ax.plot([ms(r) for r in releases[tid]], [y - 0.33] * len(releases[tid]), ls="none", marker="^",
                    ms=small, color=C_REL, clip_on=True)
        if mine:
            ax.plot([ms(j["deadline_ns"]) for j in mine], [y + 0.33] * len(mine), ls="none", marker="v",
                    ms=small, color=C_DL, clip_on=True)
        missed = [j for j in mine if j["missed"]]
        if missed:
            ax.plot([ms(j["complete_ns"]) for j in missed], [y] * len(missed), ls="none", marker="x",
                    ms=small + 2, mew=1.5, color=C_LATE)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    shown = [(t, ej) for t, ej in m["policy_events"] if lo <= ms(t) <= hi]
    label = len(shown) <= 20
    for t, ejection in shown:
        ax.axvline(ms(t), ls="--", lw=1, color=C_EJECT if ejection else C_POLICY, zorder=0)
        if label:
            ax.text(ms(t), 1.0, " ejection" if ejection else " policy", transform=top, rotation=90, va="top",
                    ha="right", fontsize="x-small", color=C_EJECT if ejection else C_POLICY, clip_on=True)
    for t, lost in m["activations"]:
        if lost > 0:
            ax.axvspan(ms(t - lost), ms(t), color="#bbbbbb", alpha=0.35, lw=0, zorder=0)
    ax.set_yticks([y_of[t["tid"]] for t in lanes] + list(range(len(cpus))))
    ax.set_yticklabels([f"{t['tid']} {t['name']}" for t in lanes] + [f"cpu {c}" for c in reversed(cpus)],
                       fontsize="small" if n <= 20 else "x-small")
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"ms after the first event (at {t0 / 1e6:.3f} ms after kernel entry)")
    ax.grid(axis="x", alpha=0.3)
    s = m["totals"]
    title = (f"Keel libOS schedule, policy {m['policy']} (at dump): {m['events']} events"
             f"{', %d dropped' % m['dropped'] if m['dropped'] else ''}, {s['jobs']} jobs, {s['misses']} missed")
    if left_out:
        title += f"\n({n} of {n + left_out} threads shown: those with the most CPU time)"
    ax.set_title(title, fontsize="medium")
    handles = [Patch(color=C_RUN, label="running"), Patch(color=C_LATE, label="running after a missed deadline"),
               Line2D([], [], ls="none", marker="^", color=C_REL, label="release"),
               Line2D([], [], ls="none", marker="v", color=C_DL, label="deadline"),
               Line2D([], [], ls="none", marker="x", mew=1.5, color=C_LATE, label="late completion"),
               Line2D([], [], ls="--", color=C_POLICY, label="policy switch"),
               Line2D([], [], ls="--", color=C_EJECT, label="policy ejection"),
               Patch(color="#bbbbbb", alpha=0.35, label="env descheduled (approx.)")]
    if cpus:
        handles.append(Line2D([], [], ls="none", marker="v", ms=3, color="black",
                              label="CPU lanes: runs by thread colour;\na thread moved here"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize="small", frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return left_out


# ----------------------------------------------------------------- main
def warn(msg):
    print(f"schedtrace: warning: {msg}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-thread metrics and a Gantt chart from a Keel scheduling trace.")
    ap.add_argument("log", help="a serial log ('-': standard input)")
    ap.add_argument("--dump", type=int, default=-1, help="the K-th complete dump, 0-based (default: the last)")
    ap.add_argument("--png", help="write a Gantt chart here")
    ap.add_argument("--json", help="write the metrics here as JSON")
    ap.add_argument("--csv", help="write the per-job rows here as CSV")
    ap.add_argument("--from-ms", type=float, help="the chart starts here (ms after the first event)")
    ap.add_argument("--to-ms", type=float, help="the chart ends here (ms after the first event)")
    ap.add_argument("--max-lanes", type=int, default=MAX_LANES, help="the most thread lanes in the chart")
    args = ap.parse_args(argv)

    try:
        if args.log == "-":
            text = sys.stdin.read()
        else:
            with open(args.log, encoding="utf-8", errors="replace") as f:
                text = f.read()
    except OSError as e:
        print(f"schedtrace: {e}", file=sys.stderr)
        return 1
    found = parse_dumps(text, complete_only=False)
    dumps = [d for d in found if d.complete]
    for d in found:
        if not d.complete:
            warn(f"the dump beginning at line {d.line} is incomplete (no end line); ignored")
    if not dumps:
        print(f"schedtrace: no complete scheduling trace dump (sched-trace: begin ... end) in {args.log}",
              file=sys.stderr)
        return 1
    if not -len(dumps) <= args.dump < len(dumps):
        print(f"schedtrace: --dump {args.dump}: there are {len(dumps)} complete dumps (0..{len(dumps) - 1})",
              file=sys.stderr)
        return 1
    k = args.dump % len(dumps)
    dump = dumps[k]
    m = metrics(dump)
    for w in m["warnings"]:
        warn(w)
    print(f"schedtrace: dump {k} of {len(dumps)} (0-based), at line {dump.line} of {args.log}")
    print(report(m))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(json_doc(m), dump_index=k, dumps=len(dumps)), f, indent=1)
            f.write("\n")
    if args.csv:
        write_csv(m, args.csv)
    if args.png:
        try:
            left_out = plot_gantt(m, args.png, args.from_ms, args.to_ms, args.max_lanes, dump=dump)
        except ImportError as e:
            print(f"schedtrace: no chart: matplotlib is not available ({e}); install python3-matplotlib",
                  file=sys.stderr)
        else:
            if left_out:
                warn(f"the chart shows {args.max_lanes} of {args.max_lanes + left_out} threads "
                     "(those with the most CPU time)")
            print(f"schedtrace: chart written to {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
