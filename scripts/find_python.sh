#!/usr/bin/env bash
# Prints a Python >= 3.12 to build the virtual environment with, preferring the Lambda runtime's 3.13.
set -euo pipefail
candidates=(python3.13 python3.12)
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for minor in 3.13 3.12; do
    for dir in "$root"/versions/"$minor".*; do
      [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
    done
  done
fi
candidates+=(python3)
for candidate in "${candidates[@]}"; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "find_python: no Python 3.12+ found; install python3.13 (pyenv install 3.13) and retry" >&2
exit 1
