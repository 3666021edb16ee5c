"""The build's boundaries, read from build/compile_commands.json.

Ring 3 code (libos/, apps/) and the code both sides compile (kern/shared/)
see libos/, kern/shared/ and the ABI (kern/uapi/), never a kernel header.
Each check compiles a probe with the exact command the build used for a
real file, so it proves what the compiler can reach, not what the paths
look like."""

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, SRC

KERN = SRC / "kern"
NOT_KERNEL = (KERN / "shared", KERN / "uapi")


def kernel_headers():
    """Every kernel-internal header, by the name kernel code includes it."""
    names = {p.relative_to(KERN).as_posix() for p in KERN.rglob("*.h")
             if not any(p.is_relative_to(d) for d in NOT_KERNEL)}
    # ... and the kernel's generated ones (build/kern: config.h, asm-offsets.h;
    # libos has an asm-offsets.h of its own, told apart below).
    names |= {p.name for p in (BUILD / "kern").glob("*.h")}
    return sorted(names)


def commands():
    """The compiles of libos, the apps and the shared library's two builds (the
    host unit tests compile kern/shared/ files too, beside kernel modules)."""
    return [e for e in json.loads((BUILD / "compile_commands.json").read_text())
            if e["output"].startswith(("libos/", "apps/", "kern/shared/"))]


def command_for(prefix, suffix=".c"):
    """The compile command of one file under SRC/prefix (the first found)."""
    for entry in commands():
        src = (Path(entry["directory"]) / entry["file"]).resolve()
        if src.is_relative_to(SRC / prefix) and src.suffix == suffix:
            return entry
    pytest.fail(f"no {suffix} file under {prefix} in compile_commands.json")


def probe(entry, text, tmp_path):
    """Compile text (-fsyntax-only) as if it were entry's file; the result."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    src = tmp_path / "probe.c"
    src.write_text(text)
    out, i = [], 0
    while i < len(args):  # drop the output, dependency and source arguments
        a = args[i]
        if a in ("-o", "-MF", "-MQ", "-MT"):
            i += 2
            continue
        if a in ("-c", "-MD", "-MMD") or (Path(entry["directory"]) / a).resolve() == \
                (Path(entry["directory"]) / entry["file"]).resolve():
            i += 1
            continue
        out.append(a)
        i += 1
    # Only the build's own directories and the compiler's freestanding
    # headers: not the host's /usr/include, which has an elf.h, a spawn.h ...
    freestanding = subprocess.run([out[0], "-print-file-name=include"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    return subprocess.run(out + ["-nostdinc", "-isystem", freestanding, "-fsyntax-only", str(src)],
                          cwd=entry["directory"], capture_output=True, text=True)


@pytest.mark.parametrize("where", ["libos", "apps", "kern/shared"])
def test_ring3_and_shared_code_cannot_include_a_kernel_header(where, tmp_path):
    entry = command_for(where)
    headers = kernel_headers()
    assert "slot.h" in headers and "arch/x86_64/percpu.h" in headers and "config.h" in headers
    # A kernel header reachable by its kernel name is an error. libos has
    # headers of its own called env.h and sched.h: those are not the kernel's.
    own = {h for h in headers
           if any((root / h).exists() for root in (SRC / "libos", SRC / "apps", SRC / where))}
    own.add("asm-offsets.h")
    checks = [f'#if __has_include("{h}")\n#error "reachable: {h}"\n#endif\n' for h in headers if h not in own]
    checks += [f'#include "{h}"\n' for h in ("keel/abi.h", "lib/string.h", "lib/fmt.h", "lib/errname.h")]
    # libos's asm-offsets.h (the ABI's offsets), never the kernel's.
    checks += ['#if __has_include("asm-offsets.h")\n#include "asm-offsets.h"\n#ifdef TF_RIP\n'
               '#error "reachable: the kernel\'s asm-offsets.h"\n#endif\n#endif\n']
    r = probe(entry, "".join(checks), tmp_path)
    assert r.returncode == 0, (f"{entry['file']}'s command reaches kernel headers (or misses the shared "
                               f"ones):\n{r.stderr}")
    # The control: the same probe does see a kernel header when kern/ is on
    # the path, so its silence above means something.
    r = probe(dict(entry, command=entry["command"] + f" -I{KERN}"), checks[0], tmp_path)
    assert r.returncode != 0 and "reachable" in r.stderr, r.stderr


def test_no_ring3_compile_has_a_kernel_include_directory():
    bad = []
    for entry in commands():
        args = shlex.split(entry["command"])
        for i, a in enumerate(args):
            d = a[2:] if a.startswith("-I") and len(a) > 2 else args[i + 1] if a in ("-I", "-iquote") else None
            if d is None:
                continue
            p = (Path(entry["directory"]) / d).resolve()
            kernel_src = p.is_relative_to(KERN) and not any(p.is_relative_to(n) for n in NOT_KERNEL)
            kernel_gen = p == (BUILD / "kern").resolve()
            if kernel_src or kernel_gen:
                bad.append(f"{entry['file']}: {a} {d if a in ('-I', '-iquote') else ''}")
    assert not bad, "Ring 3 or shared code compiled with a kernel include directory:\n" + "\n".join(bad[:20])
