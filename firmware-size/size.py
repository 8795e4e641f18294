#!/usr/bin/env python3
"""Prints the code size of SPSC push+pop of 64 B (every function they reach, except the
compiler's memcpy/memset family and the firmware's critical-section implementation, which
both queues share) and the RAM of a 1 KiB ring, ringcore against bbqueue framed, for each
MCU target. Builds the two firmware binaries first; the ringcore one links only if push
and pop keep no panic path. Exit 1 if a build fails (that is the check CI relies on); the
size comparison is reported, met or MISSED, never a failure (sizes are measured, not
asserted; the RAM bound is a build-time assertion in ringcore).

    ./firmware-size/size.py [--markdown]
"""
import os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["thumbv6m-none-eabi", "thumbv7em-none-eabihf", "riscv32imc-unknown-none-elf"]
SHARED = re.compile(r"^(.*compiler_builtins.*|memcpy|memset|memmove|memcmp|__aeabi_mem\w*|__aeabi_memclr\w*|_critical_section_1_0_\w+)$")


def tool(name):
    import glob, shutil
    for cand in [f"llvm-{name}"] + sorted(glob.glob(f"/usr/bin/llvm-{name}-*")) + glob.glob(
            os.path.join(os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
                         f"toolchains/*/lib/rustlib/*/bin/llvm-{name}")):
        if shutil.which(cand):
            return cand
    sys.exit(f"llvm-{name} not found (apt-get install llvm)")


def functions(elf):
    out = subprocess.run([tool("nm"), "--print-size", "--size-sort", elf], capture_output=True, text=True, check=True).stdout
    funcs, data, addrs = {}, {}, {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        addr, size, kind, name = parts
        (funcs if kind.lower() == "t" else data)[name] = int(size, 16)
        if kind.lower() == "t":
            addrs[int(addr, 16)] = name
    return funcs, data, addrs


def calls(elf, funcs, addrs):
    out = subprocess.run([tool("objdump"), "-d", "--no-show-raw-insn", elf], capture_output=True, text=True, check=True).stdout
    graph, current, auipc = {}, None, {}
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            current = m.group(1)
            graph.setdefault(current, set())
            auipc = {}
            continue
        if current is None:
            continue
        for ref in re.findall(r"<([^>+]+)(?:\+0x[0-9a-f]+)?>", line):
            if ref != current and ref in funcs:
                graph[current].add(ref)
        # RISC-V calls and tail calls are `auipc REG, HI` then `jalr OFF(REG)` (or `jr`),
        # which objdump does not resolve to a symbol: add HI << 12 + OFF to the auipc's
        # address and look the target up among the functions' start addresses.
        m = re.match(r"^\s*([0-9a-f]+):\s+auipc\s+(\w+), (-?\w+)$", line)
        if m:
            hi = int(m.group(3), 0) & 0xFFFFF
            hi = hi - (1 << 20) if hi & (1 << 19) else hi
            auipc[m.group(2)] = int(m.group(1), 16) + (hi << 12)
            continue
        m = re.match(r"^\s*[0-9a-f]+:\s+(?:jalr|jr)\s+(?:\w+, )?(-?\d+)\((\w+)\)$", line)
        if m and m.group(2) in auipc:
            ref = addrs.get((auipc.pop(m.group(2)) + int(m.group(1))) & 0xFFFFFFFF)
            if ref is not None and ref != current and ref in funcs:
                graph[current].add(ref)
    return graph


def reach(graph, roots):
    seen, todo = set(), list(roots)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(graph.get(f, ()))
    return seen


def measure(target, queue):
    elf = os.path.join(HERE, "target", target, "release", queue)
    funcs, data, addrs = functions(elf)
    graph = calls(elf, funcs, addrs)
    roots = [f"{queue}_push", f"{queue}_pop"]
    missing = [r for r in roots if r not in funcs]
    if missing:
        sys.exit(f"{elf}: {missing} not found")
    reached = sorted(reach(graph, roots))
    counted = [(f, funcs[f]) for f in reached if not SHARED.match(f)]
    ram = data.get(f"{queue.upper()}_RING_BYTES")
    return sum(s for _, s in counted), counted, ram


def main():
    markdown = "--markdown" in sys.argv
    ok = True
    rows = []
    for target in TARGETS:
        r = subprocess.run(["cargo", "build", "--release", "--quiet", "--target", target],
                           cwd=HERE, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            sys.exit(f"build for {target} failed (a panic path in ringcore's push/pop fails the link)")
        rc, rc_funcs, rc_ram = measure(target, "ringcore")
        bb, bb_funcs, bb_ram = measure(target, "bbqueue")
        met = rc <= bb
        rows.append((target, rc, bb, rc_ram, bb_ram, met, rc_funcs, bb_funcs))
    if markdown:
        print("| target | ringcore push+pop (B) | bbqueue framed push+pop (B) | ringcore 1 KiB ring RAM (B) | bbqueue 1 KiB RAM (B) | code ≤ bbqueue |")
        print("|---|--:|--:|--:|--:|---|")
        for t, rc, bb, rr, br, met, _, _ in rows:
            print(f"| {t} | {rc} | {bb} | {rr} | {br} | {'met' if met else 'MISSED'} |")
    else:
        for t, rc, bb, rr, br, met, rf, bf in rows:
            print(f"{t}: ringcore {rc} B, bbqueue framed {bb} B ({'met' if met else 'MISSED'}); RAM of a 1 KiB ring: ringcore {rr} B, bbqueue {br} B")
            print("   ringcore: " + ", ".join(f"{f} {s}" for f, s in rf))
            print("   bbqueue:  " + ", ".join(f"{f} {s}" for f, s in bf))
        print("no panic path in ringcore's push/pop (the link would have failed)")
    sys.exit(0 if ok else 1)


main()
