"""terraform/modules/pushfeed/README.md's inputs and outputs tables are what
variables.tf and outputs.tf say (scripts/terraform_docs.py renders them)."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("terraform_docs", ROOT / "scripts" / "terraform_docs.py")
docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs)


def test_the_readme_tables_are_the_generated_ones():
    text = docs.README.read_text()
    section = text[text.index(docs.BEGIN):text.index(docs.END) + len(docs.END)]
    assert section == docs.render(), "run `python scripts/terraform_docs.py` and commit the README"


def test_every_variable_and_output_is_documented_with_a_description():
    module = docs.MODULE
    names = re.findall(r'^variable "([^"]+)"', (module / "variables.tf").read_text(), re.M)
    outputs = re.findall(r'^output "([^"]+)"', (module / "outputs.tf").read_text(), re.M)
    rendered = docs.render()
    for n in names + outputs:
        row = next((l for l in rendered.splitlines() if l.startswith(f"| `{n}` |")), None)
        assert row is not None, n
        assert row.split("|")[2].strip(), f"{n} has no description"
    required = [l for l in rendered.splitlines() if l.endswith("| yes |")]
    assert {"environment", "batcher_zip", "loader_zip"} <= {l.split("`")[1] for l in required}
