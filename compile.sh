#!/usr/bin/env bash
# Builds pingpong-server and pingpong-client as standalone binaries with
# `deno compile`, for every release target, into dist/ with SHA256SUMS.
# Run `./compile.sh --help` for targets and options.
set -euo pipefail
# DENORT_BIN names a file from where the user stands, not from the repository.
if [ -n "${DENORT_BIN:-}" ] && [[ "$DENORT_BIN" != /* ]]; then
  DENORT_BIN=$PWD/$DENORT_BIN
fi
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
# files. Both list network interfaces (mDNS). The server reads its groups
# (gid): a root-owned key is accepted group-readable only by a group it runs
# in (lib/key_file.ts). Neither runs programs.
# --no-prompt: a missing permission fails, never asks.
readonly COMMON_FLAGS=(--unstable-net --no-prompt)
# Build-only flags. --exclude-unused-npm: embed only the npm packages the
# entry point's module graph reaches, not the whole lockfile (the test-only
# playwright-core, kubernetes-models, fast-check, yaml: 27 of 31 MB).
readonly BUILD_FLAGS=(--frozen --exclude-unused-npm)
# --allow-env whole: the HTTP/2 transport's npm dependency `debug` lists the
# environment when it loads (Object.keys(process.env)); nothing else reads it.
readonly SERVER_PERMISSIONS=(--allow-net --allow-read --allow-write --allow-env --allow-sys=networkInterfaces,hostname,gid)
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

DENORT_BIN must be denort (not the deno CLI) built for the target: its
ELF, Mach-O or PE header is checked before compiling. Every binary is checked
for its target's format and machine, and one built for this machine is run
with --version, before it is kept; on any failure no binary and no SHA256SUMS
are left behind.
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

# The executable format and machine a target's binaries have.
target_format() { # TARGET
  case "$1" in
    x86_64-unknown-linux-gnu) echo "ELF x86-64" ;;
    aarch64-unknown-linux-gnu) echo "ELF aarch64" ;;
    x86_64-apple-darwin) echo "Mach-O x86-64" ;;
    aarch64-apple-darwin) echo "Mach-O arm64" ;;
    x86_64-pc-windows-msvc) echo "PE x86-64" ;;
  esac
}

# COUNT bytes of FILE from OFFSET, as lowercase hex without spaces.
read_hex() { # FILE OFFSET COUNT
  od -An -v -tx1 -j "$2" -N "$3" "$1" 2>/dev/null | tr -d ' \n'
}

# The little-endian unsigned integer that HEX bytes spell, in decimal.
little_endian() { # HEX
  local hex=$1 reversed=""
  while [ -n "$hex" ]; do
    reversed=${hex:0:2}$reversed
    hex=${hex:2}
  done
  echo $((16#${reversed:-0}))
}

# What FILE is, in target_format's words ("ELF aarch64"), from its header:
# ELF e_machine, Mach-O cputype, PE machine. Something else: a description
# starting "not"; an unknown machine: the format and the machine's number.
binary_format() { # FILE
  local file=$1 magic pe
  magic=$(read_hex "$file" 0 4)
  case "$magic" in
    7f454c46)
      # 64-bit little-endian only: every target is.
      [ "$(read_hex "$file" 4 2)" = 0201 ] || { echo "ELF (not 64-bit little-endian)"; return; }
      case "$(read_hex "$file" 18 2)" in
        3e00) echo "ELF x86-64" ;;
        b700) echo "ELF aarch64" ;;
        *) echo "ELF machine $(little_endian "$(read_hex "$file" 18 2)")" ;;
      esac ;;
    cffaedfe)
      case "$(read_hex "$file" 4 4)" in
        07000001) echo "Mach-O x86-64" ;;
        0c000001) echo "Mach-O arm64" ;;
        *) echo "Mach-O cputype $(little_endian "$(read_hex "$file" 4 4)")" ;;
      esac ;;
    cafebabe | bebafeca) echo "Mach-O universal (one architecture per runtime, please)" ;;
    4d5a*)
      pe=$(little_endian "$(read_hex "$file" 60 4)")
      if [ "$(read_hex "$file" "$pe" 4)" != 50450000 ]; then
        echo "MS-DOS executable (no PE header)"
        return
      fi
      case "$(read_hex "$file" $((pe + 4)) 2)" in
        6486) echo "PE x86-64" ;;
        64aa) echo "PE arm64" ;;
        *) echo "PE machine $(little_endian "$(read_hex "$file" $((pe + 4)) 2)")" ;;
      esac ;;
    *) echo "not an executable (neither ELF, Mach-O nor PE)" ;;
  esac
}

# Text only the full deno CLI carries (its 'deno compile' help), and text
# only denort carries (its message when run without a program): a base
# binary that is the CLI would ignore the embedded program.
readonly DENO_CLI_MARK='Compile the script into a self contained executable'
readonly DENORT_MARK='Could not find standalone binary section'

# Fails unless DENORT_BIN is a denort runtime for TARGET.
check_denort() { # TARGET
  local want got
  [ -f "$DENORT_BIN" ] || fail "DENORT_BIN=$DENORT_BIN: no such file (it must be a denort runtime binary)"
  want=$(target_format "$1")
  got=$(binary_format "$DENORT_BIN")
  [[ "$got" != not* ]] ||
    fail "DENORT_BIN=$DENORT_BIN is $got: it must be the denort runtime for $1 ($want)"
  [ "$got" = "$want" ] ||
    fail "DENORT_BIN=$DENORT_BIN is $got, but $1 needs $want"
  if grep -aqF "$DENO_CLI_MARK" "$DENORT_BIN"; then
    fail "DENORT_BIN=$DENORT_BIN is the deno CLI, not the denort runtime (denort-$1.zip of the Deno release)"
  fi
  grep -aqF "$DENORT_MARK" "$DENORT_BIN" ||
    fail "DENORT_BIN=$DENORT_BIN is not a denort runtime (it lacks denort's loader for compiled programs)"
}

# An empty DENORT_BIN means none: deno compile would read it as a path.
[ -n "${DENORT_BIN:-}" ] || unset DENORT_BIN
if [ -n "${DENORT_BIN:-}" ]; then
  ((${#selected[@]} == 1)) ||
    usage_error "DENORT_BIN is a runtime for one target: name it with --target"
  $dry_run || check_denort "${selected[0]}"
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
  echo compile "${BUILD_FLAGS[@]}" "${COMMON_FLAGS[@]}" "${permissions[@]}" \
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

# deno's error in one line, without colours: the first 'error:' line and,
# when a 'Caused by:' list follows, its innermost cause (the real reason,
# e.g. "Invalid object: Not an ELF file").
first_error() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
    !found && /^error/ {
      sub(/^error: /, "")
      # A temporary file that is gone by now: not worth naming.
      sub(/ to temporary file .*/, "")
      message = $0
      found = 1
      next
    }
    found && /^Caused by:/ { causes = 1; next }
    causes && /^[[:space:]]+[^[:space:]]/ {
      line = $0
      sub(/^[[:space:]]+([0-9]+:[[:space:]]+)?/, "", line)
      cause = line
      next
    }
    causes { causes = 0; if (cause != "") exit }
    { last = $0 }
    END {
      if (!found) { print last; exit }
      print (cause == "" ? message : message ": " cause)
    }'
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
      # The base binary's failures: fetching it, or writing the program
      # into it (libsui rejects what is not a well-formed executable).
      if grep -q -e 'denort' -e 'Setting up base binary' -e 'Writing deno compile executable' "$log"; then
        if [ -n "${DENORT_BIN:-}" ]; then
          fail "DENORT_BIN=$DENORT_BIN is not a usable denort runtime for $target: $(first_error "$log")"
        fi
        fail "no Deno runtime (denort) for $target: deno compile could not download it (offline?); set DENORT_BIN to a denort binary for $target and pass --target $target"
      fi
      fail "deno compile $entry.ts for $target failed: $(first_error "$log")"
    fi
    $verbose && cat "$log"
    # Every binary, whatever the target: the format and machine it promises.
    got=$(binary_format "$staging/$name")
    [ "$got" = "$(target_format "$target")" ] ||
      fail "$name is $got, not $(target_format "$target"): not kept"
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
