#!/usr/bin/env python3
"""Recall of find_symbol against Universal Ctags on sampled definitions of a corpus.

Ctags (the Debian package `universal-ctags`) tags the same files the index sees (`rg --files`
applies the same ignore rules; files over the index's size limit are left out). Of its tags in
the languages netra-apex has grammars for, and of the kinds it extracts (functions, methods,
classes, structs, enums, traits, interfaces, modules, macros, types; not variables, fields or
enumerators), names of 4+ characters defined at most 3 times are sampled with a fixed seed;
the names ctags makes up for anonymous functions and structs (`AnonymousFunction1a2b`,
`__anon3c4d`) are not in the source and are left out.
Each is asked of `find_symbol` (through the real binary over MCP with --bin, or through the
library with --bench, search_bench's lookup phase: the same function), and counts as found
when a returned definition is in the same file and spans the tagged line (or starts within 2
lines of it). Recall is reported from the symbol index alone and with the text fallback.

Usage: search_recall.py --root CORPUS --data-dir DIR (--bin NETRA_APEX | --bench SEARCH_BENCH)
       [--sample 1000] [--seed 7] [--misses FILE] [--ctags-cache FILE [--tag-only]]
The index in DIR must be built (tools/bench/search.sh builds it first).
"""
import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile

# ctags language -> kinds (single letters) that name the definitions netra-apex extracts.
KINDS = {
    "C": set("fcsugtd"),  # function class struct union enum typedef macro
    "C++": set("fcsugntd"),  # + namespace
    "Rust": set("nsgfPMtiv"),  # module struct enum fn method macro type trait static/const
    "Python": set("cfm"),  # class function member(method)
    "JavaScript": set("fcmgGS"),  # function class method generator getter setter
    "TypeScript": set("fcimngGa"),  # + interface namespace alias(type)
    "Go": set("ftsicna"),  # func type struct interface const method-spec type-alias
    "Java": set("cgima"),  # class enum interface method annotation
}
EXTENSIONS = {
    ".rs", ".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx",
    ".go", ".java", ".c", ".h", ".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx",
}
MAX_FILE_SIZE = 1_000_000


def corpus_files(root):
    out = subprocess.run(
        ["rg", "--files", "--no-require-git", "--no-config"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    keep = []
    for rel in out:
        # search_bench's build phase saves edits there while it runs.
        if rel.startswith("zz-bench-edits/"):
            continue
        if os.path.splitext(rel)[1].lower() not in EXTENSIONS:
            continue
        try:
            if os.path.getsize(os.path.join(root, rel)) <= MAX_FILE_SIZE:
                keep.append(rel)
        except OSError:
            pass
    return keep


def ctags_lines(root, files, cache):
    """ctags's output lines; with a cache file, read from it when it exists, else saved to it
    (tagging a gigabyte takes minutes, and can then run beside the index build)."""
    if cache and os.path.exists(cache):
        with open(cache, errors="replace") as f:
            yield from f
        return
    with tempfile.NamedTemporaryFile("w", delete=False) as fl:
        fl.write("\n".join(files))
        listing = fl.name
    cmd = [
        "ctags", "-L", listing, "-f", "-", "--fields=+nKlz", "--fields=-f",
        "--extras=-F", "--output-format=u-ctags", "--kinds-all=*",
        "--languages=" + ",".join(KINDS),
    ]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, errors="replace")
    saved = open(cache + ".part", "w") if cache else None
    for line in proc.stdout:
        if saved:
            saved.write(line)
        yield line
    failed = proc.wait() != 0
    os.unlink(listing)
    if saved:
        saved.close()
        if failed:  # keep no partial cache
            os.unlink(cache + ".part")
        else:
            os.replace(cache + ".part", cache)
    if failed:
        print(f"warning: ctags exited with {proc.returncode}", file=sys.stderr)


# Names ctags makes up for what has none (an anonymous function, struct or union): they are
# not in the source, so nobody can ask for them. 107 of the 1,000 names sampled before this
# filter were such names (2026-12-06).
MADE_UP = re.compile(r"^(AnonymousFunction|__anon)[0-9a-f]+$")


def ctags_tags(root, files, cache=None):
    """(name, path, line, language, kind) of the wanted kinds."""
    for line in ctags_lines(root, files, cache):
        if line.startswith("!_"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 4:
            continue
        name, path = parts[0], parts[1]
        fields = dict(p.split(":", 1) for p in parts[3:] if ":" in p)
        lang, kind, lineno = fields.get("language"), fields.get("kind"), fields.get("line")
        if lang not in KINDS or not lineno:
            continue
        letter = KIND_LETTERS.get((lang, kind), kind[:1] if kind else "")
        if letter not in KINDS[lang] or len(name) < 4 or not name.isidentifier():
            continue
        if MADE_UP.match(name):
            continue
        yield name, path, int(lineno), lang, kind


def kind_letters():
    """ctags prints long kind names with --fields=+K; map them back to their letters."""
    out = subprocess.run(["ctags", "--list-kinds-full"], capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 3:
            table[(cols[0], cols[2])] = cols[1]
    return table


KIND_LETTERS = {}


class Mcp:
    """A minimal MCP client over stdio: newline-delimited JSON-RPC."""

    def __init__(self, binary, root, data):
        self.p = subprocess.Popen(
            [binary, "serve", "--root", root, "--data-dir", data],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env={**os.environ, "RUST_LOG": "error"},
        )
        self.next_id = 0
        self.request("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "search_recall", "version": "1"},
        })
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("netra-apex closed its output")
            msg = json.loads(line)
            if msg.get("id") == rid:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    def find_symbol(self, name):
        r = self.request("tools/call", {"name": "find_symbol",
                                        "arguments": {"name": name, "limit": 50,
                                                      "max_tokens": 20000}})
        return r.get("structuredContent") or {}

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


class Lookup:
    """find_symbol through the library: search_bench --phase lookup, one name per line."""

    def __init__(self, bench, root, data):
        self.p = subprocess.Popen(
            [bench, "--phase", "lookup", "--root", root, "--data-dir", data],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def find_symbol(self, name):
        self.p.stdin.write(name + "\n")
        self.p.stdin.flush()
        answer = json.loads(self.p.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--bin")
    ap.add_argument("--bench")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--misses")
    ap.add_argument("--ctags-cache", help="ctags output saved here, or read from here if there")
    ap.add_argument("--tag-only", action="store_true",
                    help="run ctags into --ctags-cache and stop (no index needed)")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    KIND_LETTERS.update(kind_letters())

    files = corpus_files(root)
    by_name = collections.defaultdict(list)
    n_tags = 0
    if a.tag_only:
        n = sum(1 for _ in ctags_lines(root, files, a.ctags_cache))
        print(f"ctags: {n} lines from {len(files)} files into {a.ctags_cache}")
        return 0
    for name, path, line, lang, kind in ctags_tags(root, files, a.ctags_cache):
        n_tags += 1
        entry = by_name[name]
        if len(entry) <= 3:
            entry.append((path, line, lang, kind))
    eligible = sorted(n for n, defs in by_name.items() if len(defs) <= 3)
    rng = random.Random(a.seed)
    sample = rng.sample(eligible, min(a.sample, len(eligible)))
    print(f"ctags: {n_tags} tags of the wanted kinds in {len(files)} files; "
          f"{len(eligible)} names of 4+ characters defined at most 3 times; {len(sample)} sampled "
          f"(seed {a.seed})")

    data = os.path.abspath(a.data_dir)
    mcp = Mcp(a.bin, root, data) if a.bin else Lookup(a.bench, root, data)
    by_index = with_fallback = 0
    per_lang = collections.Counter()
    per_lang_found = collections.Counter()
    misses = []
    for name in sample:
        path, line, lang, kind = rng.choice(by_name[name])
        defs = mcp.find_symbol(name).get("definitions", [])

        def hit(d):
            return d.get("path") == path and (
                d["line"] <= line <= d["end_line"] or abs(d["line"] - line) <= 2)

        indexed = any(hit(d) and d.get("match") != "text_fallback" for d in defs)
        any_hit = any(hit(d) for d in defs)
        by_index += indexed
        with_fallback += any_hit
        per_lang[lang] += 1
        per_lang_found[lang] += any_hit
        if not indexed:
            misses.append(f"{'fallback' if any_hit else 'MISS'}\t{lang}\t{kind}\t{name}\t"
                          f"{path}:{line}")
    mcp.close()
    n = len(sample)
    print(f"recall, symbol index alone: {by_index}/{n} = {by_index / n:.3f}")
    print(f"recall, with text fallbacks: {with_fallback}/{n} = {with_fallback / n:.3f}")
    print("by language (with fallbacks): " + ", ".join(
        f"{l} {per_lang_found[l]}/{per_lang[l]}" for l in sorted(per_lang)))
    if a.misses:
        with open(a.misses, "w") as f:
            f.write("\n".join(misses) + "\n")
        print(f"not found by the symbol index: {len(misses)} (listed in {a.misses})")
    for m in misses[:15]:
        print("  " + m)


if __name__ == "__main__":
    sys.exit(main())
