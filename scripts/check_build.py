"""Build hygiene, checked without a network (scripts/test runs it):

* the workspace's `rust-version` is the true minimum: no lower than any locked
  dependency's own `rust-version` (the AWS SDK's sets the floor), and when that toolchain
  is installed (`rustup toolchain list`), the workspace checks with it;
* no unused dependencies: every crate's `[dependencies]` entry is named in its code (the
  check cargo-machete does, without installing it).

    python scripts/check_build.py        exit 1 with the reasons when a check fails
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def registry_dirs() -> list[Path]:
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    return sorted((home / "registry" / "src").glob("*"))


def msrv_problems() -> list[str]:
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    declared = workspace["workspace"]["package"]["rust-version"]
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    floor, who = (0,), None
    for pkg in lock["package"]:
        if not pkg.get("source", "").startswith("registry+"):
            continue
        for reg in registry_dirs():
            manifest = reg / f"{pkg['name']}-{pkg['version']}" / "Cargo.toml"
            if manifest.exists():
                rv = tomllib.loads(manifest.read_text()).get("package", {}).get("rust-version")
                if isinstance(rv, str) and version(rv) > floor:
                    floor, who = version(rv), f"{pkg['name']} {pkg['version']}"
                break
    problems = []
    if version(declared) < floor:
        problems.append(f"rust-version = {declared!r} but {who} needs {'.'.join(map(str, floor))}: raise it")
    print(f"rust-version {declared}; the locked dependencies need at least {'.'.join(map(str, floor))} ({who})")
    toolchains = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True).stdout
    if any(line.startswith(declared + "-") or line.split("-")[0] == declared for line in toolchains.splitlines()):
        r = subprocess.run(["cargo", f"+{declared}", "check", "--workspace", "--locked", "--all-targets"], cwd=ROOT)
        if r.returncode:
            problems.append(f"the workspace does not build with Rust {declared}")
    else:
        print(f"Rust {declared} is not installed here: building with it is left to a machine that has it")
    return problems


def unused_problems() -> list[str]:
    problems = []
    for manifest in sorted((ROOT / "crates").glob("*/Cargo.toml")):
        crate = manifest.parent
        deps = tomllib.loads(manifest.read_text()).get("dependencies", {})
        code = "\n".join(p.read_text() for d in ("src", "tests", "benches") for p in (crate / d).rglob("*.rs"))
        for dep in deps:
            name = dep.replace("-", "_")
            if not re.search(rf"\b{re.escape(name)}\b", code):
                problems.append(f"{manifest.relative_to(ROOT)}: {dep} is never used: remove it")
    return problems


def main() -> int:
    problems = msrv_problems() + unused_problems()
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if not problems:
        print("build checks passed: rust-version is the true minimum, no unused dependencies")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
