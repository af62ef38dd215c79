"""Routing conditions: a small, safe expression language over a task's attributes.

Grammar (a subset of Python's expression syntax, parsed with ``ast`` and evaluated by walking the tree, never with
``eval``): names are attribute lookups (a missing attribute is None), literals (strings, numbers, True/False/None,
lists), comparisons ``== != < <= > >= in not in``, ``and or not``, parentheses. Examples::

    channel == "chat" and language == "zh"
    tier in ["vip", "major"] or priority >= 5
    not (channel == "email")

Anything else (calls, attribute access, subscripts, arithmetic) is refused when the condition is saved.
"""

from __future__ import annotations

import ast
import operator
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}
MAX_LENGTH = 500


class ExpressionError(ValueError):
    pass


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise ExpressionError(_("Only comparisons ==, !=, <, <=, >, >=, in and not in are allowed."))
        _check(node.left)
        for c in node.comparators:
            _check(c)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(_("Attribute names cannot start with an underscore."))
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise ExpressionError(_("Unsupported value."))
    elif isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            _check(e)
    else:
        raise ExpressionError(
            _("Not allowed in a routing condition: %(what)s.") % {"what": type(node).__name__}
        )


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> ast.Expression | None:
    """Parse and check a condition; None for an empty one (always true). Raises ExpressionError."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise ExpressionError(_("A condition can be at most %(n)s characters.") % {"n": MAX_LENGTH})
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            _("The condition cannot be read (column %(col)s).") % {"col": exc.offset}
        ) from None
    _check(tree)
    return tree


def validate_expression(text: str, field: str = "expression") -> str:
    """The cleaned condition, or ValidationFailed naming ``field``."""
    try:
        compile_expression(text)
    except ExpressionError as exc:
        raise ValidationFailed(fields={field: str(exc)}) from None
    return (text or "").strip()


def _eval(node: ast.AST, attrs: dict[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, attrs)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, attrs) for v in node.values)
        return any(_eval(v, attrs) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _eval(node.operand, attrs)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, attrs)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, attrs)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:  # "5" < 3, None > 1: a mismatch, not an error in the router
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return attrs.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, attrs) for e in node.elts]
    raise ExpressionError(type(node).__name__)  # pragma: no cover - _check refused it


def matches(text: str, attrs: dict[str, Any]) -> bool:
    """Whether a (saved, hence valid) condition holds for the attributes. Empty: True."""
    tree = compile_expression(text)
    return True if tree is None else bool(_eval(tree, attrs))
