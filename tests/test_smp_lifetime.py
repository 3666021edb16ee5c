"""Env lifetime across CPUs, and many envs (apps/life, see its header).

A parent ends a child by deleting the ENV capability SYS_ENV_SPAWN gave it
(kern/spawn.c env_cap_release); the kernel stops the child on whatever CPU
holds it -- running it in Ring 3 or in a syscall, or idling with its
registers and CR3 kept after it blocked -- before anything of it is freed
(kern/env.c env_destroy), and its PML4 goes only once no CPU has it loaded.
The kernel's line for each such end says where the child was; the child's
counter, in a page it shares with the parent, must never move after the
kill returned.

The scale boot runs under single-threaded TCG: eight vCPU threads on a host
with fewer cores spin for the kernel lock and wait on cross-CPU calls while
the host has descheduled the vCPU they wait for (measured here, two host
cores: 211 spawns in 500 s multi-threaded, 10,000 in ~55 s single-threaded,
where QEMU hands the turn to the next vCPU at each `pause`).
"""

import re

import pytest

KILLED = r"^env \d+ \(life\): ended by env 1, which deleted its ENV capability: (\w+)(?: on cpu(\d+))?(?:; in the CR3 of (\S+))?$"


@pytest.mark.parametrize("smp", [2, 4])
def test_a_child_killed_while_it_runs_on_another_cpu_never_runs_again(keel, smp):
    rounds = 12
    b = keel.boot(f"run=life:kill:{smp}:{rounds}", smp=smp, timeout=180)
    b.expect_verdict("success")
    crowd = 2 * (smp - 1)
    b.expect(rf"^life kill: {rounds + crowd} children killed \({rounds // 3} spinning, {rounds // 3} in syscalls, "
             rf"{rounds // 3} waiting, then {crowd} in a crowd\); counters that moved after their kill returned: 0 ")
    b.expect_not(r"MOVED|FAILED")
    b.expect(r"^life kill: ok$")
    kills = re.findall(KILLED, b.log, re.M)
    assert len(kills) == rounds + crowd, kills
    # Where each was when its parent killed it: the rounds alternate a Ring 3
    # spinner, a syscall loop and a waiter, on cpu1..cpuN-1 in turn.
    for i, (state, cpu, cr3) in enumerate(kills[:rounds]):
        want_cpu = str(1 + (i // 3) % (smp - 1))
        want = "blocked" if i % 3 == 2 else "running"
        assert (state, cpu) == (want, want_cpu), f"round {i}: {kills[i]}"
        # Its CPU still has its address space loaded (the waiter: the idle
        # loop kept it), so the kill had to take it from there.
        assert want_cpu in cr3.replace("cpu", "").split(","), f"round {i}: {kills[i]}"
    assert sum(state == "running" for state, _, _ in kills[rounds:]) >= smp - 1
    s = b.expect_nothing_leaked(started=rounds + crowd + 1, failed=0)
    b.expect(rf"^envs: at most \d+ alive at once; {rounds + crowd} ended by their parent ")
    assert s["after"] == s["before"]


def test_a_childs_env_capability_to_its_parent_is_no_power_over_it(keel):
    """Only the capability the spawner got ends a child: the child's own ENV
    capability to its parent is not a root (the parent lives on)."""
    b = keel.boot("run=life:kill:2:3", smp=2).expect_verdict("success")
    b.expect(r"^life kill: ok$")
    assert not re.search(r"^env 1 \(life\): ended by", b.log, re.M)


def test_quota_envs_out_of_range_is_refused_aloud(keel):
    b = keel.boot("run=hello quota_envs=100000").expect_verdict("success")
    b.expect(r"^warning: quota_envs=100000 is not 0\.\.65536, keeping 16$")
    b = keel.boot("run=hello quota_envs=65536").expect_verdict("success")
    b.expect(r"^tunables:.* quota_envs=65536 ")
    b.expect_not(r"^warning: quota_envs")


@pytest.mark.slow  # ~55 s: ./keel test --slow (the suite must stay under 15 minutes)
def test_a_thousand_envs_alive_at_once_and_ten_thousand_ended_on_eight_cpus(keel):
    # Each child: 64 frames and 64 capability slots of its parent's quotas
    # (it uses 52 of each loaded, a few more for the page it shares), so the
    # parent needs 1,000 of each times 64; ~45 MiB of guest memory per
    # thousand children really in use, 1 GiB is ample.
    b = keel.boot("run=life:many:8:1000:10000 quota_envs=1000 quota_frames=100000 quota_caps=100000", smp=8,
                  mem="1G", timeout=300, extra=("-accel", "tcg,thread=single"))
    b.expect_verdict("success")
    b.expect(r"^tunables:.* quota_envs=1000 ")
    b.expect(r"^life many: wave 0: 1000 children alive at once \(1000 arrived and blocked, pinned round robin over "
             r"8 CPUs; envs used 1000 of 1000\)$")
    b.expect(r"^life many: 10000 spawned, 10000 ended \(5500 killed by deleting their ENV capability, 4500 exited\), "
             r"at most 1000 alive at once; envs used 0, frames used (\d+) -> \1, ")
    b.expect(r"^life many: ok$")
    b.expect_not(r"FAILED")
    # The kernel's own count: the parent and its 1,000 at once.
    b.expect(r"^envs: at most 1001 alive at once; 5500 ended by their parent ")
    # (and the parent's own exit)
    assert len(re.findall(r"^env \d+ \(life\): exited with code 0$", b.log, re.M)) == 4500 + 1
    b.expect_nothing_leaked(started=10001, failed=0)
