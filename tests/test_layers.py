"""The kernel's layering (docs/architecture.md "Layers"), checked on the
sources' #include lines and on the built objects' symbol references.

A module (a path under kern/ without extension) may use modules of its own
layer or below, never above, and no set of modules may use each other in a
loop. Symbol references are read from the objects that went into the kernel,
so a call, a data reference or a jump from assembly counts, not only an
#include. KNOWN_BACK_EDGES lists the debt still being paid off: an edge there
that no longer exists must be struck off, so the list only shrinks."""

import fnmatch
import json
import re
import functools
import subprocess
from collections import defaultdict
from pathlib import Path

from conftest import BUILD, SRC

KERN = SRC / "kern"
ARCH_DOC = SRC / "docs" / "architecture.md"

# (from, to) edges that go up or round, still to be removed.
KNOWN_BACK_EDGES = set()  # none left: keep it so


def layer_table():
    """[(layer, [module patterns])] from the table in docs/architecture.md."""
    text = ARCH_DOC.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers = []
    for m in re.finditer(r"^\| (\d+) \| [^|]+ \| (.+) \|$", section, re.M):
        layers.append((int(m.group(1)), re.findall(r"`([^`]+)`", m.group(2))))
    assert layers, "docs/architecture.md has no layer table"
    return layers


def layer_of(module, layers):
    hits = [n for n, pats in layers if any(fnmatch.fnmatchcase(module, p) for p in pats)]
    assert len(hits) == 1, f"{module}: in {len(hits)} layers of docs/architecture.md (must be exactly one)"
    return hits[0]


def module_of(path):
    """kern/arch/x86_64/entry.S -> arch/x86_64/entry; kern/uapi/keel/abi.h -> keel/abi;
    kern/shared/lib/string.c -> lib/string (the ABI and the shared code are
    spelled from their own include roots)."""
    p = Path(path).resolve()
    rel = p.relative_to(KERN)
    if rel.parts[0] in ("uapi", "shared"):
        rel = rel.relative_to(rel.parts[0])
    return str(rel.with_suffix(""))


def include_edges():
    edges = set()
    for f in list(KERN.rglob("*.[chS]")):
        if "uapi" in f.parts or "shared" in f.parts:
            continue  # the ABI and the shared code see nothing of the kernel (tests/test_build.py)
        me = module_of(f)
        for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read_text(), re.M):
            if inc in ("config.h", "asm-offsets.h"):
                target = inc[:-2]  # generated into the build directory
            else:
                cand = [f.parent / inc, KERN / inc, KERN / "uapi" / inc, KERN / "shared" / inc]
                found = next((c for c in cand if c.exists()), None)
                assert found, f"{f}: cannot resolve #include \"{inc}\""
                target = module_of(found)
            if target != me:
                edges.add((me, target, f"#include \"{inc}\" in {f.relative_to(SRC)}"))
    return edges


def kernel_objects():
    cc = json.loads((BUILD / "compile_commands.json").read_text())
    out = {}
    for c in cc:
        if "keel.elf.p" in c["output"] or "libshared-kernel" in c["output"]:
            src = (Path(c["directory"]) / c["file"]).resolve()
            out[module_of(src)] = Path(c["directory"]) / c["output"]
    assert len(out) > 40, "the kernel's objects are not in compile_commands.json"
    return out


def symbol_edges(objects):
    defined, used = {}, defaultdict(set)
    mod_of = {str(obj): mod for mod, obj in objects.items()}
    # One nm for every object (-A: each line starts with its file's name).
    listing = subprocess.run(["nm", "-A", *mod_of], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        path, _, rest = line.partition(":")
        mod, parts = mod_of[path], rest.split()
        if len(parts) == 2 and parts[0] == "U":
            used[mod].add(parts[1])
        elif len(parts) == 3 and parts[1].isupper() and parts[1] not in "UW":
            defined[parts[2]] = mod
    edges = set()
    for mod, syms in used.items():
        for s in syms:
            to = defined.get(s)
            if to and to != mod:
                edges.add((mod, to, f"{mod} uses {s}"))
    return edges


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


@functools.lru_cache(maxsize=None)
def all_edges():
    return frozenset(include_edges() | symbol_edges(kernel_objects()))


def test_every_kernel_module_has_a_layer():
    layers = layer_table()
    for mod in set(kernel_objects()) | {m for e in include_edges() for m in e[:2]}:
        layer_of(mod, layers)


def test_no_module_uses_a_higher_layer():
    layers = layer_table()
    up = defaultdict(list)
    for a, b, why in all_edges():
        if layer_of(a, layers) < layer_of(b, layers):
            up[(a, b)].append(why)
    new = {e: w for e, w in up.items() if e not in KNOWN_BACK_EDGES}
    gone = KNOWN_BACK_EDGES - {(a, b) for a, b, _ in all_edges()}
    assert not new, "lower layers using higher ones:\n" + "\n".join(
        f"  {a} (layer {layer_of(a, layers)}) -> {b} (layer {layer_of(b, layers)}): {'; '.join(sorted(w)[:3])}"
        for (a, b), w in sorted(new.items()))
    assert not gone, f"no longer used, strike them off KNOWN_BACK_EDGES: {sorted(gone)}"


def test_no_modules_use_each_other_in_a_loop():
    graph = defaultdict(set)
    for a, b, _ in all_edges():
        if (a, b) not in KNOWN_BACK_EDGES:
            graph[a].add(b)
    loops = cycles(graph)
    assert not loops, f"modules in a loop: {loops}"
