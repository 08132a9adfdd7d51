#!/usr/bin/env bash
# The two commands of the README:
#   ./dev.sh run    runs Skiff on the example manifests in manifests/
#   ./dev.sh test   runs every check: ruff, mypy, unit, property, integration and e2e tests
# Both first make sure Docker runs, the local images exist and Skiff is installed.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  scripts/ensure-docker.sh
  scripts/build-images.sh
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check -e '.[test]'
}

case "${1:-}" in
  run)
    shift
    setup
    exec python3 -m controller run --manifests manifests "$@"
    ;;
  test)
    shift
    setup
    ruff check .
    ruff format --check .
    mypy
    mypy benchmarks  # they import the controller: a move must not break them unseen
    lint-imports  # the layers: .importlinter, docs/architecture.md
    exec python3 -m pytest -q --durations=25 "$@"  # the slowest, for the 20-minute budget
    ;;
  *)
    echo "usage: ./dev.sh run [skiff run options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
