"""A rule tree in plain language, for the people who approve and audit segments rather than write them.

Each condition reads through its kind's ``describe`` (the same reading refusals use), each group as
"All of:" / "Any of:" / "None of:" with its rules below it, one level of indentation per level of
nesting. Stored trees are valid, but a version may name a kind no longer registered or a segment
since removed: those read as what is known, never as an error.
"""

from contacts.segments.registry import get_kind
from contacts.segments.rules import GROUP_OPS

INDENT = "    "
BULLET = "• "


def describe_rules(tree) -> list[str]:
    """The tree as lines: the top group's heading, then one bullet per rule, nested groups indented."""
    lines: list[str] = []
    _group(tree, depth=0, prefix="", lines=lines)
    return lines


def _group(node, *, depth: int, prefix: str, lines: list[str]) -> None:
    op = node.get("op")
    rules = node.get("rules") if isinstance(node.get("rules"), list) else []
    heading = GROUP_OPS.get(op, f"group “{op}”")
    heading = heading[0].upper() + heading[1:]
    lines.append(f"{INDENT * depth}{prefix}{heading}:" + ("" if rules else " (no rules)"))
    for child in rules:
        if isinstance(child, dict) and "op" in child:
            _group(child, depth=depth + 1, prefix=BULLET, lines=lines)
        else:
            lines.append(f"{INDENT * (depth + 1)}{BULLET}{describe_condition(child)}")


def describe_condition(node) -> str:
    """One condition's reading: its kind's ``describe``, else the kind's label, else what it says it is."""
    name = node.get("kind") if isinstance(node, dict) else None
    kind = get_kind(name) if isinstance(name, str) else None
    if kind is None:
        return f"unknown condition “{name}”" if name else "unknown condition"
    if kind.describe is None:
        return kind.label.lower()
    try:
        return kind.describe(node)
    except (TypeError, ValueError, AttributeError, KeyError):  # a malformed rule: its kind is enough
        return kind.label.lower()
