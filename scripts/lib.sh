# Shared by scripts/*: cache locations and the Python environments the tests need.
# shellcheck shell=bash
PUSHFEED_CACHE="${PUSHFEED_CACHE:-$HOME/.cache/pushfeed}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PUSHFEED_CACHE/target}"
VENV="$PUSHFEED_CACHE/venv"
CHECKOV_VENV="$PUSHFEED_CACHE/venv-checkov"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

# A venv at $1 with the requirements file $2 installed, rebuilt when the file changes;
# $3 names the executable that proves it is there.
ensure_venv_at() {
  local dir="$1" want="$2" probe="$3"
  if [ ! -x "$dir/bin/$probe" ] || ! cmp -s "$want" "$dir/.requirements"; then
    step "installing $(basename "$want") in $dir"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --upgrade pip
    "$dir/bin/pip" install --quiet -r "$want"
    cp "$want" "$dir/.requirements"
  fi
}

# The test venv: moto's server (AWS stand-in), boto3, pytest, locust, python-hcl2.
ensure_venv() {
  ensure_venv_at "$VENV" scripts/requirements-test.txt python
}

# checkov lives in its own venv: it ships an hcl2 module that clashes with python-hcl2.
ensure_checkov() {
  ensure_venv_at "$CHECKOV_VENV" scripts/requirements-checkov.txt checkov
}

# cargo-lambda (from PyPI, with Zig as its linker): builds the Lambda zips for either
# architecture against Amazon Linux's glibc.
LAMBDA_VENV="$PUSHFEED_CACHE/venv-lambda"
ensure_cargo_lambda() {
  ensure_venv_at "$LAMBDA_VENV" scripts/requirements-lambda.txt cargo-lambda
  export PATH="$LAMBDA_VENV/bin:$PATH"
}

# llvm-profdata of the LLVM rustc is built on (profiles are read by that LLVM version):
# rustup's llvm-tools when present, else Debian's llvm-<major>, installed if missing.
ensure_llvm_profdata() {
  local major sysroot host candidate
  major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
  sysroot="$(rustc --print sysroot)"
  host="$(rustc -vV | sed -n 's/^host: //p')"
  for candidate in "$sysroot/lib/rustlib/$host/bin/llvm-profdata" "/usr/lib/llvm-$major/bin/llvm-profdata" \
      "$(command -v "llvm-profdata-$major" || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      LLVM_PROFDATA="$candidate"
      return 0
    fi
  done
  step "installing llvm-$major (llvm-profdata for rustc's LLVM $major) from Debian"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y "llvm-$major" >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "llvm-$major" >/dev/null; } || {
    echo "cannot install llvm-$major; install llvm-profdata for LLVM $major, or build without PGO (PUSHFEED_PGO=0)" >&2
    return 1
  }
  LLVM_PROFDATA="/usr/lib/llvm-$major/bin/llvm-profdata"
}
