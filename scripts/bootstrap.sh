#!/usr/bin/env bash
# Make .venv with Yizhan installed (and the test extras when asked), once per pyproject.toml
# version: safe to run again, fast when nothing changed. Sourced by ./yizhan and ./run-tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "Yizhan needs Python 3.11 or newer (none found on PATH)" >&2
  return 1
}

venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python="$(find_python)"
  "$python" -m venv "$venv" || {
    echo "could not create a virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
stamp="$venv/.yizhan-installed${extras:+-$extras}"
want="$(cat "$root/pyproject.toml" "$root/tests/fixtures/aliyun/constraints-aliyun-sdk.txt" \
  | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing Yizhan into $venv (first run or dependencies changed)..." >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  constraints=()
  if [ "$extras" = test ]; then  # the SDK versions verified together (docs/aliyun.md)
    constraints=(-c "$root/tests/fixtures/aliyun/constraints-aliyun-sdk.txt")
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "${constraints[@]}" -e "$root${extras:+[$extras]}" >&2
  echo "$want" > "$stamp"
fi
