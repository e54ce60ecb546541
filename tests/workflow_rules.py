"""The workflow's rules read as text: each rule's directives and its lines.

Shared by the checks that read the rule files rather than run Snakemake: the per-rule
environments (tests/test_envs.py, tests/test_slurm.py) and the settings each rule
declares (tests/test_rerun_triggers.py).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class RuleInfo:
    name: str
    file: Path
    line: int
    directives: dict[str, str]  # directive -> its text (first line and continuation)
    text: str = ""  # the rule's lines, from its ``rule`` line to its last

    def path_of(self, directive: str) -> Path | None:
        """Path named by a directive holding one string literal, relative to the rule file."""
        text = self.directives.get(directive)
        if text is None:
            return None
        try:
            value = ast.literal_eval(text.strip().rstrip(","))
        except (ValueError, SyntaxError):
            value = None
        assert isinstance(value, str), (
            f"{self.file.name}:{self.line}: rule {self.name}: `{directive}:` is not a "
            f"plain string literal ({text.strip()!r}); this test cannot follow it"
        )
        return (self.file.parent / value).resolve()


_RULE_HEAD = re.compile(r"^(\s*)(rule|checkpoint)\s+(\w+)\s*:\s*(#.*)?$")
_DIRECTIVE = re.compile(r"^(\s+)(\w+)\s*:(.*)$")


def parse_rules(path: Path) -> list[RuleInfo]:
    """Rules of a Snakefile or .smk file, with the text of each directive.

    Rules may be indented (defined inside an ``if`` block); a rule ends at the first line
    indented no deeper than its ``rule`` line.
    """
    rules: list[RuleInfo] = []
    current: RuleInfo | None = None
    rule_indent = 0
    directive_indent: int | None = None
    directive: str | None = None
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        head = _RULE_HEAD.match(line)
        if head:
            current = RuleInfo(head.group(3), path, lineno, {}, line)
            rules.append(current)
            rule_indent, directive_indent, directive = indent, None, None
            continue
        if current is not None and indent <= rule_indent:  # any other statement ends the rule
            current = None
        if current is None:
            continue
        current.text += "\n" + line
        match = _DIRECTIVE.match(line)
        if match and (directive_indent is None or indent <= directive_indent):
            directive_indent = indent
            directive = match.group(2)
            current.directives[directive] = match.group(3).strip()
        elif directive is not None:
            joined = current.directives[directive]
            current.directives[directive] = (joined + "\n" + line.strip()).strip()
    return rules


def workflow_rules(root: Path = REPO) -> list[RuleInfo]:
    """Every rule of the workflow's rule files (``workflow/rules/*.smk`` under ``root``)."""
    files = sorted((root / "workflow" / "rules").glob("*.smk"))
    return [rule for f in files for rule in parse_rules(f)]
