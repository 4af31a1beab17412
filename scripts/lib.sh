# Shared by scripts/*: cache locations and the Python environments the tests need.
# shellcheck shell=bash
PUSHFEED_CACHE="${PUSHFEED_CACHE:-$HOME/.cache/pushfeed}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PUSHFEED_CACHE/target}"
VENV="$PUSHFEED_CACHE/venv"
CHECKOV_VENV="$PUSHFEED_CACHE/venv-checkov"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

# The test venv: moto's server (AWS stand-in), boto3, pytest, locust, python-hcl2.
ensure_venv() {
  local want="scripts/requirements-test.txt"
  if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$want" "$VENV/.requirements"; then
    step "installing the test venv in $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r "$want"
    cp "$want" "$VENV/.requirements"
  fi
}

# checkov lives in its own venv: it ships an hcl2 module that clashes with python-hcl2.
ensure_checkov() {
  local want="scripts/requirements-checkov.txt"
  if [ ! -x "$CHECKOV_VENV/bin/checkov" ] || ! cmp -s "$want" "$CHECKOV_VENV/.requirements"; then
    step "installing checkov in $CHECKOV_VENV"
    rm -rf "$CHECKOV_VENV"
    "$PYTHON" -m venv "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/pip" install --quiet --upgrade pip
    "$CHECKOV_VENV/bin/pip" install --quiet -r "$want"
    cp "$want" "$CHECKOV_VENV/.requirements"
  fi
}

# cargo-lambda (from PyPI, with Zig as its linker): builds the Lambda zips for either
# architecture against Amazon Linux's glibc.
LAMBDA_VENV="$PUSHFEED_CACHE/venv-lambda"
ensure_cargo_lambda() {
  local want="scripts/requirements-lambda.txt"
  if [ ! -x "$LAMBDA_VENV/bin/cargo-lambda" ] || ! cmp -s "$want" "$LAMBDA_VENV/.requirements"; then
    step "installing cargo-lambda in $LAMBDA_VENV"
    rm -rf "$LAMBDA_VENV"
    "$PYTHON" -m venv "$LAMBDA_VENV"
    "$LAMBDA_VENV/bin/pip" install --quiet --upgrade pip
    "$LAMBDA_VENV/bin/pip" install --quiet -r "$want"
    cp "$want" "$LAMBDA_VENV/.requirements"
  fi
  export PATH="$LAMBDA_VENV/bin:$PATH"
}
