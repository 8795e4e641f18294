#!/usr/bin/env bash
# The house layout, checked (docs/architecture.md draws it):
#
# * storage-std's modules form layers; a module may import (`use crate::x`, `crate::x::`)
#   only modules of a lower layer, never one of its own layer or above, and never an item
#   through a re-export at the crate root (`crate::now_ns`): that would hide the edge.
# * No .rs file under ringcore/src or storage-std/src has more than 800 lines of code.
#   Lines of code exclude blank lines, comment lines (doc comments included), and test
#   code: `#[cfg(test)]` items (inline `mod tests { .. }`) and the files of modules
#   declared `#[cfg(test)] mod name;`.
#
#   ./scripts/check-layout.sh          check; exit 1 on any violation
#   ./scripts/check-layout.sh --list   also print each file's lines of code
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import os, re, sys

LIMIT = 800
SIZE_ROOTS = ["ringcore/src", "storage-std/src"]
LAYERED_ROOT = "storage-std/src"
# storage-std's layers, lowest first. Modules on one line are peers: they may not import
# each other. lib.rs (the crate root) only declares and re-exports.
LAYERS = [
    ["error", "clock", "time"],
    ["format"],
    ["backend"],
    ["scan"],
    ["segment"],
    ["state", "quarantine", "chain_files"],
    ["recovery", "verify", "offsets"],
    ["retention"],
    ["progress"],
    ["reader"],
    ["writer"],
    ["archive", "asynch", "dispatch"],
    ["audit"],
]
LAYER_OF = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def strip(text):
    """The code of `text` with comments and the contents of string and char literals
    blanked out (newlines kept, so line numbers hold)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "/" and nxt == "*":
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
            continue
        prev = text[i - 1] if i else ""
        raw = re.match(r'b?r(#*)"', text[i:]) if c in "rb" and not (prev.isalnum() or prev == "_") else None
        if raw:
            close = '"' + raw.group(1)
            j = text.find(close, i + raw.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
            continue
        if c == "'":
            if nxt == "\\":
                j = text.find("'", i + 3)
                i = n if j < 0 else j + 1
                out.append("' '")
                continue
            if i + 2 < n and text[i + 2] == "'":
                out.append("' '")
                i += 3
                continue
        out.append(c)
        i += 1
    return "".join(out)


CFG_TEST = re.compile(r"^\s*#\[cfg\((test|all\(test\b.*)\)\]\s*$")
TEST_MOD_DECL = re.compile(r"^\s*#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def code_lines(stripped):
    """(line number, text) of every non-blank line outside `#[cfg(test)]` items."""
    lines = stripped.split("\n")
    kept, i = [], 0
    while i < len(lines):
        line = lines[i]
        if CFG_TEST.match(line) or TEST_MOD_DECL.match(line):
            # Skip the attribute and the item it is on: up to a `;` before any brace, or
            # to the brace that closes the item's first one.
            depth, opened, j = 0, False, i
            rest = line.split("]", 1)[1] if "]" in line else ""
            while True:
                for ch in rest:
                    if ch == "{":
                        depth, opened = depth + 1, True
                    elif ch == "}":
                        depth -= 1
                    elif ch == ";" and not opened and depth == 0:
                        opened = True
                if opened and depth <= 0:
                    break
                j += 1
                if j >= len(lines):
                    break
                rest = lines[j]
            i = j + 1
            continue
        if line.strip():
            kept.append((i + 1, line))
        i += 1
    return kept


def test_only_files(path, text):
    """Files of the modules `path` declares with `#[cfg(test)] mod name;`."""
    stem = os.path.basename(path)
    base = os.path.dirname(path)
    if stem not in ("mod.rs", "lib.rs", "main.rs"):
        base = os.path.join(base, stem[:-3])
    out = set()
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text):
        out.add(os.path.join(base, m.group(1) + ".rs"))
        out.add(os.path.join(base, m.group(1), "mod.rs"))
    return out


def rust_files(root):
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def imports(path, kept):
    """(line, target module) for every `crate::x` path in the kept code of `path`,
    grouped imports (`use crate::{a::X, b}`) included."""
    text = "\n".join(line for _, line in kept)
    numbers = [no for no, _ in kept]

    def line_of(offset):
        return numbers[text.count("\n", 0, offset)]

    found = []
    for m in re.finditer(r"\bcrate::\{", text):
        depth, start, i = 1, m.end(), m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            elif text[i] == "," and depth == 1:
                name = re.match(r"\s*(\w+)", text[start:i])
                if name:
                    found.append((line_of(start + name.start(1)), name.group(1)))
                start = i + 1
            i += 1
        name = re.match(r"\s*(\w+)", text[start : i - 1])
        if name:
            found.append((line_of(start + name.start(1)), name.group(1)))
    for m in re.finditer(r"\bcrate::(\w+)", text):
        found.append((line_of(m.start()), m.group(1)))
    if os.path.dirname(path) == LAYERED_ROOT:
        # In a file directly under src/, `super::` is the crate root.
        for m in re.finditer(r"\bsuper::(\w+)", text):
            found.append((line_of(m.start()), m.group(1)))
    return found


def main():
    listing = "--list" in sys.argv[1:]
    problems, sizes = [], []
    for root in SIZE_ROOTS:
        files = list(rust_files(root))
        texts = {p: open(p, encoding="utf-8").read() for p in files}
        test_only = set()
        for p, t in texts.items():
            test_only |= test_only_files(p, t)
        for p in files:
            if p in test_only:
                continue
            kept = code_lines(strip(texts[p]))
            sizes.append((len(kept), p))
            if len(kept) > LIMIT:
                problems.append(f"{p}: {len(kept)} lines of code, more than {LIMIT}")
            if root != LAYERED_ROOT:
                continue
            rel = os.path.relpath(p, root)
            module = rel.split(os.sep)[0]
            module = module[:-3] if module.endswith(".rs") else module
            if module in ("lib", "main"):
                continue
            if module not in LAYER_OF:
                problems.append(f"{p}: module `{module}` is in no layer of scripts/check-layout.sh")
                continue
            for no, target in imports(p, kept):
                if target == module or target in ("self",):
                    continue
                if target not in LAYER_OF:
                    problems.append(
                        f"{p}:{no}: `crate::{target}` goes through the crate root; "
                        f"import it from the module that defines it"
                    )
                elif LAYER_OF[target] >= LAYER_OF[module]:
                    problems.append(
                        f"{p}:{no}: `{module}` (layer {LAYER_OF[module]}) imports `{target}` "
                        f"(layer {LAYER_OF[target]}); a module may only import lower layers"
                    )
    if listing:
        for n, p in sorted(sizes, reverse=True):
            print(f"{n:6} {p}")
    for pr in problems:
        print(pr)
    if problems:
        print(f"check-layout: {len(problems)} problem(s)")
        sys.exit(1)
    print(f"check-layout: ok ({len(sizes)} files, none over {LIMIT} lines of code, "
          f"storage-std layers respected)")


main()
PY
