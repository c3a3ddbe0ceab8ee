#!/usr/bin/env bash
# Check the import contracts (pyproject.toml, [tool.importlinter]) with import-linter.
# The design card's folders (gis/, layers/, …) are the subpackages of `shequ` through setuptools'
# package-dir mapping, which import-linter cannot follow in an editable install; so the package is laid
# out once as it installs (hard links, instant) in a temporary folder and checked there.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/shequ"
cp -l shequ/*.py "$tree/shequ/"
for d in gis layers usecases cli api web; do
  mkdir "$tree/shequ/$d"
  cp -l "$d"/*.py "$tree/shequ/$d/"
done
root=$(pwd)
python=${PYTHON:-$root/.venv/bin/python}
# from inside the folder: the checkout's own shequ/ (the current directory comes first) must not shadow it
cd "$tree" && PYTHONPATH="$tree" "$python" -c 'import importlinter.cli, sys; sys.exit(importlinter.cli.lint_imports_command())' \
  "$root/pyproject.toml" "$@"
