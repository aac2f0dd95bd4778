#!/usr/bin/env bash
# Assemble the gigabyte search corpus: real code nobody here wrote, fetched through the
# package registries' own clients and pinned in tools/bench/search_corpus/:
#   crates  Cargo.toml + Cargo.lock of a throwaway package; `cargo vendor --locked` unpacks
#           every crate of its dependency graph (Rust, and C/C++ that -sys crates bundle:
#           RocksDB, gRPC, OpenSSL, AWS-LC, libgit2, curl, FreeType, HarfBuzz...), less the
#           duplicate generated bindings listed in drop.txt;
#   pypi    source distributions (`pip download --no-deps --no-binary NAME`) of pypi.txt
#           (only the package itself from source: its build tools come as wheels);
#   npm     package tarballs (`npm pack`) of npm.txt.
# The corpus lands in DEST/tree/{crates,pypi,npm} (default DEST=/work/corpus), outside any
# repository; downloads are kept in DEST/dl so a second run only unpacks. Prints the size.
# Usage: tools/bench/search_corpus.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists="$here/search_corpus"
dest=${1:-/work/corpus}
tree="$dest/tree"
dl="$dest/dl"
mkdir -p "$tree" "$dl/pypi" "$dl/npm" "$dl/cargo/src"

echo "== crates (cargo vendor --locked)" >&2
if [ ! -d "$tree/crates" ]; then
  cp "$lists/Cargo.toml" "$lists/Cargo.lock" "$dl/cargo/"
  : >"$dl/cargo/src/lib.rs"
  (cd "$dl/cargo" && cargo vendor -q --locked --versioned-dirs "$tree/crates.part" >/dev/null)
  grep -v '^#' "$lists/drop.txt" | while read -r name; do
    [ -n "$name" ] && rm -rf "$tree/crates.part/$name"
  done
  mv "$tree/crates.part" "$tree/crates"
fi

echo "== PyPI source distributions" >&2
grep -v '^#' "$lists/pypi.txt" | while read -r spec; do
  [ -z "$spec" ] && continue
  name=${spec%%==*}
  version=${spec##*==}
  if ! ls "$dl/pypi" | grep -iq "^${name//-/[-_]}-${version}\.\(tar\.gz\|zip\)$"; then
    pip download --no-deps --no-binary "$name" -q -d "$dl/pypi" "$spec" >&2
  fi
done
mkdir -p "$tree/pypi"
for f in "$dl/pypi"/*; do
  base=$(basename "$f"); base=${base%.tar.gz}; base=${base%.zip}
  [ -d "$tree/pypi/$base" ] && continue
  case "$f" in
    *.zip) (cd "$tree/pypi" && python3 -m zipfile -e "$f" .) ;;
    *) tar -xzf "$f" -C "$tree/pypi" ;;
  esac
done

echo "== npm packages" >&2
mkdir -p "$tree/npm"
grep -v '^#' "$lists/npm.txt" | while read -r spec; do
  [ -z "$spec" ] && continue
  # npm pack names the tarball after the package: @scope/name@1.0 -> scope-name-1.0.tgz
  name=${spec%@*}
  version=${spec##*@}
  file="$(echo "${name#@}" | tr '/' '-')-$version.tgz"
  if [ ! -f "$dl/npm/$file" ]; then
    (cd "$dl/npm" && npm pack -q "$spec" >/dev/null)
  fi
  out="$tree/npm/${file%.tgz}"
  if [ ! -d "$out" ]; then
    mkdir -p "$out"
    tar -xzf "$dl/npm/$file" -C "$out" --strip-components=1
  fi
done

# Unpacked archives keep their modes; make everything readable, nothing executable-only.
chmod -R u+rwX "$tree"
echo "corpus: $tree" >&2
du -sh "$tree"/* >&2
