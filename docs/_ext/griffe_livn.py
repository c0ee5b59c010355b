"""A griffe extension that renders livn's reStructuredText-flavoured docstrings as Markdown.

livn's docstrings use Sphinx roles (``:class:`~livn.run.Run```), ``::`` before literal blocks and,
once, a simple reStructuredText table. mkdocstrings renders docstrings as Markdown, so before they
are parsed this extension rewrites

- each role into an optional cross-reference: a link when the target is in the API reference, plain
  code otherwise (a role naming something relative, e.g. ``:class:`System``` inside livn.system,
  is resolved in the scope of the documented object; ``~`` shows the last component only);
- a paragraph ending in ``::`` into one ending in ``:`` (the indented block below stays code);
- a simple table (``===  ===`` borders, no header) into a Markdown table;

and gives an attribute without a docstring the ``#:`` comment lines right above it (the Sphinx
convention livn uses for constants and class attributes), so those are documented too.

Only the text mkdocstrings renders changes; the sources are not touched.
"""

from __future__ import annotations

import re
from html import escape

import griffe

_ROLE = re.compile(r":(?:py:)?(class|meth|func|data|attr|mod|obj|exc|const):`(~?)([^`<>]+?)`")
_LITERAL = re.compile(r"(\S)::(\n\s*\n)")
_BORDER = re.compile(r"^(\s*)(=+)(\s+=+)+\s*$")


def _target(obj: griffe.Object, name: str) -> str | None:
    """The full path ``name`` stands for where ``obj`` is documented, or None."""
    name = name.strip().rstrip("()")
    head, _, rest = name.partition(".")
    if head.split(".")[0] in {"livn", "diffrax", "jax", "brian2", "numpy", "neuron"} or head.startswith("livn_"):
        return name
    try:
        base = obj.resolve(head)
    except Exception:  # noqa: BLE001 - griffe raises several kinds; an unresolved name stays plain code
        return None
    return f"{base}.{rest}" if rest else base


def _role(obj: griffe.Object, match: re.Match) -> str:
    _kind, short, text = match.groups()
    text = text.strip()
    shown = text.rsplit(".", 1)[-1] if short else text
    target = _target(obj, text)
    if target is None:
        return f"`{shown}`"
    return f'<autoref identifier="{escape(target)}" optional><code>{escape(shown)}</code></autoref>'


def _table(lines: list[str]) -> list[str]:
    """Simple reStructuredText tables without a header row as Markdown tables (two or more columns)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        border = _BORDER.match(lines[i])
        end = next((j for j in range(i + 1, len(lines)) if _BORDER.match(lines[j])), None) if border else None
        if border is None or end is None:
            out.append(lines[i])
            i += 1
            continue
        indent = border.group(1)
        rows: list[list[str]] = []
        for line in lines[i + 1 : end]:
            body = line[len(indent) :]
            if rows and body[:1].isspace():  # a continuation of the last row's last cell
                rows[-1][-1] += " " + body.strip()
                continue
            rows.append([cell.strip() for cell in re.split(r"\s{2,}", body.strip(), maxsplit=1)])
        width = max(len(row) for row in rows)
        out.append(indent + "| " + " | ".join([" "] * width) + " |")
        out.append(indent + "|" + "---|" * width)
        for row in rows:
            row = row + [""] * (width - len(row))
            out.append(indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        i = end + 1
    return out


def rewrite(obj: griffe.Object, text: str) -> str:
    """``text`` (a docstring of ``obj``) in Markdown."""
    text = _ROLE.sub(lambda m: _role(obj, m), text)
    text = _LITERAL.sub(r"\1:\2", text)
    if "==" in text:
        text = "\n".join(_table(text.split("\n")))
    return text


def _comment_docstring(attr: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above ``attr``'s assignment, as text, or None."""
    try:
        lines = attr.module.lines
    except Exception:  # noqa: BLE001 - an attribute griffe could not place in a file
        return None
    if not attr.lineno or attr.lineno > len(lines):
        return None
    comment: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(comment) or None


class LivnDocstrings(griffe.Extension):
    """Rewrites every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        """Walk the package once it is loaded, when names can be resolved."""
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is None and obj.is_attribute:
                text = _comment_docstring(obj)
                if text is not None:
                    obj.docstring = griffe.Docstring(text, lineno=obj.lineno, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj, obj.docstring.value)
            stack.extend(member for member in obj.members.values() if not member.is_alias)
