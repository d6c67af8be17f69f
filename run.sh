#!/usr/bin/env bash
# The two commands of the README, each doing its own set-up on a fresh machine:
#   ./run.sh demo   install into .venv if needed, run the synthetic demo end to end (report included)
#   ./run.sh test   install into .venv (and, as root, the Debian packages the tests use), run the tests
#   ./run.sh install  only the install (EXTRAS=dev,mutation adds the mutation-testing tool)
# Extra arguments go to snakemake (demo) or pytest (test).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

install() {
    local stamp="$VENV/.installed" want
    local extras=${EXTRAS:-dev}
    want=$( (cat pyproject.toml; echo "$extras") | sha1sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return; fi
    echo "==> installing the workflow into $VENV (first run only, about 2 minutes)"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        { echo "ERROR: Python >= 3.10 is needed ($PY is $("$PY" --version))" >&2; exit 1; }
    [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
    local log="$VENV/install.log"
    # pip's and setuptools' chatter goes to a log, shown only if the install fails
    if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e ".[$extras]"; } \
        >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "ERROR: installing into $VENV failed; full log: $log" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
}

# JAX for one test (the GPU check's route for machines without TensorFlow), kept beside the venv rather
# than in it: TensorFlow imports jax whenever it can, 0.4 s more for every step of the workflow.
JAX_DIR="$VENV/jax-0.10.2"
install_jax() {
    [[ -d $JAX_DIR/jax ]] && return
    if ! "$VENV/bin/python" -m pip install --no-deps --target "$JAX_DIR" jax==0.10.2 jaxlib==0.10.2 \
        >"$VENV/jax-install.log" 2>&1; then
        tail -n 20 "$VENV/jax-install.log" >&2
        echo "ERROR: installing jax into $JAX_DIR failed; full log: $VENV/jax-install.log" >&2
        exit 1
    fi
}

cmd=${1:-}
shift || true
case "$cmd" in
install)
    install
    ;;
demo)
    install
    export PATH="$PWD/$VENV/bin:$PATH"
    snakemake --cores "${CORES:-2}" --resources gpu=1 --configfile config/demo.yaml "$@"
    echo "==> done: open results/report/index.html"
    ;;
test)
    install
    install_jax
    bash tests/system_deps.sh
    export PATH="$PWD/$VENV/bin:$PATH"
    set +e
    python -m pytest "$@"
    rc=$?
    set -e
    # pytest's 5 means no test ran: that is a failure here, never a pass
    exit $rc
    ;;
*)
    echo "usage: ./run.sh demo|test|install [args...]" >&2
    exit 2
    ;;
esac
