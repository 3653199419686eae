#!/usr/bin/env python3
"""Where the memory of a running Ridge server's Python workers goes (docs/benchmarks.md, "idle
worker memory"). A measurement, not a test: figures are printed, nothing is asserted.

    scripts/worker-memory.py SERVER_PID

A worker is a child of the server whose process tree runs Python: bubblewrap, the sandbox's
init (bubblewrap again, or Ridge's drop helper, PID 1 of the worker's PID namespace) and the
interpreter. An interpreter a runtime's zygote forked is the zygote's child: it counts in the
tree of the bubblewrap whose PID namespace it runs in, and the zygote is left out. For each
kind of process it prints the mean over the workers (pre-started ones still waiting for their
function included, as in ridge-bench) of `smaps_rollup`'s Pss, Private_Dirty and shared
(Shared_Clean + Shared_Dirty) sizes, then the interpreter's Pss by mapping: the interpreter's
writable data (static objects and relocations of libpython or the python binary), the malloc
heap, anonymous mappings (pymalloc's arenas), the stack, and file text shared with every other
process that maps it. Run it as root (or as the server's user) while the workers are idle.
"""
import os
import re
import sys

MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$")


def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def tree(pid):
    """`pid` and its descendants, parents first."""
    out = [pid]
    for child in children(pid):
        out += tree(child)
    return out


def pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def worker_trees(server):
    """Each worker's processes: a child of the server and its descendants, with the zygote's
    children that run in its PID namespace."""
    host = pid_namespace(server)
    trees, forked = [], []
    for child in children(server):
        if any("ridge-zygote" in a for a in argv(child)):
            forked += [tree(worker) for worker in children(child)]
        else:
            trees.append(tree(child))
    sandbox = {pid_namespace(p): t for t in trees for p in t}
    sandbox.pop(host, None)
    for pids in forked:
        owner = sandbox.get(pid_namespace(pids[0]))
        if owner is None:
            trees.append(pids)
        else:
            owner += pids
    return trees


def argv(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def rollup(pid):
    """smaps_rollup's sizes, in KiB."""
    sizes = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                sizes[key] = int(rest.split()[0])
    return sizes


def by_mapping(pid):
    """Pss (KiB) of `pid` by kind of mapping."""
    kinds = {}
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = MAPPING.match(line)
            if m:
                perms, name = m.group(1), m.group(2)
                base = os.path.basename(name)
                if name == "[heap]":
                    kind = "malloc heap"
                elif name == "[stack]":
                    kind = "stack"
                elif not name:
                    kind = "anonymous (pymalloc arenas, large allocations)"
                elif ("libpython" in base or base.startswith("python")) and "w" in perms:
                    kind = "interpreter data (static objects, relocations)"
                elif "w" in perms:
                    kind = "other libraries' data"
                else:
                    kind = "file text and read-only data (shared)"
            elif line.startswith("Pss:") and kind is not None:
                kinds[kind] = kinds.get(kind, 0) + int(line.split()[1])
    return kinds


def role(pid, depth, args):
    if args and os.path.basename(args[0]).startswith("python"):
        return "python"
    if args and os.path.basename(args[0]) == "bwrap":
        return "bubblewrap" if depth == 0 else "sandbox init (bubblewrap, PID 1)"
    if args and args[0].startswith("/proc/self/fd/"):
        return "sandbox init (drop helper, PID 1)"
    return os.path.basename(args[0]) if args else "?"


def mean(rows, key):
    return sum(r[key] for r in rows) / max(len(rows), 1)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    server = int(sys.argv[1])
    groups = {"": {}}
    python_maps = {"": []}
    counts = {"": 0}
    for pids in worker_trees(server):
        roles = [(p, role(p, i, argv(p))) for i, p in enumerate(pids)]
        pythons = [p for p, r in roles if r == "python"]
        if not pythons:
            continue  # a helper, not a worker
        group = ""
        counts[group] += 1
        try:
            for pid, r in roles:
                groups[group].setdefault(r, []).append(rollup(pid))
            python_maps[group].append(by_mapping(pythons[0]))
        except OSError:
            continue  # ended meanwhile
    for group, roles in groups.items():
        if not roles:
            continue
        print(f"{counts[group]} workers, mean per worker (KiB):")
        print(f"  {'process':36} {'Pss':>7} {'Private_Dirty':>14} {'shared':>8} {'Rss':>7}")
        total = 0.0
        for r, rows in roles.items():
            shared = [{"s": x.get("Shared_Clean", 0) + x.get("Shared_Dirty", 0)} for x in rows]
            pss = mean(rows, "Pss")
            total += pss * len(rows) / counts[group]
            print(f"  {r:36} {pss:7.0f} {mean(rows, 'Private_Dirty'):14.0f} "
                  f"{mean(shared, 's'):8.0f} {mean(rows, 'Rss'):7.0f}")
        print(f"  {'the whole tree':36} {total:7.0f}  ({total / 1024:.2f} MiB)")
        maps = python_maps[group]
        kinds = sorted({k for m in maps for k in m})
        print("  the interpreter's Pss by mapping (KiB):")
        for k in sorted(kinds, key=lambda k: -sum(m.get(k, 0) for m in maps)):
            print(f"    {k:52} {sum(m.get(k, 0) for m in maps) / len(maps):7.0f}")


if __name__ == "__main__":
    main()
