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
  # Bytecode once, here: where PYTHONDONTWRITEBYTECODE is set (this machine sets it), every
  # daemon and skiff command the tests start would otherwise compile the controller again.
  python3 -m compileall -q controller
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
    if [ $# -eq 0 ]; then
      # The compose test's images (a debootstrap and two builds, about two minutes on a fresh
      # machine) build meanwhile; its fixture runs the same script, which waits on this one.
      deploy/compose/build-local-images.sh >/tmp/skiff-compose-images.log 2>&1 &
    fi
    # Two workers: the engine suites in order on one, unit and property tests on the other
    # (tests/conftest.py); the slowest are listed, for the 20-minute budget.
    exec python3 -m pytest -q -n 2 --dist loadgroup --durations=25 "$@"
    ;;
  *)
    echo "usage: ./dev.sh run [skiff run options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
