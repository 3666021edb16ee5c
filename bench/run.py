#!/usr/bin/python3
"""./keel bench: Keel's microbenchmarks beside the hardware floor and Linux.

Every figure comes from one QEMU boot per system and mode, in the same QEMU
configuration (machine, CPU model, memory, icount mode):

  keel   apps/bench on Keel (run=bench:all,bench:yieldpeer)
  floor  the same program's hardware-floor operations (int -> bare iretq,
         syscall -> bare sysretq)
  linux  Debian's packaged kernel (apt-get download, extracted under
         build/bench/linux/, never committed) booting an initramfs whose
         /init is bench/linux_init.c, built here with gcc -static; once as
         shipped and once with mitigations=off
  linux-smp  the same kernel and /init on two CPUs (bench=smp): munmap of a
         page while a second thread of the process runs on the other CPU,
         beside keel-smp's unmap with a shootdown; and round trips between
         a thread on CPU 0 and one on CPU 1 (futex, eventfd, signal). Wall
         mode only: under icount this Linux never brings CPU 1 up

Modes: `icount` (-icount shift=0: a tick is a guest instruction, so a
figure is a path length, not a latency -- an iretq, a CR3 load or an XSAVE
each count one) is the headline; `wall` (plain TCG, noisy) is reported as
ratios against Linux measured in the same invocation.

Writes build/bench/results.json (schema: docs/benchmarks.md),
build/bench/results.md and build/bench/results.png.
"""

import argparse
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "boot"))
import keelqemu  # noqa: E402

SCHEMA_VERSION = 2  # 2: records carry `redone`; meta carries keel_info

# Keel operation -> (the Linux operation doing equivalent work, target ratio or None)
EQUIVALENT = {
    "null_syscall": ("getpid", 5),
    "upcall_roundtrip": ("signal_roundtrip", 30),
    "upcall_roundtrip_xsave": ("signal_roundtrip", None),
    "trap_upcall_roundtrip": ("segv_mprotect_roundtrip", 10),
    "yield_roundtrip_2_switches": ("sched_yield_2_processes", None),
    "yield_roundtrip_in_place": ("sched_yield_2_processes", None),
    "pct_roundtrip": ("pipe_pingpong_2_processes", None),
    "swvec_upcall_roundtrip": ("signal_roundtrip", None),
    "map_unmap_1_page": ("mmap_munmap_1_page", None),
    "map_unmap_512_pages": ("mmap_munmap_512_pages", None),
    "demand_zero_fault_upcall": ("demand_zero_fault", None),
    "unmap_1_page": ("munmap_1_page", None),
    "preempt_5us": ("sigalrm_preempt_5us", None),
    "preempt_10us": ("sigalrm_preempt_10us", None),
    "preempt_50us": ("sigalrm_preempt_50us", None),
    "preempt_100us": ("sigalrm_preempt_100us", None),
}
# The same on two CPUs: a keel-smp operation -> the linux-smp one.
SMP_EQUIVALENT = {
    "shootdown_unmap_1_page": ("shootdown_munmap_1_page", None),
    "xcpu_event_roundtrip": ("xcpu_signal_roundtrip", None),
    "xcpu_event_roundtrip_blocked": ("xcpu_futex_pingpong", None),
    "xdisp_event_roundtrip": ("xcpu_signal_roundtrip", None),
    "xdisp_event_roundtrip_blocked": ("xcpu_futex_pingpong", None),
    "thread_wake_xcpu_roundtrip": ("xcpu_futex_pingpong", None),
}
SYSTEMS = ("keel", "keel-smp", "linux", "linux-smp")
FLOOR_OPS = {"floor_int_iretq", "floor_syscall_sysretq"}
# Cross-CPU rows (system keel-smp: two CPUs): the floors from the kernel's own
# smp_bench test, the Ring 3 unmap with a shootdown to pay, and the event
# round trip between envs on two CPUs.
SMP_OPS = {"ipi_roundtrip", "shootdown_floor_1_page", "shootdown_unmap_1_page", "xcpu_event_roundtrip",
           "xcpu_event_roundtrip_blocked", "xdisp_event_roundtrip", "xdisp_event_roundtrip_blocked",
           "libos_yield_roundtrip", "thread_wake_xcpu_roundtrip", "thread_migration_roundtrip"}
DESCRIPTION = {
    "floor_int_iretq": "int $0x81 to a handler that only iretqs",
    "floor_syscall_sysretq": "syscall to a handler that only sysretqs",
    "null_syscall": "a syscall that does nothing (SYS_ENV_ID)",
    "upcall_roundtrip": "int $0x82 -> kernel -> event upcall -> Ring 3 iretq back",
    "upcall_roundtrip_xsave": "the same, the upcall entry saving and restoring XSAVE state",
    "swvec_upcall_roundtrip": "int $0xA0 (a held software vector) -> kernel -> event upcall -> Ring 3 iretq back",
    "pct_roundtrip": "protected control transfer into another env's entry (libos, XSAVE) and its reply",
    "trap_upcall_roundtrip": "#PF -> trap upcall -> handler skips the access -> Ring 3 resume",
    "timer_upcall_roundtrip": "deadline interrupt -> event upcall -> resume (incl. the spin loop)",
    "yield_roundtrip_2_switches": "yield to another env and back (2 env switches, 2 CR3 loads)",
    "yield_roundtrip_in_place": "the same, resumed after the call rather than by activation (KEEL_AREA_YIELD_IN_PLACE)",
    "map_unmap_1_page": "frame alloc + map (one SYS_MMU_UPDATE, KEEL_CAP_NEW) + unmap + delete (one, KEEL_CAP_FREE), "
                        "1 page",
    "unmap_1_page": "SYS_MMU_UPDATE clearing one mapped entry (INVLPG), one CPU",
    "ipi_roundtrip": "cpu0 -> cpu1 (halted) cross-CPU call doing nothing: post, IPI, run, acknowledge",
    "shootdown_floor_1_page": "the same call doing a 1-page shootdown's remote part: INVLPG",
    "shootdown_unmap_1_page": "unmap_1_page with an env running on cpu1: + IPI, remote INVLPG, acknowledgement",
    "xcpu_event_roundtrip": "SYS_EVENT_POST to an env spinning on cpu1, whose upcall posts back: 2 posts, 2 IPIs, "
                            "2 upcalls (libos entries, XSAVE)",
    "xcpu_event_roundtrip_blocked": "the same with both envs waiting in SYS_EVENT_WAIT: each post wakes a halted CPU, "
                                    "which dispatches the env by upcall",
    "xdisp_event_roundtrip": "the same between two dispatchers of one env (cpu0 -> cpu1 -> cpu0), both spinning",
    "xdisp_event_roundtrip_blocked": "the same between two dispatchers of one env, both waiting in SYS_EVENT_WAIT",
    "libos_yield_roundtrip": "libos threads (apps/tbench, two CPUs up): two threads on one CPU yield to each other, "
                             "2 Ring 3 thread switches (policy, scheduler lock, XSAVE/XRSTOR)",
    "thread_wake_xcpu_roundtrip": "a libos thread on cpu0 posts a semaphore a thread on cpu1 waits on and waits on "
                                  "one it posts back; each CPU's dispatcher idles in SYS_EVENT_WAIT meanwhile and "
                                  "is kicked (SYS_EVENT_POST)",
    "thread_migration_roundtrip": "a libos thread moves to cpu1 and back: each move a yield the policy queues on "
                                  "the other CPU, whose dispatcher is kicked out of its wait",
    "map_unmap_512_pages": "512 frame allocs and maps in one 512-entry batch (KEEL_CAP_NEW), 512 unmaps and deletes "
                           "in another (KEEL_CAP_FREE)",
    "demand_zero_fault_upcall": "touch an unmapped page -> #PF trap upcall (libos entry) -> frame + map (one call) "
                                "-> resumed",
    "demand_zero_fault": "first touch of an anonymous page (the kernel's demand-zero fault)",
    "preempt_5us": "libos threads (apps/tbench:preempt, one CPU): two CPU-bound threads, each turn ended at a 5 us "
                   "quantum by the env's timer upcall and a Ring 3 thread switch; per preemption, the window's time "
                   "less its work",
    "preempt_10us": "the same at a 10 us quantum",
    "preempt_50us": "the same at a 50 us quantum",
    "preempt_100us": "the same at a 100 us quantum",
    "sigalrm_preempt_5us": "two user-level threads (ucontext) switched in the handler of a timer_create SIGALRM every "
                           "5 us (swapcontext); per preemption, the window's time less its work",
    "sigalrm_preempt_10us": "the same at a 10 us interval",
    "sigalrm_preempt_50us": "the same at a 50 us interval",
    "sigalrm_preempt_100us": "the same at a 100 us interval",
    "getpid": "syscall(SYS_getpid)",
    "signal_roundtrip": "kill(self, SIGUSR1) -> handler -> sigreturn",
    "segv_mprotect_roundtrip": "write to PROT_NONE page -> SIGSEGV handler mprotects -> retried",
    "pipe_pingpong_2_processes": "1-byte write/read round trip between two processes",
    "sched_yield_2_threads": "sched_yield between two threads (no address-space switch)",
    "sched_yield_2_processes": "sched_yield between two processes (an address-space switch each way)",
    "mmap_munmap_1_page": "mmap(MAP_POPULATE) + munmap of 1 page",
    "mmap_munmap_512_pages": "mmap(MAP_POPULATE) + munmap of 512 pages",
    "munmap_1_page": "munmap alone of 1 page mapped (MAP_POPULATE, between two PROT_NONE pages) and touched before "
                     "the timing: + VMA removal and the page freed, which Keel's unmap does not do; no other CPU has "
                     "the process",
    "munmap_1_page_peer_asleep": "munmap_1_page on two CPUs, a second thread of the process asleep (cpu1 idle: each "
                                 "kept sample saw cpu1's TLB-shootdown count stay)",
    "shootdown_munmap_1_page": "munmap_1_page with a second thread of the process spinning on cpu1: + IPI, remote "
                               "flush, acknowledgement (each kept sample saw cpu1's TLB-shootdown count move)",
    "shootdown_mmap_munmap_1_page": "mmap(MAP_POPULATE) + munmap of 1 page with that thread on cpu1",
    "xcpu_futex_pingpong": "a thread on cpu0 wakes one on cpu1 and is woken back: each FUTEX_WAITs on its own "
                           "word, the other sets it and FUTEX_WAKEs",
    "xcpu_eventfd_pingpong": "the same over two blocking eventfds: write the other's, read one's own",
    "xcpu_signal_roundtrip": "a thread on cpu0 tgkills one on cpu1 (SIGUSR2), whose handler tgkills it back "
                             "(SIGUSR1); each waits in sigsuspend, each signal runs a handler",
}

# n: samples kept; redone: samples that did not measure the operation (an
# event before the timing began, a yield that switched nothing, a sample
# below the empty frame), thrown away and taken again.
BENCH_RE = re.compile(r"^BENCH (\S+) n=(\d+) min=(\d+) median=(\d+) p99=(\d+) redone=(\d+)$", re.M)
INFO_RE = re.compile(r"^INFO (\S+) (.*)$", re.M)
# The kernel trace sites an op crosses, counted by apps/bench with the trace on
# (after its timing, which runs with the trace off): min..max over its runs,
# and the events of a min run.
SITES_RE = re.compile(r"^SITES (\S+) n=(\d+) min=(-?\d+) max=(\d+) path=(.*)$", re.M)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def parse(text):
    out = {}
    for m in BENCH_RE.finditer(text):
        op, n, lo, med, p99, redone = m.group(1), *map(int, m.groups()[1:])
        out[op] = dict(iterations=n, min=lo, median=med, p99=p99, redone=redone)
    return out


def parse_info(text):
    return {m.group(1): m.group(2).strip() for m in INFO_RE.finditer(text)}


def parse_sites(text):
    return {m.group(1): dict(runs=int(m.group(2)), min=int(m.group(3)), max=int(m.group(4)),
                             path=m.group(5).strip()) for m in SITES_RE.finditer(text)}


# ------------------------------------------------------------------- Linux
def linux_kernel(cache):
    """Debian's packaged kernel image, downloaded once into the cache."""
    dep = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True,
                         check=True).stdout
    pkg = next(l.split()[-1] for l in dep.splitlines() if "Depends: linux-image-" in l and "amd64" in l)
    root = cache / pkg
    images = sorted(root.glob("boot/vmlinuz-*")) if root.exists() else []
    if not images:
        root.mkdir(parents=True, exist_ok=True)
        log(f"fetching {pkg} from the Debian archive (apt-get download)")
        subprocess.run(["apt-get", "download", pkg], cwd=root, check=True, capture_output=True)
        deb = next(root.glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        deb.unlink()
        images = sorted(root.glob("boot/vmlinuz-*"))
    return pkg, images[-1]


def cpio_newc(entries, out):
    """A newc cpio archive (what the kernel unpacks as an initramfs)."""
    data = bytearray()
    for ino, (name, mode, content) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(content), 0, 0, 0, 0, len(nb), 0]
        rec = b"070701" + b"".join(b"%08X" % v for v in fields) + nb
        rec += b"\0" * (-len(rec) % 4) + content
        rec += b"\0" * (-len(rec) % 4)
        data += rec
    Path(out).write_bytes(bytes(data))


def linux_initramfs(cache):
    init = cache / "init"
    src = SRC / "bench" / "linux_init.c"
    if not init.exists() or init.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-static", "-O2", "-o", str(init), str(src), "-lpthread"], check=True)
    initrd = cache / "initramfs.cpio"
    cpio_newc([("init", 0o100755, init.read_bytes()), ("dev", 0o40755, b""), ("proc", 0o40755, b""),
               ("sys", 0o40755, b"")], initrd)
    return initrd


# ----------------------------------------------------------------- running
def run_keel(builddir, machine, quick, timeout):
    cmdline = ("run=bench:quick,bench:yieldpeer" if quick else "run=bench:all,bench:yieldpeer") + \
        " grant=0:swvec0xa0,0:trace"
    r = keelqemu.boot(builddir, cmdline, machine, timeout=timeout)
    if r.verdict != "success":
        raise RuntimeError(f"Keel bench boot ended in {r.verdict}:\n{r.log[-3000:]}")
    return parse(r.log), r.log


LOCK_RE = re.compile(r"^lock: 'kernel': (\d+) acquisitions, (\d+) contended(?:; spin (\d+) ticks in all; held "
                     r"(\d+) ticks in all, (\d+) on average, (\d+) at most)?$", re.M)


def run_tpreempt(builddir, machine, quick, timeout):
    """Preemption's cost in the thread library (apps/tbench:preempt, one CPU):
    rows preempt_<Q>us, and INFO lines with the share of the CPU lost."""
    r = keelqemu.boot(builddir, "run=tbench:preempt:quick" if quick else "run=tbench:preempt", machine,
                      timeout=timeout)
    if r.verdict != "success":
        raise RuntimeError(f"Keel tbench:preempt boot ended in {r.verdict}:\n{r.log[-3000:]}")
    return parse(r.log), r.log


def run_tbench(builddir, two, quick, timeout):
    """The thread library's rows on two CPUs (apps/tbench): its threads wait
    by halting their CPUs, so under icount these count both CPUs' paths."""
    r = keelqemu.boot(builddir, "run=tbench:quick" if quick else "run=tbench", two, timeout=timeout)
    if r.verdict != "success":
        raise RuntimeError(f"Keel tbench boot ended in {r.verdict}:\n{r.log[-3000:]}")
    return parse(r.log)


def run_keel_smp(builddir, machine, quick, timeout):
    """The cross-CPU rows on two CPUs, and the kernel lock's statistics from a
    contended run on four (the fuzzer beside a victim, lockstat=on)."""
    import dataclasses
    two = dataclasses.replace(machine, smp=2)
    res = {}
    r = keelqemu.boot(builddir, "test=smp_bench", two, timeout=timeout)
    res.update(parse(r.log))
    if machine.icount:
        # A cross-CPU wait there counts the other vCPU's round-robin turn --
        # millions of instructions when it runs Ring 3 code: the Ring 3
        # shootdown row, the spinning round trips and the lock's times are
        # wall-mode figures only. The round trips between waiting envs and
        # dispatchers are not: a vCPU that halts hands the turn on at once,
        # so they count every instruction either CPU runs on the way.
        r = keelqemu.boot(builddir, "run=bench:smp:blocked,bench:spinner grant=0:cpu0,0:cpu1,1:cpu1", two,
                          timeout=timeout)
        if r.verdict != "success":
            raise RuntimeError(f"Keel SMP bench boot ended in {r.verdict}:\n{r.log[-3000:]}")
        res.update(parse(r.log))
        res.update(run_tbench(builddir, two, quick, timeout))
        return res, None
    # The bench holds both CPUs: its second dispatcher runs on cpu1 (the first binds to cpu0).
    r = keelqemu.boot(builddir, "run=bench:smp,bench:spinner grant=0:cpu0,0:cpu1,1:cpu1", two, timeout=timeout)
    if r.verdict != "success":
        raise RuntimeError(f"Keel SMP bench boot ended in {r.verdict}:\n{r.log[-3000:]}")
    res.update(parse(r.log))
    res.update(run_tbench(builddir, two, quick, timeout))
    four = dataclasses.replace(machine, smp=4)
    r = keelqemu.boot(builddir, "run=victim:7,fuzz:1:%d:1000 lockstat=on" % (2 if quick else 8), four,
                      timeout=timeout)
    m = LOCK_RE.search(r.log)
    lock = None
    if m:
        g = [int(x) if x else None for x in m.groups()]
        lock = dict(acquired=g[0], contended=g[1], spin_ticks=g[2], hold_ticks=g[3], hold_mean=g[4], hold_max=g[5])
    return res, lock


def run_linux(builddir, machine, vmlinuz, initrd, quick, mitigations_off, timeout, smp=False):
    """One boot of Linux with bench/linux_init.c as /init; `smp`: on two CPUs,
    the cross-CPU rows only (bench=smp)."""
    import dataclasses
    append = "console=ttyS0 quiet panic=-1" + (" bench=quick" if quick else "") + \
        (" mitigations=off" if mitigations_off else "") + (" bench=smp" if smp else "")
    media = ["-kernel", str(vmlinuz), "-initrd", str(initrd), "-append", append]
    if smp:
        machine = dataclasses.replace(machine, smp=2)
    r = keelqemu.boot(builddir, "", machine, timeout=timeout, media=media)
    res = parse(r.log)
    if "done" not in res and not re.search(r"^BENCH done$", r.log, re.M):
        raise RuntimeError(f"Linux bench boot did not finish ({r.verdict}):\n{r.log[-3000:]}")
    for m in re.finditer(r"^bench: .*$", r.log, re.M):  # what the /init could not measure, and why
        log(f"Linux{' (two CPUs)' if smp else ''}: {m.group(0)[len('bench: '):]}")
    return res, parse_info(r.log)


def records_for(system, mode, results, unit):
    recs = []
    for op, v in sorted(results.items()):
        if op in ("done", "empty_frame"):
            continue
        sysname = "floor" if op in FLOOR_OPS else "keel-smp" if op in SMP_OPS else system
        recs.append(dict(system=sysname, op=op, mode=mode, unit=unit, **v))
    return recs


# ----------------------------------------------------------------- reports
def ratio_rows(records, mode):
    """(Keel op, Linux op, medians, ratio, target) for each pair measured in
    `mode`; a two-CPU pair's ops are marked so."""
    by = {(r["system"], r["op"]): r for r in records if r["mode"] == mode}
    pairs = [("keel", op, "linux", lop, target) for op, (lop, target) in EQUIVALENT.items()]
    pairs += [("keel-smp", op, "linux-smp", lop, target) for op, (lop, target) in SMP_EQUIVALENT.items()]
    rows = []
    for ksys, op, lsys, lop, target in pairs:
        k, l = by.get((ksys, op)), by.get((lsys, lop))
        if not k or not l or not k["median"]:
            continue
        ratio = l["median"] / k["median"]
        two = " (2 CPUs)" if ksys == "keel-smp" else ""
        rows.append((op + two, lop + two, k["median"], l["median"], ratio, target))
    return rows


def markdown(results, meta):
    recs = results["records"]
    lines = ["# Keel benchmarks", "",
             f"Command: `{meta['command']}`  ",
             f"QEMU: `-machine {meta['machine']} -cpu {meta['cpu']} -m {meta['mem']}`, "
             f"{meta.get('firmware', 'bios')} firmware; "
             f"Linux {meta.get('linux_version', '?')}  ",
             f"Date: {meta['date']}", ""]
    for mode in meta["modes"]:
        unit = "guest instructions (path length)" if mode == "icount" else "TSC ticks (wall clock, noisy)"
        lines += [f"## {mode}: {unit}", "",
                  "| system | operation | min | median | p99 | n | redone | what |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for r in sorted((r for r in recs if r["mode"] == mode), key=lambda r: (r["system"], r["op"])):
            lines.append(f"| {r['system']} | {r['op']} | {r['min']} | {r['median']} | {r['p99']} | "
                         f"{r['iterations']} | {r['redone']} | {DESCRIPTION.get(r['op'], '')} |")
        for op, v in sorted(meta.get("keel_info", {}).get(mode, {}).items()):
            lines += ["", f"Keel, {op}: {v}"]
        for op, v in sorted(meta.get("linux_smp_info", {}).get(mode, {}).items()):
            lines += ["", f"Linux on two CPUs, {op}: {v}"]
        lock = meta.get("keel_lock", {}).get(mode)
        if lock:
            lines += ["", f"Keel's kernel lock, four CPUs (fuzzer beside a victim, lockstat=on; {mode}): "
                      f"{lock['acquired']} acquisitions, {lock['contended']} contended "
                      f"({100 * lock['contended'] / max(lock['acquired'], 1):.0f}%); held {lock['hold_mean']} "
                      f"ticks on average, {lock['hold_max']} at most; {lock['spin_ticks']} ticks spent spinning"
                      + (" (under icount each vCPU waits for the others' round-robin turns: read the wall "
                         "figures)" if mode == "icount" else "")]
        sites = meta.get("keel_trace_sites", {}).get(mode, {})
        if sites:
            lines += ["", f"Kernel trace sites each Keel operation crosses ({mode}; a 5-byte NOP each while the "
                      "trace is off; counted with it on, after the timing):", "",
                      "| operation | sites | the events of one run |", "|---|---:|---|"]
            for op, v in sorted(sites.items()):
                n = str(v["min"]) if v["min"] == v["max"] else f"{v['min']}..{v['max']}"
                lines.append(f"| {op} | {n} | {v['path'] or '-'} |")
        lines += ["", f"Linux / Keel, medians ({mode}):", "",
                  "| Keel operation | Linux operation | Keel | Linux | Linux/Keel | target |",
                  "|---|---|---:|---:|---:|---|"]
        for op, lop, k, l, ratio, target in ratio_rows(recs, mode):
            t = "" if target is None or mode != "icount" else \
                (f">= {target}x: {'met' if ratio >= target else 'MISSED'}")
            lines.append(f"| {op} | {lop} | {k} | {l} | {ratio:.1f}x | {t} |")
        lines.append("")
    return "\n".join(lines)


def plot(results, out, mode):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    recs = [r for r in results["records"] if r["mode"] == mode and r["system"] in ("keel", "floor", "linux")]
    pairs = [("floor", "floor_int_iretq", "int+iretq"), ("floor", "floor_syscall_sysretq", "syscall+sysretq")]
    for op, (lop, _) in EQUIVALENT.items():
        pairs.append(("keel", op, op))
    by = {(r["system"], r["op"]): r["median"] for r in recs}
    labels, keel, linux, floor = [], [], [], []
    for system, op, label in pairs:
        if (system, op) not in by:
            continue
        labels.append(label.replace("_", "\n", 1))
        v = by[(system, op)]
        (floor if system == "floor" else keel).append(v)
        (keel if system == "floor" else floor).append(0)
        lop = EQUIVALENT.get(op, (None,))[0]
        linux.append(by.get(("linux", lop), 0))
    if not labels:
        log(f"nothing to plot ({mode}): no Keel or floor row")
        return
    fig, ax = plt.subplots(figsize=(11, 5))
    x = range(len(labels))
    w = 0.28
    ax.bar([i - w for i in x], floor, w, label="hardware floor")
    ax.bar(list(x), keel, w, label="Keel")
    ax.bar([i + w for i in x], linux, w, label="Linux (equivalent operation)")
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("median guest instructions (log)" if mode == "icount" else "median TSC ticks (log)")
    ax.set_title(f"Keel vs Linux vs the hardware floor ({mode})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builddir", default=str(SRC / "build"))
    p.add_argument("--quick", action="store_true", help="fewer iterations of everything, Linux included")
    p.add_argument("--modes", default="icount,wall")
    p.add_argument("--cpu", default="max,-smap",
                   help="QEMU CPU model for every system (default max,-smap: QEMU 7.2's TCG faults a "
                        "Ring 3 iretq under SMAP, see docs/benchmarks.md)")
    p.add_argument("--mem", default="512M")
    p.add_argument("--machine", default="q35")
    p.add_argument("--accel", default="", help="kvm where /dev/kvm exists (untested here)")
    p.add_argument("--firmware", default="bios", choices=keelqemu.FIRMWARES,
                   help="bios (SeaBIOS) or uefi (OVMF), for Keel and Linux alike; the figures start after "
                        "the firmware has handed over, so they should not depend on it")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help="which boots, comma-separated (default all): keel (and floor), keel-smp, linux (as "
                        "shipped and mitigations=off), linux-smp (two CPUs: the shootdown rows "
                        "and the cross-CPU round trips; wall mode only)")
    p.add_argument("--no-linux", action="store_true", help="neither linux nor linux-smp")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--profile", metavar="ROW",
                   help="no figures: where ROW's instructions go, function by function (bench/profile_row.py: "
                        "gdb single-steps REPS iterations of the row under icount)")
    p.add_argument("--reps", type=int, default=3, help="--profile: iterations stepped (default 3)")
    p.add_argument("--listing", action="store_true",
                   help="--profile: also build/bench/profile-ROW-listing.txt, iteration 1 instruction by instruction")
    a = p.parse_args()
    if a.profile:
        import profile_row  # bench/profile_row.py, beside this file
        sys.stdout.write(profile_row.profile(Path(a.builddir), a.profile, a.reps, None, a.cpu, 200000, a.timeout,
                                             a.listing))
        return 0

    builddir = Path(a.builddir)
    outdir = builddir / "bench"
    outdir.mkdir(parents=True, exist_ok=True)
    cache = outdir / "linux"
    cache.mkdir(exist_ok=True)
    modes = [m for m in a.modes.split(",") if m]
    systems = [x for x in a.systems.split(",") if x and not (a.no_linux and x.startswith("linux"))]
    if set(systems) - set(SYSTEMS):
        p.error(f"--systems: unknown {sorted(set(systems) - set(SYSTEMS))}; known: {', '.join(SYSTEMS)}")
    command = " ".join(["./keel bench"] + (["--quick"] if a.quick else []) +
                       ([f"--systems {','.join(systems)}"] if list(systems) != list(SYSTEMS) else []))
    meta = dict(schema=SCHEMA_VERSION, command=command, systems=systems,
                machine=a.machine, cpu=a.cpu, mem=a.mem, accel=a.accel or "tcg", firmware=a.firmware, modes=modes,
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    records = []
    vmlinuz = initrd = None
    if "linux" in systems or "linux-smp" in systems:
        meta["linux_package"], vmlinuz = linux_kernel(cache)
        initrd = linux_initramfs(cache)
    for mode in modes:
        m = keelqemu.Machine(cpu=a.cpu, mem=a.mem, machine=a.machine, icount=(mode == "icount"), accel=a.accel,
                             firmware=a.firmware)
        unit = "instructions" if mode == "icount" else "tsc"
        if "keel" in systems:
            log(f"{mode}: Keel")
            res, klog = run_keel(builddir, m, a.quick, a.timeout)
            plog = ""
            if mode == "icount":
                # Preemption's cost is work lost against work measured alone:
                # under plain TCG the work rate itself moves with the host.
                pre, plog = run_tpreempt(builddir, m, a.quick, a.timeout)
                res.update(pre)
            records += records_for("keel", mode, res, unit)
            meta.setdefault("keel_info", {})[mode] = {**parse_info(klog), **parse_info(plog)}
            meta.setdefault("keel_trace_sites", {})[mode] = parse_sites(klog)
        if "keel-smp" in systems:
            log(f"{mode}: Keel, two and four CPUs")
            res, lock = run_keel_smp(builddir, m, a.quick, a.timeout)
            records += records_for("keel-smp", mode, res, unit)
            meta.setdefault("keel_lock", {})[mode] = lock
        for off in ((False, True) if "linux" in systems else ()):
            log(f"{mode}: Linux{' mitigations=off' if off else ''}")
            res, info = run_linux(builddir, m, vmlinuz, initrd, a.quick, off, a.timeout)
            records += records_for("linux-mitigations-off" if off else "linux", mode, res, unit)
            meta["linux_version"] = info.get("version", "?").split(" (")[0]
            meta.setdefault("linux_info" + ("_off" if off else ""), {})[mode] = {
                k: v for k, v in info.items() if k.startswith("preempt") or k.startswith("sigalrm")}
            meta["linux_mitigations" + ("_off" if off else "")] = {
                k.split(".", 1)[1]: v for k, v in info.items() if k.startswith("vulnerability.")}
        if "linux-smp" in systems and mode == "wall":
            # Not under icount: there QEMU 7.2 runs the vCPUs round-robin in
            # one thread, and this Linux never brings CPU 1 up (it waits in
            # cpu_init for a go-ahead from CPU 0, which loops in schedule()
            # waiting for it: docs/benchmarks.md, "Linux on two CPUs").
            log(f"{mode}: Linux, two CPUs")
            res, info = run_linux(builddir, m, vmlinuz, initrd, a.quick, False, a.timeout, smp=True)
            records += records_for("linux-smp", mode, res, unit)
            meta["linux_version"] = info.get("version", "?").split(" (")[0]
            meta.setdefault("linux_smp_info", {})[mode] = {
                k: v for k, v in info.items() if k != "version" and not k.startswith("vulnerability.")}
    results = dict(meta=meta, records=records)
    (outdir / "results.json").write_text(json.dumps(results, indent=1))
    md = markdown(results, meta)
    (outdir / "results.md").write_text(md + "\n")
    try:
        plot(results, outdir / "results.png", "icount" if "icount" in modes else modes[0])
    except ImportError:
        log("matplotlib missing: no plot (Debian package python3-matplotlib)")
    print(md)
    print(f"\nresults: {outdir / 'results.json'}, {outdir / 'results.md'}, {outdir / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
