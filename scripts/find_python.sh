#!/bin/sh
# Print the newest (default) or oldest supported Python (3.13, 3.12, 3.11) that runs here
# and can make a venv: first python3.X on PATH, then pyenv's installed versions (whose
# shims on PATH do not run unless that version is active). Nothing found: python3.
#   sh scripts/find_python.sh [newest|oldest]
order="3.13 3.12 3.11"
[ "${1:-newest}" = oldest ] && order="3.11 3.12 3.13"
for version in $order; do
  for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version"*/bin/"python$version"; do
    if "$candidate" -c "import venv, ensurepip" >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      exit 0
    fi
  done
done
echo python3
