"""Hostile Ring 3 (issue 9): a seeded syscall fuzzer beside a victim,
resource exhaustion, env spawning without end, and kernel allocations
failing at seeded random points -- each in a real boot, and after each the
kernel's own count of frames, capabilities and heap objects must be back
where it was. The entry/exit hazards are in test_hazards.py; docs/security.md
lists every case."""

import re

import pytest


def fuzz_iterations(b):
    """Per fuzz child: the iterations it reached (its last progress or its
    final line; a child killed by the kernel counts what it had reported)."""
    reached = {}
    for env, n in re.findall(r"fuzz child env (\d+)(?: seed \d+)?: (\d+) iterations", b.log):
        reached[env] = max(reached.get(env, 0), int(n))
    return reached


@pytest.mark.parametrize("cpu", ["max", "qemu64"])
def test_fuzzer_beside_a_victim_leaves_it_intact_and_the_kernel_whole(keel, cpu):
    """20,000 random calls from 10 fuzz children (seeds 1..10): no panic,
    the victim's memory and computation intact, and every frame,
    capability and heap object back."""
    b = keel.boot("run=victim:7,fuzz:1:10:2000", cpu=cpu, icount=True, timeout=240).expect_verdict("success")
    b.expect_victim_intact()
    b.expect(r"^fuzz: seed 1: 10 children x 2000 iterations done$")
    reached = fuzz_iterations(b)
    assert len(reached) >= 8, reached
    total = sum(reached.values())
    finished = len(re.findall(r"^fuzz child env \d+ seed \d+: 2000 iterations, (\d+) accepted", b.log, re.M))
    assert finished >= 5 and total >= 12000, (finished, total)
    # The calls were not all refused at the door: some were accepted.
    accepted = sum(map(int, re.findall(r"2000 iterations, (\d+) accepted", b.log)))
    assert accepted > 1000
    b.expect_nothing_leaked()


def test_fuzzer_on_four_cpus_leaves_the_victim_intact_and_the_kernel_whole(keel):
    """The same with four CPUs (icount): the children, their parent and the
    victim run at once on different CPUs, every page-table change is shot
    down on the others, and the end-of-run leak check sees every CPU's part
    (the others stopped first)."""
    b = keel.boot("run=victim:7,fuzz:1:10:2000", smp=4, icount=True, timeout=240).expect_verdict("success")
    b.expect_victim_intact()
    b.expect(r"^fuzz: seed 1: 10 children x 2000 iterations done$")
    b.expect(r"^envs: the run is over: the other 3 CPUs stopped$")
    assert b.value(r"^envs: TLB shootdown: \d+ syncs of changes other CPUs may cache, (\d+) IPIs sent") > 0
    b.expect_nothing_leaked()


def fuzz_trail(b):
    """What the fuzz children did, in order: every progress, trap and final
    line of theirs (each with the running hash of every call, its arguments
    and its result so far), and the kernel's word on any it killed."""
    return re.findall(r"^(?:fuzz child env .*|env \d+ \(fuzz\): killed: .*)$", b.log, re.M)


def test_the_same_seed_makes_the_same_calls(keel):
    """Under -icount a seed replays exactly: each child's running hash of
    every call (number, arguments, the batches and requests they point at,
    how it entered) and every result is the same at every progress line, and
    so is how each child ended. Another seed makes other calls: none of its
    hashes appears in the first run."""
    runs = [keel.boot("run=fuzz:3:2:1000", icount=True).expect_verdict("success") for _ in range(2)]
    trails = [fuzz_trail(b) for b in runs]
    hashes = [re.findall(r"hash (0x[0-9a-f]{16})", "\n".join(t)) for t in trails]
    assert len(hashes[0]) >= 2, trails[0]  # at least one progress line per child
    assert trails[0] == trails[1]
    other = keel.boot("run=fuzz:5:2:1000", icount=True).expect_verdict("success")
    other_hashes = re.findall(r"hash (0x[0-9a-f]{16})", "\n".join(fuzz_trail(other)))
    assert len(other_hashes) >= 2
    assert not set(other_hashes) & set(hashes[0]), (other_hashes, hashes[0])


@pytest.mark.slow
def test_long_fuzz_run(keel):
    """./keel test --slow: 200 children x 5,000 calls = 1,000,000 calls."""
    b = keel.boot("run=victim:11,fuzz:1000:200:5000", icount=True, timeout=3600).expect_verdict("success")
    b.expect_victim_intact()
    print(f"fuzz iterations reached: {sum(fuzz_iterations(b).values())}")
    b.expect_nothing_leaked()


def test_frames_run_out_machine_wide_with_an_error_and_come_back(keel):
    b = keel.boot("run=exhaust:frames,victim:5:40 quota_frames=1000000 quota_caps=1000000", mem="128M",
                  timeout=120).expect_verdict("success")
    # Out of memory machine-wide: the last call to fail may have needed more
    # than one frame (the app's own bookkeeping maps a page, with a table and
    # its records), so a frame may be left; which one fails depends on how
    # the boot's own allocations fell.
    m = b.expect(r"^exhaust frames: (\d+) frames allocated, then ENOMEM \(([012]) frames? free in the machine\)$")
    assert int(m.group(1)) > 20000
    b.expect(r"^exhaust frames: deleted: .* allocating again: ok$")
    b.expect_victim_intact()
    b.expect_nothing_leaked()


def test_page_tables_run_out_with_an_error_and_are_given_back(keel):
    b = keel.boot("run=exhaust:pt,victim:5 quota_frames=4096").expect_verdict("success")
    n = b.value(r"^exhaust pt: (\d+) page tables made, then EDQUOT$")
    # Each table costs two frames of the quota: itself and the kernel's record of its entries.
    assert 1900 < n < 2048
    b.expect(r"^exhaust pt: ok$")
    b.expect_victim_intact()
    b.expect_nothing_leaked()


def test_timer_entries_cannot_be_exhausted(keel):
    """One deadline per env, re-armed in place: after each of 100,000 arms
    (each 1-2 s ahead of itself) the kernel's queue holds one entry for the
    env plus the scheduler's; and once the clock is past every deadline
    ever set, exactly one timer event has come, for the last deadline, not
    before it. (-icount: no deadline can pass between two arms because the
    host stalled.)"""
    b = keel.boot("run=exhaust:timers,victim:5", icount=True, timeout=120).expect_verdict("success")
    most = b.value(r"^exhaust timers: 100000 deadlines set, each 1-2 s ahead; the kernel's timer queue held at most "
                   r"(\d+) entries after any of them$")
    # The victim sets no deadline: the queue holds exhaust's and the scheduler's time slice.
    assert most == 2, f"{most} timers queued: exhaust's deadline and the time slice expected"
    b.expect(r"^exhaust timers: then the last, 1 ms ahead; by 1 ms past the latest deadline ever set, 1 timer "
             r"event\(s\) delivered \(0 before the last was set\), for deadline the last, delivered on time$")
    b.expect(r"^exhaust timers: ok$")
    b.expect_nothing_leaked()


def test_spawn_refuses_each_bad_request_and_the_env_quota_binds(keel):
    b = keel.boot("run=exhaust:spawn,victim:5", icount=True).expect_verdict("success")
    want = {
        "image pointer in the kernel half": "EFAULT", "image pointer not canonical": "EFAULT",
        "empty image name": "EINVAL", "image name of 32 bytes": "E2BIG", "image name with a NUL inside": "EINVAL",
        "no such module": "ENOENT", "a module that is not a program": "ENOEXEC", "arguments too long": "E2BIG",
        "frame quota below 64": "EINVAL", "capability quota below 16": "EINVAL", "more frames than it has": "EDQUOT",
        "more capabilities than it has": "EDQUOT", "more envs than it may have": "EDQUOT",
        "an unknown flag": "EINVAL",
    }
    got = dict(re.findall(r"^exhaust spawn: (.+?): (E[A-Z0-9]+|accepted)$", b.log, re.M))
    assert got == want
    b.expect(r"^exhaust spawn: \d+ children \(quota 16 envs\), then EDQUOT with 16 alive;")
    b.expect(r"^exhaust spawn: all ended: envs used 0,")
    b.expect(r"^exhaust spawn: ok$")
    b.expect_victim_intact()
    b.expect_nothing_leaked()


def test_an_env_spawning_without_end_is_stopped_by_its_quota(keel):
    """A spawn bomb: every copy spawns copies until refused. The tree never
    exceeds the root's quota of 4 descendants; each copy is refused with
    EDQUOT; the victim and the kernel notice nothing."""
    b = keel.boot("run=exhaust:bomb,victim:5 quota_envs=4", icount=True).expect_verdict("success")
    # How many spawns there are depends on when copies end (an ended copy
    # gives its quota back); what may never happen is more than 4 alive.
    alive, most, spawned = set(), 0, 0
    for m in re.finditer(r"^env (\d+) \(exhaust\): (spawned by|exited|killed|ended)", b.log, re.M):
        if m.group(2) == "spawned by":
            alive.add(m.group(1))
            spawned += 1
            most = max(most, len(alive))
        else:
            alive.discard(m.group(1))
    assert most == 4, f"at most {most} descendants alive at once; the quota is 4"
    stops = re.findall(r"^exhaust bomb: env \d+ depth \d+: spawned \d+, then (\w+)$", b.log, re.M)
    assert len(stops) == spawned + 1 and set(stops) == {"EDQUOT"}, stops
    b.expect_victim_intact()
    b.expect_nothing_leaked(started=spawned + 2, failed=0)


def test_children_end_with_their_parent(keel):
    b = keel.boot("run=exhaust:orphan").expect_verdict("success")
    assert len(re.findall(r"^env \d+ \(spin\): ended with its parent env 1$", b.log, re.M)) == 3
    b.expect_nothing_leaked()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_frame_and_heap_allocations_failing_at_random_leak_nothing(keel, seed):
    """fail=frame:rand:SEED:20,heap:rand:SEED:20: 2% of the kernel's frame
    and heap allocations fail once the envs run. Envs see errors (some
    give up, which is the boot's failure verdict), the kernel neither
    panics nor leaks, and the victim is intact."""
    b = keel.boot(f"run=victim:3,vm:churn:3000,exhaust:spawn,threads,fuzz:{seed}:3:1000 "
                  f"fail=frame:rand:{seed}:20,heap:rand:{seed}:20", icount=True, timeout=240)
    assert b.verdict in ("success", "failure"), b.verdict
    frames = b.expect(r"^fail: (\d+) of (\d+) frame allocations failed at random$")
    heap = b.expect(r"^fail: (\d+) of (\d+) heap allocations failed at random$")
    assert int(frames.group(1)) > 0 and int(heap.group(1)) > 0
    b.expect_victim_intact()
    b.expect_nothing_leaked()


@pytest.mark.slow
def test_soak_ten_envs_mixing_everything(keel):
    """./keel test --slow: ten envs for a long run under -icount: two
    victims (each told the other is a peer that waits too), two fuzz
    supervisors (250 children x 5,000 calls each), churn, threads, a spawn
    bomb, policy switching under running threads, timer and spawn
    exhaustion, random allocation failures at 0.5%."""
    b = keel.boot("run=victim:1:2000:1,victim:2:2000:1,fuzz:1000:250:5000,fuzz:2000:250:5000,vm:churn:100000,"
                  "threads,exhaust:bomb,sched:switch,exhaust:timers,exhaust:spawn "
                  "fail=frame:rand:9:5,heap:rand:9:5", icount=True, timeout=3600)
    assert b.verdict in ("success", "failure"), b.verdict
    for env in (1, 2):  # the boot's victims (fuzz children may spawn more)
        b.expect(rf"^victim env {env}: \d+ rounds, memory checksum 0x[0-9a-f]+ intact, computation intact$")
    print(f"fuzz iterations reached: {sum(fuzz_iterations(b).values())}")
    b.expect_nothing_leaked()
