"""The benchmark smoke test: ./keel bench --quick runs, and its results file is
well-formed. No timing assertions (those live in the benchmark's own report)."""

import json
import re
import subprocess

from conftest import BUILD, SRC

KEEL_OPS = {"null_syscall", "upcall_roundtrip", "upcall_roundtrip_xsave", "trap_upcall_roundtrip",
            "timer_upcall_roundtrip", "yield_roundtrip_2_switches", "map_unmap_1_page", "map_unmap_512_pages",
            "demand_zero_fault_upcall", "swvec_upcall_roundtrip", "pct_roundtrip", "unmap_1_page"}
SMP_OPS = {"ipi_roundtrip", "shootdown_floor_1_page", "shootdown_unmap_1_page"}
FLOOR_OPS = {"floor_int_iretq", "floor_syscall_sysretq"}
LINUX_OPS = {"getpid", "signal_roundtrip", "segv_mprotect_roundtrip", "pipe_pingpong_2_processes",
             "sched_yield_2_threads", "sched_yield_2_processes", "mmap_munmap_1_page", "mmap_munmap_512_pages",
             "demand_zero_fault"}
SYSTEMS = {"keel": KEEL_OPS, "keel-smp": SMP_OPS, "floor": FLOOR_OPS, "linux": LINUX_OPS, "linux-mitigations-off": LINUX_OPS}
RECORD_KEYS = {"system", "op", "mode", "unit", "iterations", "min", "median", "p99", "redone"}


def test_bench_quick_writes_a_complete_well_formed_results_file():
    out = BUILD / "bench" / "results.json"
    if out.exists():
        out.unlink()
    r = subprocess.run(["/usr/bin/python3", str(SRC / "bench" / "run.py"), "--builddir", str(BUILD), "--quick"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-2000:]
    res = json.loads(out.read_text())
    meta = res["meta"]
    assert meta["schema"] == 2 and meta["modes"] == ["icount", "wall"]
    assert meta["linux_version"].startswith("Linux version 6.")
    assert meta["linux_mitigations"] and meta["linux_mitigations_off"]
    for mode in meta["modes"]:
        for system, ops in SYSTEMS.items():
            if system == "keel-smp" and mode == "icount":  # the Ring 3 shootdown row is wall-only
                ops = ops - {"shootdown_unmap_1_page"}
            got = {rec["op"] for rec in res["records"] if rec["system"] == system and rec["mode"] == mode}
            assert ops <= got, f"{system}/{mode} lacks {sorted(ops - got)}"
    for mode in ["wall"]:  # the kernel lock's statistics (lockstat=on, four CPUs; wall mode only)
        lock = meta["keel_lock"][mode]
        assert lock and lock["acquired"] > 0 and lock["hold_max"] >= lock["hold_mean"] > 0, lock
    for rec in res["records"]:
        assert set(rec) == RECORD_KEYS, rec
        assert rec["unit"] == ("instructions" if rec["mode"] == "icount" else "tsc")
        assert rec["iterations"] > 0
        # A sample that measured nothing is redone and counted, never kept as a 0.
        assert isinstance(rec["redone"], int) and rec["redone"] >= 0, rec
        assert 0 < rec["min"] <= rec["median"] <= rec["p99"], rec
    for mode in meta["modes"]:
        timer = meta["keel_info"][mode]["timer_upcall_roundtrip"]
        assert re.fullmatch(r"early=\d+ lead_ns=\d+ arm_ticks_median=\d+ arm_ticks_p99=\d+ arm_ticks_max=\d+",
                            timer), timer
        sites = meta["keel_trace_sites"][mode]
        for op in KEEL_OPS:
            assert op in sites and 0 < sites[op]["min"] <= sites[op]["max"], (op, sites.get(op))
        assert sites["floor_int_iretq"]["max"] == 0, sites["floor_int_iretq"]  # no kernel code: no site
    assert (BUILD / "bench" / "results.md").read_text().startswith("# Keel benchmarks")
    assert (BUILD / "bench" / "results.png").stat().st_size > 10000
