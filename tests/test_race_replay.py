"""A race found by replaying backwards (apps/race, docs/debugging.md "Worked example: a race found
by replaying backwards"): two libOS threads lose counter updates when the scheduler's tick lands
between a load and a store; the final assertion fails; a recording of that boot, replayed under gdb,
leads from the failed assertion back to the preemption that lost the updates.

What goes backwards here is keel-seek (a snapshot load and a replay forward to an instruction
count): one replay runs forward to the failed assertion, noting the instruction count of every
preemption on the way, and then seeks back to the last one that cut a thread between its load and
its store. (From the start snapshot, reverse-continue to a watchpoint on the counter or to a
breakpoint in Ring 3 did not come back within minutes; from the snapshot below it does, but a noted
instruction count names the moment exactly.)

The recording takes a snapshot as the kernel loads race (boot/replay.py record, snapshot_at=
debug_env_loaded), and the replay starts by seeking there: replayed from the start, the boot before
it costs 35-55 s each way (2.2 M of the log's 2.5 M events are the kernel's PIT calibration, and each
event is a hand-over between QEMU's threads), where the race itself replays in 0.2 s. With the
snapshot this test takes 5-8 s here instead of 95-150 s, and it still replays every preemption of
the race.
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import keelqemu
import replay
from conftest import BUILD, SRC, free_port, tail

LOST = r"^race: ASSERTION FAILED: counter == (\d+): found (\d+), (\d+) updates lost$"
MARK = "==race-replay-mark=="


def test_the_fixed_counter_loses_nothing_and_the_racy_one_fails_its_assertion(keel):
    keel.boot("run=race:fixed", icount=True).expect_verdict("success") \
        .expect(r"^race: fixed: counter 800 \(expected 800\): no update lost$")
    b = keel.boot("run=race", icount=True).expect_verdict("failure")
    m = b.expect(LOST)
    assert m.group(1) == "800" and int(m.group(2)) < 800 and int(m.group(3)) == 800 - int(m.group(2))
    b.expect(r"^env \d+ \(race\): exited with code 1$")
    again = keel.boot("run=race", icount=True).expect(LOST)
    assert again.group(0) == m.group(0), "under -icount the same updates are lost on every boot"


class Replay:
    """QEMU replaying a recording, paused for gdb on a free port, with a QMP socket (as in test_replay)."""

    def __init__(self, recdir):
        self.tmp = Path(tempfile.mkdtemp(prefix="race-replay-", dir="/tmp"))
        self.qmp = self.tmp / "qmp.sock"
        self.port = free_port()
        argv = replay.replay_argv(replay.open_recording(recdir), f"file:{self.tmp / 'serial.log'}", self.tmp,
                                  ["-gdb", f"tcp:127.0.0.1:{self.port}", "-S",
                                   "-qmp", f"unix:{self.qmp},server=on,wait=off"])
        self.errf = open(self.tmp / "qemu.stderr", "w+")
        self.qemu = keelqemu._start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.errf)
        self.recdir = Path(recdir)

    def gdb(self, script, timeout=120.0):
        """gdb in batch mode as ./keel debug --replay starts it, then `script`; its stdout+stderr."""
        (self.tmp / "commands.gdb").write_text(script)
        env = dict(os.environ, KEEL_SRC=str(SRC), KEEL_BUILDDIR=str(self.recdir),
                   KEEL_SERIAL_LOG=str(self.recdir / "serial.log"), KEEL_QMP=str(self.qmp),
                   KEEL_GDB_TARGET=f"127.0.0.1:{self.port}")
        g = subprocess.run(["gdb", "-q", "-nx", "-batch", "-x", str(SRC / "boot" / "gdbinit-replay"),
                            "-x", str(self.tmp / "commands.gdb"), str(self.recdir / "kern" / "keel.elf")],
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
        return g.stdout + "\n--- gdb stderr ---\n" + g.stderr

    def close(self):
        keelqemu._reap(self.qemu)
        self.errf.close()
        subprocess.run(["rm", "-rf", str(self.tmp)])


# The line where libos's dispatcher saves a preempted thread's registers (found, not written down:
# an edit above it must not move the breakpoint).
SAVE_LINE = next(i for i, line in enumerate((SRC / "libos" / "dispatch.c").read_text().splitlines(), 1)
                 if "prev->ctx = *interrupted;" in line)

# Where the recording takes its snapshot: race loaded, not one of its instructions run yet.
START = "debug_env_loaded"

# The session of docs/debugging.md's worked example. To the recording's snapshot in one move; forward
# once, to the failed assertion, with a breakpoint that notes each preemption (the dispatcher saving
# the preempted thread's registers) and lets the replay go on; then back, with keel-seek, to the last
# preemption inside adder's window (from the snapshot, not the start).
SESSION = r"""
keel-seek SNAPSHOT
keel-icount
bt 1
echo MARK\n
python
hits = []
class Preemption(gdb.Breakpoint):
    def stop(self):
        n = int(gdb.execute("keel-icount", to_string=True).split()[1])
        rip = int(gdb.parse_and_eval("interrupted->rip"))
        where = gdb.execute(f"info symbol {rip}", to_string=True).split()[0]
        hits.append((n, gdb.parse_and_eval("prev->name").string(), where))
        return False
Preemption("dispatch.c:SAVE_LINE")
end
break race_check_failed
continue
keel-icount
echo MARK\n
python
for n, name, where in hits:
    print(f"preempted {name} in {where} at icount {n}")
window = [h for h in hits if h[2] in ("adder", "thread_burn")]
gdb.execute("delete")
gdb.execute(f"keel-seek {window[-1][0]}")
end
echo MARK\n
keel-icount
bt 1
print prev->name
info symbol interrupted->rip
print interrupted->r12
print 'race.c'::counter
print next->name
info symbol next->ctx.rip
print next->ctx.r12
kill
""".replace("MARK", MARK).replace("SAVE_LINE", str(SAVE_LINE))


def test_replaying_back_from_the_failed_assertion_finds_the_preemption_that_lost_updates(tmp_path):
    d = tmp_path / "race.rr"
    r = replay.record(BUILD, d, "run=race", keelqemu.Machine(icount=True), timeout=120.0, snapshot_at=START)
    assert r.verdict == "failure", f"the recorded boot ended in {r.verdict}\n{tail(r.log)}"
    found = int(re.search(LOST, r.log, re.M).group(2))
    n_start = replay.open_recording(d).snapshots().get(START)
    assert n_start, f"the recording took no snapshot at {START}\n{tail(r.log)}"
    rp = Replay(d)
    try:
        out = rp.gdb(SESSION.replace("SNAPSHOT", str(n_start)))
    finally:
        rp.close()
    context = tail(out, 60)
    parts = out.split(MARK + "\n")
    assert len(parts) == 4, f"the gdb session did not get through its steps\n{context}"
    start, forward, hits, back = parts
    assert re.findall(r"^icount (\d+)$", start, re.M) == [str(n_start)], \
        f"keel-seek did not land on the snapshot's {n_start}\n{context}"
    assert re.search(rf"^#0 +{START} ", start, re.M), context
    assert re.search(rf"^Breakpoint \d+, race_check_failed \(found={found}, expected=800\)", forward, re.M), context
    n_fail = int(re.findall(r"^icount (\d+)$", forward, re.M)[-1])
    preempted = re.findall(r"^preempted (adder-[ab]) in (\w+) at icount (\d+)$", hits, re.M)
    window = [(int(n), name) for name, where, n in preempted if where in ("adder", "thread_burn")]
    assert window, f"no preemption landed between a load and a store\n{context}"
    # Taken before race ran its first instruction, the snapshot leaves out none of its preemptions:
    # both threads are cut, more than twice in all (a 1 ms tick, ~8 M instructions of adding).
    assert {"adder-a", "adder-b"} <= {name for name, _, _ in preempted} and len(preempted) > 2, context
    n_back, name = window[-1]
    assert n_start < n_back < n_fail
    assert re.findall(r"^icount (\d+)$", back, re.M) == [str(n_back)], f"keel-seek did not land on {n_back}\n{context}"
    assert re.search(rf"^#0 .*switch_preempted .*dispatch\.c:{SAVE_LINE}", back, re.M), context
    assert f'= "{name}' in back, context
    # The thread preempted now holds v (r12, the value it loaded) equal to the counter; the thread about
    # to resume was preempted between its load and its store too, holding an older v: its store of v + 1
    # overwrites every increment made since.
    m = re.search(r"^\$\d+ = \"adder-[ab].*\n(\w+) \+ \d+ in section .*\n\$\d+ = (\d+)\n\$\d+ = (\d+)\n"
                  r"\$\d+ = \"(adder-[ab]).*\n(\w+) \+ \d+ in section .*\n\$\d+ = (\d+)\n", back, re.M)
    assert m, f"the session did not print both threads' state\n{context}"
    now_where, now_v, counter, other, other_where, other_v = m.groups()
    assert now_where in ("adder", "thread_burn") and now_v == counter, context
    assert other != name and other_where in ("adder", "thread_burn"), context
    assert int(other_v) < int(counter), f"the resuming thread's stale v should be below the counter\n{context}"
