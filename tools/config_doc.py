"""Write config/README.md from the config schema: every key with its type, default and meaning.

python tools/config_doc.py            # rewrite config/README.md
python tools/config_doc.py --check    # exit 1 if config/README.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
OUT = ROOT / "config" / "README.md"

HEADER = """# Configuration

`config.yaml` is the embedded default (synthetic data, tiny random model); `study.yaml`
is the published study's protocol and `rehearsal.yaml` its rehearsal at true resolution.
Both are overlays of `config.yaml`: they hold only the keys that differ from it, and
`--configfile` merges them over it key by key (a list replaces the default's list; the
regions and the storm catalogue are the default's). Any key can be overridden with `--config key=value`
or another file with `--configfile`. The workflow validates the config against
`workflow/schemas/config.schema.yaml` before any job runs (unknown keys and wrong types
are rejected, naming the key), then checks relations between keys (an end date before the
start, an unknown region, dates outside the synthetic store).

This page is generated from the schema by `python tools/config_doc.py`.

| key | type | default | meaning |
| --- | --- | --- | --- |
"""


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    if "oneOf" in node:
        return " or ".join(_type(n) for n in node["oneOf"])
    t = node.get("type", "")
    return " or ".join(t) if isinstance(t, list) else str(t)


def _rows(node: dict, prefix: str = "") -> list[str]:
    rows = []
    for key, sub in node.get("properties", {}).items():
        name = f"{prefix}{key}"
        default = json.dumps(sub["default"]) if "default" in sub else ""
        desc = str(sub.get("description", "")).replace("|", "\\|")
        rows.append(
            f"| `{name}` | {_type(sub)} | `{default}` | {desc} |"
            if default
            else f"| `{name}` | {_type(sub)} | | {desc} |"
        )
        if sub.get("type") == "object" and "properties" in sub:
            rows += _rows(sub, name + ".")
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in extra:
            rows += _rows(extra, f"{name}.<name>.")
            for k, s2 in extra["properties"].items():
                items = s2.get("items")
                if isinstance(items, dict) and "properties" in items:
                    rows += _rows(items, f"{name}.<name>.{k}[].")
    return rows


def render() -> str:
    schema = yaml.safe_load(SCHEMA.read_text())
    return HEADER + "\n".join(_rows(schema)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text() != text:
            print("config/README.md is out of date: run python tools/config_doc.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
