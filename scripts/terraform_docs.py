"""The inputs and outputs tables of terraform/modules/pushfeed/README.md, generated from
variables.tf and outputs.tf (as terraform-docs does), between the BEGIN_TF_DOCS and
END_TF_DOCS markers.
  python scripts/terraform_docs.py          rewrite the README's tables
  python scripts/terraform_docs.py --check  exit 1 if they are not what the .tf files say
Needs python-hcl2 (the test venv has it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hcl2

MODULE = Path(__file__).resolve().parents[1] / "terraform" / "modules" / "pushfeed"
README = MODULE / "README.md"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def plain(v):
    """python-hcl2 keeps HCL's quotes and ${…} around expressions; show them as HCL."""
    if isinstance(v, str):
        if v.startswith("${") and v.endswith("}"):
            return v[2:-1]
        if len(v) >= 2 and v[0] == v[-1] == '"':
            return v[1:-1]
        return v
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items() if not str(k).startswith("__")}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def default_text(v) -> str:
    if isinstance(v, str):
        return f'`"{v}"`'
    return f"`{json.dumps(v)}`"


def render() -> str:
    with (MODULE / "variables.tf").open() as f:
        variables = hcl2.load(f).get("variable", [])
    with (MODULE / "outputs.tf").open() as f:
        outputs = hcl2.load(f).get("output", [])
    rows = []
    for v in variables:
        ((name, body),) = v.items()
        name = plain(name)
        required = "default" not in body
        rows.append((not required, name, f"| `{name}` | {cell(plain(body.get('description', '')))} | `{cell(str(plain(body.get('type', 'any'))))}` | "
                     f"{'n/a' if required else cell(default_text(plain(body['default'])))} | {'yes' if required else 'no'} |"))
    # Required inputs first, then the rest, each in file order (as written: grouped by topic).
    rows.sort(key=lambda r: r[0])
    lines = [BEGIN, "## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    lines += [r[2] for r in rows]
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for o in outputs:
        ((name, body),) = o.items()
        lines.append(f"| `{plain(name)}` | {cell(plain(body.get('description', '')))} |")
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"{README} has no {BEGIN} … {END} section", file=sys.stderr)
        return 1
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render() + text[end:]
    if "--check" in sys.argv[1:]:
        if new != text:
            print(f"{README}'s inputs/outputs tables differ from variables.tf/outputs.tf: "
                  "run `python scripts/terraform_docs.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
