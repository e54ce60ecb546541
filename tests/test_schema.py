"""The config schema: the default config satisfies it, and config/README.md is generated from it."""

from __future__ import annotations


def test_config_readme_is_generated_from_the_schema():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "tools/config_doc.py", "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_default_config_validates_against_the_schema():
    import jsonschema
    import yaml

    schema = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))
    for name in ("config/config.yaml",):
        jsonschema.validate(yaml.safe_load(open(name)), schema)
