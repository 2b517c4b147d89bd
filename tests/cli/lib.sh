# The helpers of the end-to-end CLI tests (sourced, after `set -uo pipefail`): sets keel to the
# binary given as $1, moves into a fresh folder removed on exit, and counts checks.

keel=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2
passed=0
failed=0

check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name" >&2
  fi
}

exit_code() {  # exit_code EXPECTED COMMAND...: runs COMMAND, output to last.out
  local expected=$1
  shift
  "$@" >last.out 2>&1
  local actual=$?
  if [ "$actual" -ne "$expected" ]; then
    echo "  '$*' exited $actual, expected $expected; output:" >&2
    tail -5 last.out >&2
    return 1
  fi
}

has() { grep -q -- "$1" last.out || { echo "  output lacks '$1'" >&2; tail -5 last.out >&2; return 1; }; }
lacks() { ! grep -q -- "$1" last.out || { echo "  output has '$1'" >&2; return 1; }; }
