"""docs/design.md's map of the folders matches the tree: every Rust source file is named
in it, and every file it names exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def map_block() -> str:
    text = (ROOT / "docs" / "design.md").read_text()
    start = text.index("```\ncrates/\n")
    return text[start + 4:text.index("```", start + 4)]


def named_files() -> set[str]:
    """Every file the map names, as crates/<crate>/src/<path>: a crate's section is its
    `  <crate>/src/` line and the more indented lines under it; explanations in
    parentheses are skipped; `dir/{a,b}.rs` names dir/a.rs and dir/b.rs."""
    sections: dict[str, str] = {}
    crate = None
    for line in map_block().splitlines():
        m = re.match(r"^  (\w+)/src/(.*)$", line)
        if m:
            crate = m.group(1)
            sections[crate] = m.group(2)
        elif line.startswith("    ") and crate is not None:
            sections[crate] += " " + line
        else:
            crate = None
    names: set[str] = set()
    for crate, text in sections.items():
        text = re.sub(r"\s+", " ", text)
        text = re.sub(r"\{([^{}]*)\}", lambda m: "{" + m.group(1).replace(" ", "") + "}", text)
        text = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", " ", text)
        for folder, stem in re.findall(r"((?:\w+/)*)(\{[\w,]+\}|\w+)\.rs", text):
            for s in stem.strip("{}").split(","):
                names.add(f"crates/{crate}/src/{folder}{s}.rs")
    return names


def test_every_source_file_is_in_the_map_and_every_name_exists():
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "crates").glob("*/src/**/*.rs")}
    named = named_files()
    assert sorted(tree - named) == [], "source files missing from docs/design.md's map"
    assert sorted(named - tree) == [], "docs/design.md's map names files that do not exist"


def test_every_crate_is_in_the_parts_table():
    text = (ROOT / "docs" / "design.md").read_text()
    table = text[text.index("| crate / folder | job | never |"):text.index("| port | folder | adapters |")]
    for crate in (ROOT / "crates").iterdir():
        if (crate / "Cargo.toml").exists():
            assert f"`crates/{crate.name}`" in table, crate.name
