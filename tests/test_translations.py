"""Every translatable string in guanxi/ has a Simplified Chinese translation in a compiled catalogue.

Strings are extracted the way a person wrote them: ``{% translate %}``/``{% trans %}`` and simple
``{% blocktranslate %}`` blocks in templates; ``_()``, ``gettext()``, ``gettext_lazy()``, ``pgettext()`` and
``ngettext()`` calls (which covers TextChoices labels and verbose names) in Python. Then each is looked up through
Django's own translation machinery under ``translation.override("zh-hans")``, so it checks what users will see:
the project catalogue, the apps' catalogues and Django's.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent / "guanxi"
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop", "_lazy"}
PGETTEXT_NAMES = {"pgettext", "pgettext_lazy"}
NGETTEXT_NAMES = {"ngettext", "ngettext_lazy"}
_LATIN = re.compile(r"[A-Za-z]")

_STR = r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
_TRANS = re.compile(r"{%\s*(?:translate|trans)\s+" + _STR + r"(?:\s+context\s+" + _STR + r")?[^%]*%}")
_BLOCK = re.compile(
    r"{%\s*(?:blocktranslate|blocktrans)\b(?P<args>[^%]*)%}(?P<body>.*?){%\s*(?:endblocktranslate|endblocktrans)\s*%}",
    re.S,
)
_VAR = re.compile(r"{{\s*([\w.]+)\s*}}")


@dataclass(frozen=True)
class Message:
    msgid: str
    where: str
    plural: str = ""
    context: str = ""


def _unescape(s: str) -> str:
    return s.replace('\\"', '"').replace("\\'", "'")


def _block_msgid(text: str, trimmed: bool) -> str:
    text = _VAR.sub(lambda m: f"%({m.group(1)})s", text.replace("%", "%%"))
    if trimmed:
        text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text


def template_messages() -> list[Message]:
    out = []
    for path in sorted(ROOT.rglob("templates/**/*.html")):
        src = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT.parent))
        for m in _TRANS.finditer(src):
            msgid = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
            ctx = m.group(3) if m.group(3) is not None else (m.group(4) or "")
            out.append(Message(msgid, where, context=_unescape(ctx)))
        for m in _BLOCK.finditer(src):
            args, body = m.group("args"), m.group("body")
            trimmed = "trimmed" in args.split()
            singular, _sep, plural = body.partition("{% plural %}")
            out.append(
                Message(
                    _block_msgid(singular, trimmed),
                    where,
                    plural=_block_msgid(plural, trimmed) if plural else "",
                )
            )
    return out


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return ""


def _const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_messages() -> list[Message]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        where = str(path.relative_to(ROOT.parent))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = _call_name(node)
            if name in GETTEXT_NAMES and (s := _const(node.args[0])) is not None:
                out.append(Message(s, f"{where}:{node.lineno}"))
            elif name in PGETTEXT_NAMES and len(node.args) >= 2:
                ctx, s = _const(node.args[0]), _const(node.args[1])
                if ctx is not None and s is not None:
                    out.append(Message(s, f"{where}:{node.lineno}", context=ctx))
            elif name in NGETTEXT_NAMES and len(node.args) >= 2:
                s, p = _const(node.args[0]), _const(node.args[1])
                if s is not None and p is not None:
                    out.append(Message(s, f"{where}:{node.lineno}", plural=p))
    return out


def all_messages() -> list[Message]:
    return template_messages() + python_messages()


def is_translated(msg: Message) -> bool:
    if not _LATIN.search(msg.msgid):  # already Chinese (e.g. the language name 简体中文), or only symbols
        return True
    with translation.override("zh-hans"):
        if msg.plural:
            return translation.ngettext(msg.msgid, msg.plural, 1) != msg.msgid
        if msg.context:
            return translation.pgettext(msg.context, msg.msgid) != msg.msgid
        return translation.gettext(msg.msgid) != msg.msgid


def test_the_extractor_finds_strings_in_templates_and_python():
    ids = {m.msgid for m in all_messages()}
    assert "Dashboard" in ids  # {% translate "Dashboard" %}
    assert "Read-only" in ids  # a TextChoices label
    assert "Company name is required." in ids  # gettext in a service
    assert "No customer's name or phone starts with “%(q)s”." in ids  # blocktranslate with a variable


def test_every_string_has_a_chinese_translation():
    missing = sorted({(m.msgid, m.where) for m in all_messages() if not is_translated(m)})
    report = "\n".join(f"  {where}: {msgid!r}" for msgid, where in missing)
    assert not missing, (
        f"{len(missing)} strings have no zh-hans translation (add them to a .po file, then run "
        f"`guanxi compilemessages`):\n{report}"
    )
