"""The entry and exit code, read from the built objects (kern/arch/x86_64/
entry.S and exit.S).

Some entry hazards cannot be provoked in a QEMU boot: QEMU does not model
speculation. They are properties of the instruction stream, so these tests
disassemble the object that went into the kernel and check them there."""

import re
import subprocess

from conftest import BUILD

OBJS = [BUILD / "kern" / "keel.elf.p" / f"arch_x86_64_{name}.S.o" for name in ("entry", "exit")]
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def disassemble(obj):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    insns, labels = [], {}
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <(\S+)>:$", line)
        if m:
            labels[int(m.group(1), 16)] = m.group(2)
            continue
        m = INSN_RE.match(line)
        if m:
            insns.append((int(m.group(1), 16), m.group(2), m.group(3)))
    return insns, labels


def jump_target(operands):
    m = re.match(r"([0-9a-f]+)(?: <|$)", operands)
    return int(m.group(1), 16) if m else None


def gs_uses_without_lfence(insns, start):
    """Paths from the instruction after insns[start] (a swapgs) that reach a
    %gs-relative access or a call without passing an lfence: the
    CVE-2019-1125 pattern, where a mispredicted swapgs decision lets the
    kernel speculatively use the user's GS base."""
    index = {a: i for i, (a, _, _) in enumerate(insns)}
    bad, seen, todo = [], set(), [start + 1]
    while todo:
        i = todo.pop()
        if i in seen or i >= len(insns):
            continue
        seen.add(i)
        addr, mnem, ops = insns[i]
        if mnem == "lfence":
            continue  # fenced: safe from here
        if "%gs:" in ops or mnem.startswith("call"):
            bad.append(f"{addr:#x}: {mnem} {ops}")
            continue
        if mnem in ("swapgs", "iretq", "sysretq", "ret", "ud2", "int3"):
            continue  # the next swapgs is checked on its own; the rest leave
        target = jump_target(ops) if mnem.startswith("j") else None
        if target is not None and target in index:
            todo.append(index[target])
        if mnem != "jmp":
            todo.append(i + 1)
    return bad


def test_every_swapgs_is_fenced_before_the_kernel_uses_gs():
    problems, total = {}, 0
    for obj in OBJS:
        insns, labels = disassemble(obj)
        swapgs = [i for i, (_, m, _) in enumerate(insns) if m == "swapgs"]
        total += len(swapgs)
        for i in swapgs:
            bad = gs_uses_without_lfence(insns, i)
            if bad:
                problems[f"{obj.name}: swapgs at {insns[i][0]:#x}"] = bad
    assert total >= 8, f"entry.S and exit.S have {total} swapgs: are these the right objects?"
    assert not problems, f"GS used after a swapgs with no lfence between: {problems}"

