#!/usr/bin/env bash
# The dxf benchmark (issue 6): builds `dxf` and the dxf-hyper examples in release, installs
# docker-registry (apt) and python-dxf 12.1.1 (a virtualenv under bench/.venv) when missing,
# then runs bench/bench.py against a fresh registry on loopback and writes bench/RESULTS.md.
#
#   bench/run.sh            full run (1 MiB, 64 MiB, 1 GiB; 5 runs after a warm-up; ~10 min)
#   bench/run.sh --quick    smoke run (1 MiB only, 3 runs), results to bench/RESULTS-quick.md
#   extra arguments go to bench.py (e.g. --runs 7, --note 'text for the header')
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

missing=()
for tool in docker-registry curl openssl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$here/.venv"
if ! "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("python-dxf") == "12.1.1"' 2>/dev/null; then
  echo "installing python-dxf 12.1.1 into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check python-dxf==12.1.1 >/dev/null
fi

echo "building (release)" >&2
cargo build -q --release -p dxf-cli -p dxf-hyper --bin dxf --example pull --example push_dir
bin="$root/target/release"

size=$(stat -c %s "$bin/dxf")
stripped=$(mktemp)
cp "$bin/dxf" "$stripped"
strip "$stripped" 2>/dev/null || true
ssize=$(stat -c %s "$stripped")
rm -f "$stripped"
deps=$(cargo tree -q -p dxf-cli -e normal --prefix none | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | wc -l)
ours=$(cargo tree -q -p dxf-cli -e normal --prefix none | sed 's/ (\*)$//' | sort -u | grep -c '(/' || true)
info="\`dxf\` release binary: $(awk "BEGIN{printf \"%.2f\", $ssize/1048576}") MiB stripped \
($size bytes as built). Dependencies: $deps packages in \`cargo tree -p dxf-cli -e normal\` \
($ours of them this workspace's)."

out="$here/RESULTS.md"
for a in "$@"; do [ "$a" = "--quick" ] && out="$here/RESULTS-quick.md"; done
exec python3 "$here/bench.py" \
  --dxf "$bin/dxf" --hyper-pull "$bin/examples/pull" --hyper-push "$bin/examples/push_dir" \
  --python-dxf "$venv/bin/dxf" --size-info "$info" --binary-bytes "$ssize" --out "$out" "$@"
