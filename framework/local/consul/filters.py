"""The ``?filter=`` expressions of Consul (go-bexpr), for the common forms.

Supported: ``Sel == "v"``, ``Sel != "v"``, ``"v" in Sel``, ``"v" not in Sel``,
``Sel contains "v"``, ``Sel not contains "v"``, ``Sel matches "re"``,
``Sel not matches "re"``, ``Sel is empty``, ``Sel is not empty``, combined with
``and``, ``or``, ``not`` and parentheses. Selectors are dotted field paths of
the response object (``Service.Tags``, ``Meta.env``, ``Meta["a.b"]``); a path
through a list collects the values of every element, and ``==`` on a list
holds when any element matches.

Invariant: an expression that does not parse is refused with 400 before any
result is computed, like Consul ("Failed to create boolean expression
evaluator").

TODO(go-bexpr parity): numeric comparisons follow string forms, and the
``matches`` operator uses Python regular expressions instead of RE2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from framework.local.consul.wire import DecodeError

Predicate = Callable[[Any], bool]
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>==|!=|\(|\)|\[|\]|\.)'
    r"|(?P<word>[A-Za-z0-9_\-/:]+))"
)
_MISSING = object()


def apply_filter(request: web.Request, items: list[Any]) -> list[Any]:
    """``items`` kept by the request's ``filter`` expression (all when none)."""
    expression = request.query.get("filter", "")
    if not expression:
        return items
    predicate = compile_filter(expression)
    return [item for item in items if predicate(item)]


def compile_filter(expression: str) -> Predicate:
    try:
        parser = _Parser(_tokenize(expression))
        predicate = parser.expression()
        parser.expect_end()
    except ValueError as exc:
        raise DecodeError(
            f"Failed to create boolean expression evaluator: {exc}"
        ) from exc
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.tokens[at][1] if at < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end of expression")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect_end(self) -> None:
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.peek()!r}")

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == "or":
            self.take()
            first, second = left, self.conjunction()
            left = _either(first, second)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.peek() == "and":
            self.take()
            first, second = left, self.negation()
            left = _both(first, second)
        return left

    def negation(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda item: not inner(item)
        if self.peek() == "(":
            self.take()
            inner = self.expression()
            if self.take()[1] != ")":
                raise ValueError("missing ')'")
            return inner
        return self.match()

    def match(self) -> Predicate:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "str":
            value = self.value()
            negate = self._optional("not")
            if self.take()[1] != "in":
                raise ValueError("expected 'in' after a value")
            return _negated(negate, _contains(self.selector(), value))
        selector = self.selector()
        word = self.take()[1]
        if word == "is":
            negate = self._optional("not")
            if self.take()[1] != "empty":
                raise ValueError("expected 'empty'")
            return _negated(negate, _empty(selector))
        negate = word == "not"
        if negate:
            word = self.take()[1]
        if word in ("==", "!="):
            return _negated(word == "!=", _equals(selector, self.value()))
        if word == "contains":
            return _negated(negate, _contains(selector, self.value()))
        if word == "matches":
            return _negated(negate, _matches(selector, self.value()))
        raise ValueError(f"unknown operator {word!r}")

    def _optional(self, word: str) -> bool:
        if self.peek() == word:
            self.take()
            return True
        return False

    def selector(self) -> list[str]:
        kind, first = self.take()
        if kind != "word":
            raise ValueError(f"expected a selector, got {first!r}")
        path = [first]
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                path.append(self.take()[1])
                continue
            path.append(self.value())
            if self.take()[1] != "]":
                raise ValueError("missing ']'")
        return path

    def value(self) -> str:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace('\\"', '"')
        if kind == "word":
            return text
        raise ValueError(f"expected a value, got {text!r}")


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda item: a(item) or b(item)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda item: a(item) and b(item)


def _negated(negate: bool, inner: Predicate) -> Predicate:
    return (lambda item: not inner(item)) if negate else inner


def _resolve(item: Any, path: list[str]) -> Any:
    current = item
    for part in path:
        if isinstance(current, list):
            current = [_resolve(element, [part]) for element in current]
            current = [v for v in current if v is not _MISSING]
            continue
        if not isinstance(current, dict):
            return _MISSING
        if part in current:
            current = current[part]
            continue
        folded = {str(k).lower(): v for k, v in current.items()}
        current = folded.get(part.lower(), _MISSING)
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equals(path: list[str], expected: str) -> Predicate:
    def check(item: Any) -> bool:
        found = _resolve(item, path)
        if isinstance(found, list):
            return any(_text(v) == expected for v in found)
        return found is not _MISSING and _text(found) == expected

    return check


def _contains(path: list[str], expected: str) -> Predicate:
    def check(item: Any) -> bool:
        found = _resolve(item, path)
        if isinstance(found, list | dict):
            return any(_text(v) == expected for v in found)
        return isinstance(found, str) and expected in found

    return check


def _matches(path: list[str], pattern: str) -> Predicate:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc

    def check(item: Any) -> bool:
        found = _resolve(item, path)
        values = found if isinstance(found, list) else [found]
        return any(v is not _MISSING and regex.search(_text(v)) for v in values)

    return check


def _empty(path: list[str]) -> Predicate:
    def check(item: Any) -> bool:
        found = _resolve(item, path)
        return found is _MISSING or found in (None, "", [], {})

    return check
