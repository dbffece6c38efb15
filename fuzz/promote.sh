#!/usr/bin/env bash
# Promotes inputs the fuzzer found into the tracked corpus, fuzz/corpus/TARGET/ (replayed on
# stable by `cargo test`: dxf-proto/tests/fuzz_corpus.rs), and stages them (git add -f: new
# files in corpus/ are otherwise ignored, so a fuzz run never leaves git status dirty).
#
#   fuzz/promote.sh TARGET FILE...   these inputs (e.g. from target/fuzz-work/TARGET/)
#   fuzz/promote.sh TARGET           the inputs of fuzz/target/fuzz-work/TARGET/ (fuzz/run.sh's
#                                    scratch corpus) that add coverage to the tracked corpus,
#                                    chosen by libFuzzer's -set_cover_merge=1 (a small set)
#
# Each file is named after its SHA-1, as libFuzzer names corpus entries. Review, then commit.
set -euo pipefail
target=${1:?usage: fuzz/promote.sh TARGET [FILE...]}
shift
files=()
for f in "$@"; do files+=("$(realpath "$f")"); done
cd "$(dirname "$0")"
dest=corpus/$target
[ -f "fuzz_targets/$target.rs" ] || { echo "no fuzz target $target" >&2; exit 2; }
mkdir -p "$dest"
before=$(mktemp)
trap 'rm -f "$before"' EXIT
ls "$dest" | sort >"$before"
if [ ${#files[@]} -gt 0 ]; then
    for f in "${files[@]}"; do
        cp "$f" "$dest/$(sha1sum "$f" | cut -d' ' -f1)"
    done
else
    work=target/fuzz-work/$target
    [ -d "$work" ] || { echo "nothing to promote: run fuzz/run.sh SECONDS $target first" >&2; exit 2; }
    export RUSTC_BOOTSTRAP=1
    flags=(-O --debug-assertions --sanitizer "${FUZZ_SANITIZER:-none}")
    cargo fuzz run "${flags[@]}" "$target" "$dest" "$work" -- -set_cover_merge=1 -max_len=8192 \
        >"target/promote-$target.log" 2>&1
fi
new=$(comm -13 "$before" <(ls "$dest" | sort))
if [ -z "$new" ]; then
    echo "$target: nothing new"
    exit 0
fi
(cd "$dest" && git add -f -- $new)
echo "$target: $(wc -w <<<"$new") inputs promoted to $dest (staged)"
