"""ECS cluster query language: parser and evaluator.

The language is the one of ``memberOf`` placement constraints and of
``ListContainerInstances --filter`` (AWS docs: "Create expressions to define container
instances for Amazon ECS tasks")::

    subject operator [argument]

Subjects: ``attribute:<name>``, ``ec2InstanceId``, ``task:group``, ``runningTasksCount``,
``agentConnected``, ``agentVersion``, ``registeredAt`` (and ``instanceId``, an alias of
``ec2InstanceId`` that ECS does not document). Operators: ``==``/``equals``,
``!=``/``not_equals``, ``>``/``greater_than``, ``>=``/``greater_than_equal``,
``<``/``less_than``, ``<=``/``less_than_equal``, ``exists``, ``!exists``/``not_exists``,
``in``, ``!in``/``not_in``, ``=~``/``matches``, ``!~``/``not_matches``. Compound
expressions: ``&&``/``and``, ``||``/``or``, ``!``/``not`` and parentheses; ``not`` binds
tighter than ``and``, which binds tighter than ``or``.

An expression is parsed once (:func:`parse`, cached) into an immutable AST whose
:meth:`Expr.evaluate` takes anything that looks like a container instance
(:class:`QueryTarget`). Every syntax or type problem raises :class:`QueryError`, which
carries the expression, the 1-based column and a message such as
``memberOf expression: unexpected token 'xx' at column 14``.

Semantics chosen where the AWS docs are silent (see docs/placement.md):

- ``=~``/``!~`` take a (Java-style) regular expression that must match the whole value.
- an unquoted value containing ``*`` in ``==``/``!=``/``in``/``!in`` is a wildcard
  (``t2.*`` matches ``t2.micro``); quoted values are literal. ECS attribute values cannot
  contain ``*``, so this cannot change the meaning of a literal value.
- a comparison on an attribute the instance does not have is false, whatever the operator
  (the AWS example ``attribute:stack != prod`` "lists the instances with the custom
  attribute stack unless the value is prod"); only ``!exists`` and ``not(...)`` select
  instances without it.
- ``task:group`` is set-valued (the groups of the tasks on the instance): a comparison is
  true when *some* task's group satisfies it; ``exists`` = hosts any task. Anti-affinity
  is written ``not(task:group == database)``, as in the AWS example.
- ``registeredAt`` against a date without a time compares calendar days (UTC).
- ``agentVersion`` compares dotted numbers (``1.14.5``); a leading ``v`` is ignored.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Protocol, cast

__all__ = [
    "QueryError",
    "QueryTarget",
    "Expr",
    "Compare",
    "And",
    "Or",
    "Not",
    "Subject",
    "Value",
    "parse",
    "evaluate",
    "MAX_EXPRESSION_LENGTH",
]

#: ECS's limit on a placement constraint expression.
MAX_EXPRESSION_LENGTH = 2000
#: Parenthesis / ``not`` nesting limit (keeps recursion bounded on hostile input).
MAX_DEPTH = 64


class QueryError(ValueError):
    """A cluster query expression that cannot be parsed or is ill-typed."""

    def __init__(
        self, message: str, expression: str, position: int, context: str = "query", expected: str | None = None
    ):
        self.message = message
        self.expression = expression
        self.position = position  # 0-based offset into expression
        self.column = position + 1  # 1-based, as shown
        self.context = context
        self.expected = expected
        text = f"{context} expression: {message} at column {self.column}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class QueryTarget(Protocol):
    """What an expression is evaluated against: a container instance
    (:class:`ecs_operator.domain.instances.ContainerInstance` satisfies it)."""

    # Read-only members (properties), so that frozen dataclasses satisfy the protocol.
    @property
    def attributes(self) -> Mapping[str, str]: ...
    @property
    def ec2_instance_id(self) -> str: ...
    @property
    def task_groups(self) -> Mapping[str, int]: ...
    @property
    def running_tasks_count(self) -> int: ...
    @property
    def agent_connected(self) -> bool: ...
    @property
    def agent_version(self) -> str | None: ...
    @property
    def registered_at(self) -> datetime | None: ...


# --------------------------------------------------------------------------------------
# AST

ATTRIBUTE = "attribute"
EC2_INSTANCE_ID = "ec2InstanceId"
TASK_GROUP = "task:group"
RUNNING_TASKS_COUNT = "runningTasksCount"
AGENT_CONNECTED = "agentConnected"
AGENT_VERSION = "agentVersion"
REGISTERED_AT = "registeredAt"

_FIELDS = {
    "ec2InstanceId": EC2_INSTANCE_ID,
    "instanceId": EC2_INSTANCE_ID,  # not in the AWS docs; accepted as an alias
    "task:group": TASK_GROUP,
    "runningTasksCount": RUNNING_TASKS_COUNT,
    "agentConnected": AGENT_CONNECTED,
    "agentVersion": AGENT_VERSION,
    "registeredAt": REGISTERED_AT,
}
_SUBJECT_HELP = (
    "attribute:<name>, ec2InstanceId, task:group, runningTasksCount, agentConnected, agentVersion or registeredAt"
)

EQ, NE, GT, GE, LT, LE = "==", "!=", ">", ">=", "<", "<="
EXISTS, NOT_EXISTS, IN, NOT_IN, MATCHES, NOT_MATCHES = "exists", "!exists", "in", "!in", "=~", "!~"

_STRING_OPS = frozenset({EQ, NE, IN, NOT_IN, MATCHES, NOT_MATCHES})
_ORDER_OPS = frozenset({EQ, NE, GT, GE, LT, LE})
_ALL_OPS = _STRING_OPS | _ORDER_OPS | {EXISTS, NOT_EXISTS}
_VALID_OPS = {
    ATTRIBUTE: _ALL_OPS,
    EC2_INSTANCE_ID: _STRING_OPS,
    AGENT_CONNECTED: _STRING_OPS,
    TASK_GROUP: _STRING_OPS | {EXISTS, NOT_EXISTS},
    RUNNING_TASKS_COUNT: _ORDER_OPS,
    AGENT_VERSION: _ORDER_OPS,
    REGISTERED_AT: _ORDER_OPS,
}
_NEGATED = {NE: EQ, NOT_IN: IN, NOT_MATCHES: MATCHES, NOT_EXISTS: EXISTS}

# Symbolic operators, longest first; then the word forms (case-insensitive).
_SYMBOL_OPS = [
    ("!exists", NOT_EXISTS),
    ("!in", NOT_IN),
    ("==", EQ),
    ("!=", NE),
    (">=", GE),
    ("<=", LE),
    ("=~", MATCHES),
    ("!~", NOT_MATCHES),
    (">", GT),
    ("<", LT),
]
_WORD_OPS = {
    "equals": EQ,
    "not_equals": NE,
    "greater_than": GT,
    "greater_than_equal": GE,
    "less_than": LT,
    "less_than_equal": LE,
    "exists": EXISTS,
    "not_exists": NOT_EXISTS,
    "in": IN,
    "not_in": NOT_IN,
    "matches": MATCHES,
    "not_matches": NOT_MATCHES,
}


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # one of the constants above
    name: str | None = None  # the attribute name for ATTRIBUTE

    def __str__(self) -> str:
        return f"attribute:{self.name}" if self.kind == ATTRIBUTE else self.kind


@dataclass(frozen=True, slots=True)
class Value:
    """One literal argument. ``pattern`` is set for wildcards and regular expressions;
    ``typed`` holds the int / version tuple / datetime the subject compares with."""

    text: str
    quoted: bool = False
    pattern: re.Pattern[str] | None = None
    typed: object = None

    @property
    def is_wildcard(self) -> bool:
        return self.pattern is not None and not self.quoted and "*" in self.text


class Expr:
    """Base of the AST nodes."""

    __slots__ = ()

    def evaluate(self, target: QueryTarget) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def subjects(self) -> set[str]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    subject: Subject
    op: str
    args: tuple[Value, ...]  # () for exists/!exists, one value, or the list of in/!in
    position: int = 0

    def subjects(self) -> set[str]:
        return {str(self.subject)}

    def evaluate(self, target: QueryTarget) -> bool:
        kind = self.subject.kind
        if kind == ATTRIBUTE:
            return self._evaluate_attribute(target.attributes)
        if kind == EC2_INSTANCE_ID:
            return _compare_string(target.ec2_instance_id, self.op, self.args, ordered=False)
        if kind == TASK_GROUP:
            groups = [g for g, n in target.task_groups.items() if n > 0]
            if self.op == EXISTS:
                return bool(groups)
            if self.op == NOT_EXISTS:
                return not groups
            return any(_compare_string(g, self.op, self.args, ordered=False) for g in groups)
        if kind == AGENT_CONNECTED:
            value = "true" if target.agent_connected else "false"
            return _compare_string(value, self.op, self.args, ordered=False, fold=True)
        if kind == RUNNING_TASKS_COUNT:
            return _compare_ordered(target.running_tasks_count, self.op, self.args[0].typed)
        if kind == AGENT_VERSION:
            have = parse_version(target.agent_version)
            if have is None:
                return False
            version = cast(tuple[int, ...], self.args[0].typed)  # the parser stores the version tuple
            width = max(len(have), len(version))
            return _compare_ordered(_pad(have, width), self.op, _pad(version, width))
        if kind == REGISTERED_AT:
            at = target.registered_at
            if at is None:
                return False
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            want = self.args[0].typed
            if isinstance(want, datetime):
                return _compare_ordered(at, self.op, want)
            return _compare_ordered(at.astimezone(UTC).date(), self.op, want)
        raise AssertionError(kind)  # pragma: no cover

    def _evaluate_attribute(self, attrs: Mapping[str, str]) -> bool:
        name = self.subject.name
        present = name is not None and name in attrs
        if self.op == EXISTS:
            return present
        if self.op == NOT_EXISTS:
            return not present
        if name is None or not present:
            return False
        return _compare_string(attrs[name], self.op, self.args, ordered=True)

    def __str__(self) -> str:
        if not self.args:
            return f"{self.subject} {self.op}"
        if self.op in (IN, NOT_IN):
            return f"{self.subject} {self.op} [{', '.join(_show(v) for v in self.args)}]"
        return f"{self.subject} {self.op} {_show(self.args[0])}"


@dataclass(frozen=True, slots=True)
class And(Expr):
    items: tuple[Expr, ...]

    def evaluate(self, target: QueryTarget) -> bool:
        return all(i.evaluate(target) for i in self.items)

    def subjects(self) -> set[str]:
        return set().union(*(i.subjects() for i in self.items))

    def __str__(self) -> str:
        return "(" + " and ".join(str(i) for i in self.items) + ")"


@dataclass(frozen=True, slots=True)
class Or(Expr):
    items: tuple[Expr, ...]

    def evaluate(self, target: QueryTarget) -> bool:
        return any(i.evaluate(target) for i in self.items)

    def subjects(self) -> set[str]:
        return set().union(*(i.subjects() for i in self.items))

    def __str__(self) -> str:
        return "(" + " or ".join(str(i) for i in self.items) + ")"


@dataclass(frozen=True, slots=True)
class Not(Expr):
    item: Expr

    def evaluate(self, target: QueryTarget) -> bool:
        return not self.item.evaluate(target)

    def subjects(self) -> set[str]:
        return self.item.subjects()

    def __str__(self) -> str:
        return f"not({self.item})"


def _show(v: Value) -> str:
    if v.quoted:
        return "'" + v.text.replace("'", "\\'") + "'"
    return v.text


# --------------------------------------------------------------------------------------
# Evaluation helpers


def _matches_one(value: str, arg: Value, fold: bool) -> bool:
    if arg.pattern is not None:
        return arg.pattern.fullmatch(value) is not None
    if fold:
        return value.lower() == arg.text.lower()
    return value == arg.text


def _number(text: str) -> float | None:
    try:
        n = float(text)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def _compare_string(value: str, op: str, args: Sequence[Value], *, ordered: bool, fold: bool = False) -> bool:
    if op == EQ or op == IN or op == MATCHES:
        return any(_matches_one(value, a, fold) for a in args)
    if op == NE or op == NOT_IN or op == NOT_MATCHES:
        return not any(_matches_one(value, a, fold) for a in args)
    if ordered:  # >, >=, <, <= on an attribute: numerically when both sides are numbers
        other = args[0].text
        a, b = _number(value), _number(other)
        if a is not None and b is not None:
            return _compare_ordered(a, op, b)
        return _compare_ordered(value, op, other)
    raise AssertionError(op)  # pragma: no cover - rejected at parse time


def _compare_ordered(a: Any, op: str, b: Any) -> bool:
    """``a op b`` for numbers, strings, version tuples, datetimes and dates."""
    if op == EQ:
        return bool(a == b)
    if op == NE:
        return bool(a != b)
    if op == GT:
        return bool(a > b)
    if op == GE:
        return bool(a >= b)
    if op == LT:
        return bool(a < b)
    if op == LE:
        return bool(a <= b)
    raise AssertionError(op)  # pragma: no cover


def _pad(v: tuple[int, ...], width: int) -> tuple[int, ...]:
    return v + (0,) * (width - len(v))


_VERSION_RE = re.compile(r"v?(\d{1,9}(?:\.\d{1,9}){0,5})")


def parse_version(text: str | None, *, strict: bool = False) -> tuple[int, ...] | None:
    """``1.14.5`` / ``v1.36.3`` / ``v1.30.2-eks-1a2b3c`` -> (1, 14, 5); None when not a version.
    ``strict`` (arguments of an expression) refuses trailing text."""
    if not text:
        return None
    m = _VERSION_RE.fullmatch(text) if strict else _VERSION_RE.match(text)
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?)?")


def parse_date(text: str) -> date | datetime | None:
    """The date formats the AWS docs list for registeredAt; a bare date stays a ``date``."""
    if not _DATE_RE.fullmatch(text):
        return None
    try:
        if "T" not in text:
            return date.fromisoformat(text)
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------
# Parser

_SUBJECT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./\\:")
_ATTRIBUTE_NAME_RE = re.compile(r"[A-Za-z0-9_\-/\\.]{1,128}")
_WORD_CHARS = _SUBJECT_CHARS | {"*"}
_VALUE_STOP = frozenset(" \t\r\n\f\v()[],'\"")


class _Parser:
    def __init__(self, text: str, context: str):
        self.s = text
        self.n = len(text)
        self.i = 0
        self.context = context
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------
    def error(self, message: str, pos: int | None = None, expected: str | None = None) -> QueryError:
        return QueryError(message, self.s, self.i if pos is None else pos, self.context, expected)

    def token_at(self, pos: int) -> str:
        if pos >= self.n:
            return "end of expression"
        c = self.s[pos]
        if c in "()[],":
            return f"'{c}'"
        j = pos
        while j < self.n and not self.s[j].isspace() and self.s[j] not in "()[],":
            j += 1
        tok = self.s[pos:j] or c
        if len(tok) > 24:
            tok = tok[:24] + "..."
        return f"'{tok}'"

    def unexpected(self, pos: int | None = None, expected: str | None = None) -> QueryError:
        pos = self.i if pos is None else pos
        what = self.token_at(pos)
        msg = f"unexpected {what}" if what == "end of expression" else f"unexpected token {what}"
        return self.error(msg, pos, expected)

    def skip_ws(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n and s[i].isspace():
            i += 1
        self.i = i

    def at_word(self, word: str) -> bool:
        """``word`` (case-insensitive) at the cursor, not followed by a word character."""
        end = self.i + len(word)
        if self.s[self.i : end].lower() != word:
            return False
        return end >= self.n or self.s[end] not in _WORD_CHARS

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Expr:
        self.skip_ws()
        if self.i >= self.n:
            raise self.error("empty expression", 0)
        expr = self.parse_or()
        self.skip_ws()
        if self.i < self.n:
            if self.s[self.i] == ")":
                raise self.error("unbalanced ')'")
            raise self.unexpected(expected="'and', 'or' or the end of the expression")
        return expr

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while True:
            self.skip_ws()
            if self.s.startswith("||", self.i):
                self.i += 2
            elif self.at_word("or"):
                self.i += 2
            else:
                break
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_unary()]
        while True:
            self.skip_ws()
            if self.s.startswith("&&", self.i):
                self.i += 2
            elif self.at_word("and"):
                self.i += 3
            else:
                break
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Expr:
        self.skip_ws()
        if self.i >= self.n:
            raise self.unexpected(expected="an expression")
        if self.s[self.i] == "!":
            self.i += 1
            return self._not()
        if self.at_word("not"):
            self.i += 3
            return self._not()
        if self.s[self.i] == "(":
            start = self.i
            self.i += 1
            self.enter()
            inner = self.parse_or()
            self.skip_ws()
            if self.i >= self.n or self.s[self.i] != ")":
                if self.i >= self.n:
                    raise self.error("unclosed '('", start)
                raise self.unexpected(expected="')'")
            self.i += 1
            self.depth -= 1
            return inner
        return self.parse_comparison()

    def _not(self) -> Expr:
        self.enter()
        item = self.parse_unary()
        self.depth -= 1
        return Not(item)

    def parse_subject(self) -> Subject:
        start = self.i
        j = start
        while j < self.n and self.s[j] in _SUBJECT_CHARS:
            j += 1
        word = self.s[start:j]
        if not word:
            raise self.unexpected(start, f"a subject ({_SUBJECT_HELP})")
        self.i = j
        if word.startswith("attribute:"):
            name = word[len("attribute:") :]
            if not _ATTRIBUTE_NAME_RE.fullmatch(name):
                raise self.error(
                    f"invalid attribute name {name!r} (1-128 letters, digits, '-', '_', '/', '\\' or '.')",
                    start + len("attribute:"),
                )
            return Subject(ATTRIBUTE, name)
        kind = _FIELDS.get(word)
        if kind is None and (word.lower() in ("and", "or") or word.lower() in _WORD_OPS):
            raise self.unexpected(start, f"a subject ({_SUBJECT_HELP})")
        if kind is None:
            raise self.error(f"unknown subject '{word}'", start, _SUBJECT_HELP)
        return Subject(kind)

    def parse_operator(self, subject: Subject) -> tuple[str, int]:
        self.skip_ws()
        start = self.i
        s = self.s
        for sym, op in _SYMBOL_OPS:
            if s.startswith(sym, start):
                if sym[-1].isalpha() and start + len(sym) < self.n and s[start + len(sym)] in _WORD_CHARS:
                    continue  # '!inx' is no operator
                self.i += len(sym)
                return op, start
        j = start
        while j < self.n and (s[j].isalnum() or s[j] == "_"):
            j += 1
        word_op = _WORD_OPS.get(s[start:j].lower())
        if word_op is not None and (j >= self.n or s[j] not in _WORD_CHARS):
            self.i = j
            return word_op, start
        raise self.unexpected(start, f"an operator after '{subject}'")

    def parse_comparison(self) -> Compare:
        start = self.i
        subject = self.parse_subject()
        op, op_pos = self.parse_operator(subject)
        if op not in _VALID_OPS[subject.kind]:
            valid = ", ".join(sorted(_VALID_OPS[subject.kind]))
            raise self.error(f"operator '{op}' is not valid for {subject} (valid: {valid})", op_pos)
        if op in (EXISTS, NOT_EXISTS):
            args: tuple[Value, ...] = ()
        elif op in (IN, NOT_IN):
            args = self.parse_list(subject, op)
        elif op in (MATCHES, NOT_MATCHES):
            args = (self.parse_regex(op),)
        else:
            args = (self.parse_value(subject, op),)
        return Compare(subject, op, args, start)

    def parse_list(self, subject: Subject, op: str) -> tuple[Value, ...]:
        self.skip_ws()
        if self.i >= self.n or self.s[self.i] not in "[(":
            raise self.unexpected(expected=f"an argument list '[a, b, ...]' after '{op}'")
        close = "]" if self.s[self.i] == "[" else ")"
        open_pos = self.i
        self.i += 1
        values: list[Value] = []
        while True:
            self.skip_ws()
            if self.i < self.n and self.s[self.i] == close and not values:
                raise self.error(f"empty argument list after '{op}'", open_pos)
            values.append(self.parse_value(subject, op))
            self.skip_ws()
            if self.i >= self.n:
                raise self.error(f"unclosed '{self.s[open_pos]}'", open_pos)
            c = self.s[self.i]
            if c == ",":
                self.i += 1
                continue
            if c == close:
                self.i += 1
                return tuple(values)
            raise self.unexpected(expected=f"',' or '{close}'")

    def read_quoted(self) -> str:
        q = self.s[self.i]
        start = self.i
        self.i += 1
        out = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < self.n and self.s[self.i + 1] == q:
                out.append(q)  # only \<quote> is an escape: regexes keep their backslashes
                self.i += 2
                continue
            if c == q:
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise self.error("unterminated quoted string", start)

    def read_bare(self) -> str:
        s, n, j = self.s, self.n, self.i
        while j < n and s[j] not in _VALUE_STOP:
            if (s[j] == "&" or s[j] == "|") and j + 1 < n and s[j + 1] == s[j]:
                break
            j += 1
        text = s[self.i : j]
        self.i = j
        return text

    def parse_value(self, subject: Subject, op: str) -> Value:
        self.skip_ws()
        start = self.i
        if self.i < self.n and self.s[self.i] in "'\"":
            text, quoted = self.read_quoted(), True
        else:
            text, quoted = self.read_bare(), False
            if not text:
                raise self.unexpected(start, f"a value after '{op}'")
        kind = subject.kind
        if kind == RUNNING_TASKS_COUNT:
            if not re.fullmatch(r"\d{1,9}", text):
                raise self.error(f"runningTasksCount compares with a whole number, not {text!r}", start)
            return Value(text, quoted, typed=int(text))
        if kind == AGENT_VERSION:
            v = parse_version(text, strict=True)
            if v is None:
                raise self.error(f"agentVersion compares with a version such as 1.14.5, not {text!r}", start)
            return Value(text, quoted, typed=v)
        if kind == REGISTERED_AT:
            d = parse_date(text)
            if d is None:
                raise self.error(
                    f"registeredAt compares with a date (2018-06-18, 2018-06-18T22:28:28, "
                    f"2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00), not {text!r}",
                    start,
                )
            return Value(text, quoted, typed=d)
        if kind == AGENT_CONNECTED and text.lower() not in ("true", "false") and not ("*" in text and not quoted):
            raise self.error(f"agentConnected compares with true or false, not {text!r}", start)
        if not quoted and "*" in text and op in (EQ, NE, IN, NOT_IN):
            flags = re.IGNORECASE if kind == AGENT_CONNECTED else 0
            pattern = re.compile(".*".join(re.escape(p) for p in text.split("*")), flags | re.DOTALL)
            return Value(text, quoted, pattern=pattern)
        return Value(text, quoted)

    def parse_regex(self, op: str) -> Value:
        """A regular expression: quoted, or unquoted up to whitespace / an unbalanced ')' / ','
        / '&&' / '||' (so ``(t2|m5).*`` works unquoted, and ``not(x =~ t2.*)`` closes)."""
        self.skip_ws()
        start = self.i
        if self.i < self.n and self.s[self.i] in "'\"":
            text, quoted = self.read_quoted(), True
        else:
            s, n, j, depth = self.s, self.n, self.i, 0
            while j < n and not s[j].isspace():
                c = s[j]
                if c == "\\" and j + 1 < n:
                    j += 2
                    continue
                if c in "([":
                    depth += 1
                elif c in ")]":
                    if depth == 0:
                        break
                    depth -= 1
                elif depth == 0 and (c == "," or ((c == "&" or c == "|") and j + 1 < n and s[j + 1] == c)):
                    break
                j += 1
            text, quoted = s[self.i : j], False
            self.i = j
            if not text:
                raise self.unexpected(start, f"a regular expression after '{op}'")
        try:
            with warnings.catch_warnings():  # FutureWarning on '[[' etc.: not the user's concern
                warnings.simplefilter("ignore")
                pattern = re.compile(_java_regex(text), re.DOTALL)
        except (re.error, OverflowError, RecursionError, ValueError, TypeError) as e:
            raise self.error(f"invalid regular expression {text!r}: {e}", start) from None
        return Value(text, quoted, pattern=pattern)


def _java_regex(text: str) -> str:
    """The few java.util.regex spellings Python's ``re`` writes differently."""
    return (
        text.replace(r"\p{Alpha}", "[A-Za-z]")
        .replace(r"\p{Digit}", "[0-9]")
        .replace(r"\p{Alnum}", "[A-Za-z0-9]")
        .replace(r"\p{Lower}", "[a-z]")
        .replace(r"\p{Upper}", "[A-Z]")
        .replace(r"\p{Punct}", r"[!-/:-@\[-`{-~]")
        .replace(r"\p{Space}", r"\s")
    )


def parse(expression: str, context: str = "memberOf") -> Expr:
    """Parse ``expression`` into an AST (cached). ``context`` names the expression in errors
    (``memberOf expression: ...``). Raises :class:`QueryError` and nothing else."""
    if not isinstance(expression, str):
        raise QueryError(f"expected a string, not {type(expression).__name__}", "", 0, str(context))
    return _parse_cached(expression, str(context))


@lru_cache(maxsize=1024)
def _parse_cached(expression: str, context: str) -> Expr:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise QueryError(f"longer than {MAX_EXPRESSION_LENGTH} characters", expression, MAX_EXPRESSION_LENGTH, context)
    try:
        return _Parser(expression, context).parse()
    except QueryError:
        raise
    except RecursionError:
        raise QueryError("expression too deeply nested", expression, 0, context) from None


def evaluate(expression: str | Expr, target: QueryTarget) -> bool:
    expr = parse(expression) if isinstance(expression, str) else expression
    return expr.evaluate(target)


def select(expression: str | Expr, targets: Iterable[QueryTarget]) -> list[QueryTarget]:
    """The targets the expression selects (``ListContainerInstances --filter``)."""
    expr = parse(expression) if isinstance(expression, str) else expression
    return [t for t in targets if expr.evaluate(t)]
