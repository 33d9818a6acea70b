"""Ganeti's query filter language: the list form the RAPI takes and the text form `list -F` takes.

The list form (`PUT /2/query/R` with `{"fields": [...], "qfilter": [...]}`) nests operators:
`["|", f, ...]`, `["&", f, ...]`, `["!", f]`, `["?", field]` (true), `["=", field, value]` (also
`"=="`), `["!=", ...]`, `["<", ...]`, `["<=", ...]`, `[">", ...]`, `[">=", ...]`,
`["=~", field, regexp]` and `["=[]", field, value]` (the list field contains the value).

The text form is what `gnt-instance list -F` takes and turns into the list form before sending
it: `pnode == "node1" and not admin_state`, `name =~ m/^web/i`, `"web" in tags`,
`"x" not in tags`, `name =* "web*"` (a glob), `!~` and `!*` (negated), parentheses, `and`, `or`,
`not`, numbers and single- or double-quoted strings.

`check` validates a filter against the resource's fields before anything runs (a bad filter is a
400 / a one-line CLI error); `compile_filter` turns a checked filter into a predicate over one
row's field values. A value the node could not give (no data, offline) never matches.
"""

from __future__ import annotations

import fnmatch
import re
import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Callable, Collection
from typing import Any

from gnt.errors import ECODE_INVAL, OpPrereqError

__all__ = ["MISSING", "check", "compile_filter", "fields_of", "parse_text"]

#: a field value that is not available for the row (no data, offline, not applicable)
MISSING: Any = object()
_LOGIC = {"|", "&"}
_COMPARE = {"=", "==", "!=", "<", "<=", ">", ">=", "=[]"}
#: the deepest filter accepted (text and list forms): deeper ones are refused, not recursed into
MAX_DEPTH = 64
#: the longest regular expression a filter may use
MAX_REGEXP = 1024
Row = Callable[[str], Any]
Predicate = Callable[[Row], bool]


def _error(message: str) -> OpPrereqError:
    return OpPrereqError(f"Invalid query filter: {message}", ECODE_INVAL)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- the list form ------------------------------------------------------------------------------
def check(qfilter: Any, known: Collection[str], depth: int = 0) -> None:
    """Raise OpPrereqError(wrong_input) unless `qfilter` is a well-formed filter over `known` fields."""
    if depth > MAX_DEPTH:
        raise _error(f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(qfilter, list) or not qfilter or not isinstance(qfilter[0], str):
        raise _error(f"expected a list starting with an operator, not {_short(qfilter)}")
    op, args = qfilter[0], qfilter[1:]
    if op in _LOGIC:
        if not args:
            raise _error(f"operator '{op}' needs at least one operand")
        for sub in args:
            check(sub, known, depth + 1)
        return
    if op == "!":
        if len(args) != 1:
            raise _error("operator '!' takes exactly one operand")
        check(args[0], known, depth + 1)
        return
    if op not in _COMPARE and op not in ("?", "=~"):
        raise _error(f"unknown operator {_short(op)}")
    expected = 1 if op == "?" else 2
    if len(args) != expected:
        raise _error(f"operator '{op}' takes {expected} operand(s), not {len(args)}")
    field = args[0]
    if not isinstance(field, str) or field not in known:
        raise _error(f"unknown field {_short(field)}")
    if op == "?":
        return
    value = args[1]
    if op == "=~":
        if not isinstance(value, str):
            raise _error(f"'=~' needs a regular expression string, not {_short(value)}")
        _regexp(value)
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise _error(f"operator '{op}' compares with a string, number or boolean, not {_short(value)}")


def fields_of(qfilter: Any) -> list[str]:
    """The field names a (checked) filter reads, in first-use order."""
    found: list[str] = []

    def walk(node: list[Any]) -> None:
        if node[0] in _LOGIC or node[0] == "!":
            for sub in node[1:]:
                walk(sub)
        elif node[1] not in found:
            found.append(node[1])

    walk(qfilter)
    return found


def _regexp(text: str) -> re.Pattern[str]:
    """The compiled pattern; refused when it could backtrack exponentially on a field value.

    Python's matcher holds the master's event loop while it runs and cannot be interrupted, so a
    pattern like `(a+)+$` (a repetition inside a repetition) would let any logged-in RAPI user
    stall the master; such patterns are refused, as are very long ones.
    """
    if len(text) > MAX_REGEXP:
        raise _error(f"regular expression longer than {MAX_REGEXP} characters")
    try:
        compiled = re.compile(text)
        nested = _nested_repeat(sre_parse.parse(text), inside=False)
    except (re.error, RecursionError, OverflowError) as err:
        raise _error(f"bad regular expression {_short(text)}: {err}") from None
    if nested:
        raise _error(f"regular expression {_short(text)} repeats a repetition (it may take exponential time)")
    return compiled


def _nested_repeat(pattern: Any, inside: bool) -> bool:
    """Whether an unbounded repetition sits inside another repetition in a parsed pattern."""
    for op, arg in pattern:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, high, sub = arg
            unbounded = high == sre_constants.MAXREPEAT
            if inside and unbounded:
                return True
            if _nested_repeat(sub, inside or high > 1):
                return True
        elif op == sre_constants.SUBPATTERN:
            if _nested_repeat(arg[-1], inside):
                return True
        elif op == sre_constants.BRANCH:
            if any(_nested_repeat(branch, inside) for branch in arg[1]):
                return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT) and _nested_repeat(arg[1], inside):
            return True
    return False


def _ordered(a: Any, b: Any) -> bool:
    """Whether `<` and friends may compare the two (numbers with numbers, strings with strings)."""
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (isinstance(a, str) and isinstance(b, str))


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: _ordered(a, b) and a < b,
    "<=": lambda a, b: _ordered(a, b) and a <= b,
    ">": lambda a, b: _ordered(a, b) and a > b,
    ">=": lambda a, b: _ordered(a, b) and a >= b,
    "=[]": lambda a, b: isinstance(a, (list, tuple)) and b in a,
}


def compile_filter(qfilter: list[Any]) -> Predicate:
    """A predicate over a row (field name -> value, MISSING when unavailable); `qfilter` is checked."""
    op, args = qfilter[0], qfilter[1:]
    if op in _LOGIC:
        subs = [compile_filter(a) for a in args]
        if op == "|":
            return lambda row: any(s(row) for s in subs)
        return lambda row: all(s(row) for s in subs)
    if op == "!":
        inner = compile_filter(args[0])
        return lambda row: not inner(row)
    field = args[0]
    if op == "?":
        return lambda row: (value := row(field)) is not MISSING and bool(value)
    if op == "=~":
        pattern = _regexp(args[1])
        return lambda row: isinstance(value := row(field), str) and pattern.search(value) is not None
    compare, operand = _COMPARISONS[op], args[1]
    return lambda row: (value := row(field)) is not MISSING and compare(value, operand)


# -- the text form -------------------------------------------------------------------------------
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?[0-9]+(?![A-Za-z0-9_/.]))
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<re>m?(?P<delim>[/#^|])(?P<body>(?:(?!(?P=delim))[^\\]|\\.)*)(?P=delim)(?P<flags>[A-Za-z]*))
      | (?P<op>==|!=|<=|>=|=~|!~|=\*|!\*|<|>|\(|\))
      | (?P<word>[A-Za-z][A-Za-z0-9_/.]*)
    )""",
    re.X | re.S,
)
_BINARY = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_REGEXP_FLAGS = {"i": "(?i)", "s": "(?s)"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.S)


class _Parser:
    """Recursive descent over Ganeti's grammar: or of ands of (not) conditions, parentheses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN_RE.match(text, pos)
            if match is None or match.end() == pos:
                raise _error(f"cannot parse {_short(text[pos:].strip())} in {_short(text)}")
            pos = match.end()
            self.tokens.append(self._token(match))
        self.pos = 0
        self.depth = 0

    @staticmethod
    def _token(match: re.Match[str]) -> tuple[str, Any]:
        if match.group("num") is not None:
            return ("value", int(match.group("num")))
        if match.group("str") is not None:
            return ("value", _unquote(match.group("str")))
        if match.group("re") is not None:
            flags = match.group("flags")
            unknown = set(flags) - set(_REGEXP_FLAGS)
            if unknown:
                raise _error(f"unknown regular expression flag(s) {''.join(sorted(unknown))!r}")
            delim = match.group("delim")
            body = match.group("body").replace("\\" + delim, delim)
            return ("regexp", "".join(_REGEXP_FLAGS[f] for f in sorted(set(flags))) + body)
        if match.group("op") is not None:
            return ("op", match.group("op"))
        word = match.group("word")
        return ("kw", word) if word in ("and", "or", "not", "in") else ("field", word)

    def peek(self, offset: int = 0) -> tuple[str, Any] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            shown = "the end" if token is None else _short(token[1])
            raise _error(f"expected {value or kind}, found {shown} in {_short(self.text)}")
        self.pos += 1
        return token[1]

    def parse(self) -> list[Any]:
        if not self.tokens:
            raise _error("empty filter")
        result = self.disjunction()
        if self.peek() is not None:
            raise _error(f"unexpected {_short(self.peek()[1])} in {_short(self.text)}")  # type: ignore[index]
        return result

    def _nested(self, parse: Callable[[], list[Any]]) -> list[Any]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(f"nested deeper than {MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def disjunction(self) -> list[Any]:
        terms = [self.conjunction()]
        while self.peek() == ("kw", "or"):
            self.pos += 1
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else ["|", *terms]

    def conjunction(self) -> list[Any]:
        terms = [self.negation()]
        while self.peek() == ("kw", "and"):
            self.pos += 1
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else ["&", *terms]

    def negation(self) -> list[Any]:
        if self.peek() == ("kw", "not"):
            self.pos += 1
            return ["!", self._nested(self.negation)]
        if self.peek() == ("op", "("):
            self.pos += 1
            inner = self._nested(self.disjunction)
            self.take("op", ")")
            return inner
        return self.condition()

    def condition(self) -> list[Any]:
        token = self.peek()
        if token is not None and token[0] == "value":  # VALUE in FIELD / VALUE not in FIELD
            value = self.take("value")
            negated = self.peek() == ("kw", "not")
            if negated:
                self.pos += 1
            self.take("kw", "in")
            contains = ["=[]", self.take("field"), value]
            return ["!", contains] if negated else contains
        field = self.take("field")
        nxt = self.peek()
        if nxt is None or nxt[0] != "op" or nxt[1] in ("(", ")"):
            return ["?", field]
        op = self.take("op")
        if op in _BINARY:
            return [_BINARY[op], field, self.take("value")]
        if op in ("=~", "!~"):
            cond = ["=~", field, self.take("regexp")]
        else:  # =* and !*: a shell glob on the whole value
            cond = ["=~", field, "^" + fnmatch.translate(self.take("value"))]
        return ["!", cond] if op.startswith("!") else cond


def parse_text(text: str) -> list[Any]:
    """The list form of a filter written in Ganeti's text language; OpPrereqError if it is not one."""
    return _Parser(text).parse()
