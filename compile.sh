#!/usr/bin/env bash
# Builds pingpong-server and pingpong-client as standalone binaries with
# `deno compile`, for every release target, into dist/ with SHA256SUMS.
# Run `./compile.sh --help` for targets and options.
set -euo pipefail
cd "$(dirname "$0")"

readonly TARGETS=(
  x86_64-unknown-linux-gnu
  aarch64-unknown-linux-gnu
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-msvc
)

# The least each binary needs, baked in at compile time. The server reads
# --cert/--key files and writes --state-dir, both named by the operator, so
# its file access cannot be narrowed to fixed paths; the client touches no
# files. Both list network interfaces (mDNS). Neither runs programs.
# --no-prompt: a missing permission fails, never asks.
readonly COMMON_FLAGS=(--unstable-net --no-prompt)
# --allow-env whole: the HTTP/2 transport's npm dependency `debug` lists the
# environment when it loads (Object.keys(process.env)); nothing else reads it.
readonly SERVER_PERMISSIONS=(--allow-net --allow-read --allow-write --allow-env --allow-sys=networkInterfaces,hostname)
readonly CLIENT_PERMISSIONS=(--allow-net --allow-env --allow-sys=networkInterfaces)

usage() {
  cat <<EOF
Usage: ./compile.sh [options]

Compiles server.ts and client.ts with 'deno compile' into standalone
binaries named pingpong-server-TARGET and pingpong-client-TARGET (.exe on
Windows), plus SHA256SUMS, in the output directory.

Targets (default: all):
$(printf '  %s\n' "${TARGETS[@]}")

Options:
  -t, --target TARGET  build only TARGET (repeatable); 'host' names this machine's
  -o, --out DIR        output directory, replaced pingpong-* files and SHA256SUMS
                       (default: dist)
  -n, --dry-run        print the deno compile commands instead of running them
  -v, --verbose        show deno compile's own output
  -h, --help           show this help

Permissions compiled in (no --allow-all):
  pingpong-server  ${COMMON_FLAGS[*]} ${SERVER_PERMISSIONS[*]}
  pingpong-client  ${COMMON_FLAGS[*]} ${CLIENT_PERMISSIONS[*]}

Environment:
  DENORT_BIN   a denort runtime binary to build on instead of downloading one
               (deno compile fetches denort for each target from the internet);
               it fits exactly one target, so give --target with it

A binary built for this machine is run with --version before it is kept; on
any failure no binary and no SHA256SUMS are left behind.
Exit status: 0 built, 1 build failed, 2 usage error.
EOF
}

fail() {
  echo "compile.sh: $1" >&2
  exit "${2:-1}"
}

usage_error() {
  fail "$1 (see --help)" 2
}

host_target() {
  deno eval --quiet 'console.log(Deno.build.target)'
}

selected=()
out=dist
dry_run=false
verbose=false
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -t | --target)
      (($# >= 2)) || usage_error "$1 needs a value"
      selected+=("$2"); shift 2 ;;
    --target=*) selected+=("${1#*=}"); shift ;;
    -o | --out)
      (($# >= 2)) || usage_error "$1 needs a value"
      out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    -n | --dry-run) dry_run=true; shift ;;
    -v | --verbose) verbose=true; shift ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
[ -n "$out" ] || usage_error "--out must not be empty"

command -v deno >/dev/null 2>&1 || fail "deno is not on PATH (needs Deno 2.9.6)"

host=$(host_target)
if ((${#selected[@]} == 0)); then
  selected=("${TARGETS[@]}")
fi
for i in "${!selected[@]}"; do
  [ "${selected[$i]}" = host ] && selected[i]=$host
  known=false
  for target in "${TARGETS[@]}"; do
    [ "${selected[$i]}" = "$target" ] && known=true
  done
  $known || usage_error "unknown target '${selected[$i]}'; one of: ${TARGETS[*]}"
done

# An empty DENORT_BIN means none: deno compile would read it as a path.
[ -n "${DENORT_BIN:-}" ] || unset DENORT_BIN
if [ -n "${DENORT_BIN:-}" ]; then
  ((${#selected[@]} == 1)) ||
    usage_error "DENORT_BIN is a runtime for one target: name it with --target"
  if ! $dry_run; then
    [ -f "$DENORT_BIN" ] || fail "DENORT_BIN=$DENORT_BIN: no such file (it must be a denort runtime binary)"
  fi
fi

version=$(sed -nE 's/^[[:space:]]*"version":[[:space:]]*"([^"]+)".*/\1/p' deno.json | head -n 1)
[ -n "$version" ] || fail "no \"version\" in deno.json"

binary_name() { # ENTRY TARGET
  local suffix=""
  [[ "$2" == *windows* ]] && suffix=.exe
  echo "pingpong-$1-$2$suffix"
}

compile_args() { # ENTRY TARGET OUTPUT
  local permissions
  if [ "$1" = server ]; then
    permissions=("${SERVER_PERMISSIONS[@]}")
  else
    permissions=("${CLIENT_PERMISSIONS[@]}")
  fi
  echo compile --frozen "${COMMON_FLAGS[@]}" "${permissions[@]}" \
    --target "$2" --output "$3" "$1.ts"
}

if $dry_run; then
  for target in "${selected[@]}"; do
    for entry in server client; do
      # shellcheck disable=SC2046 # compile_args prints space-free words
      echo deno $(compile_args "$entry" "$target" "$out/$(binary_name "$entry" "$target")")
    done
  done
  exit 0
fi

# The first error line of deno's output, without colours.
first_error() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -m 1 -E '^error' || tail -n 1 "$1"
}

mkdir -p "$out"
staging=$(mktemp -d "$out/.staging.XXXXXX")
log=$(mktemp)
trap 'rm -rf "$staging" "$log"' EXIT

for target in "${selected[@]}"; do
  for entry in server client; do
    name=$(binary_name "$entry" "$target")
    echo "== $name"
    # shellcheck disable=SC2046
    if ! deno $(compile_args "$entry" "$target" "$staging/$name") >"$log" 2>&1; then
      $verbose && cat "$log" >&2
      if grep -q -e 'denort' -e 'Setting up base binary' "$log"; then
        if [ -n "${DENORT_BIN:-}" ]; then
          fail "DENORT_BIN=$DENORT_BIN is not a usable denort runtime for $target: $(first_error "$log" | sed 's/^error: //')"
        fi
        fail "no Deno runtime (denort) for $target: deno compile could not download it (offline?); set DENORT_BIN to a denort binary for $target and pass --target $target"
      fi
      fail "deno compile $entry.ts for $target failed: $(first_error "$log" | sed 's/^error: //')"
    fi
    $verbose && cat "$log"
    if [ "$target" = "$host" ]; then
      # A base binary that is not denort (e.g. the deno CLI itself) ignores
      # the embedded program: catch that before calling it built.
      shown=$("$staging/$name" --version 2>&1 | head -n 1 || true)
      [ "$shown" = "pingpong-$entry $version" ] ||
        fail "$name does not run pingpong (--version printed '$shown'); is DENORT_BIN a denort runtime, not the deno CLI?"
    fi
  done
done

rm -f "$out"/pingpong-server-* "$out"/pingpong-client-* "$out/SHA256SUMS"
mv "$staging"/pingpong-* "$out"/
(
  cd "$out"
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum pingpong-* >SHA256SUMS
  else
    shasum -a 256 pingpong-* >SHA256SUMS
  fi
)
echo "built $(ls "$out"/pingpong-* | wc -l | tr -d ' ') binaries of pingpong $version into $out/, with SHA256SUMS"
