"""ECS cluster query language: every example of the AWS docs, the operators, errors."""

from __future__ import annotations

from datetime import datetime

import pytest
from ecs_operator.domain.instances import ContainerInstance
from ecs_operator.domain.query import And, Compare, Not, Or, QueryError, parse, select
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def inst(
    name="i-abcd1234",
    *,
    attrs=None,
    groups=None,
    running=0,
    connected=True,
    version="1.14.5",
    registered="2018-02-01T12:00:00+00:00",
) -> ContainerInstance:
    return ContainerInstance(
        name=name,
        ec2_instance_id=name,
        attributes={
            "ecs.instance-type": "t2.small",
            "ecs.availability-zone": "us-east-1a",
            "ecs.os-type": "linux",
            "ecs.cpu-architecture": "x86_64",
            **(attrs or {}),
        },
        task_groups=groups or {},
        running_tasks_count=running,
        agent_connected=connected,
        agent_version=version,
        registered_at=datetime.fromisoformat(registered) if registered else None,
    )


T2_A = inst("i-abcd1234")
G2_D = inst("i-wxyz5678", attrs={"ecs.instance-type": "g2.2xlarge", "ecs.availability-zone": "us-east-1d"})
G2_B = inst("i-g2b", attrs={"ecs.instance-type": "g2.2xlarge", "ecs.availability-zone": "us-east-1b"})
T2_MED_B = inst("i-t2b", attrs={"ecs.instance-type": "t2.medium", "ecs.availability-zone": "us-east-1b"})
M5_C = inst(
    "i-m5c",
    attrs={"ecs.instance-type": "m5.large", "ecs.availability-zone": "us-east-1c", "stack": "prod"},
    groups={"service:production": 2, "database": 1},
    running=3,
    version="1.15.0",
    registered="2018-03-01T00:00:00Z",
)
STAGING = inst(
    "i-stg",
    attrs={"stack": "staging"},
    groups={"service:web": 1},
    running=1,
    connected=False,
    version="1.10.0",
    registered="2016-10-31T23:00:00Z",
)
ALL = [T2_A, G2_D, G2_B, T2_MED_B, M5_C, STAGING]


def names(expr: str) -> set[str]:
    return {i.name for i in select(expr, ALL)}


# Every example expression of "Create expressions to define container instances for Amazon ECS
# tasks", of the task placement constraint examples and of list-container-instances --filter.
@pytest.mark.parametrize(
    "expr, expected",
    [
        ("attribute:ecs.instance-type == t2.small", {"i-abcd1234", "i-stg"}),
        ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", {"i-abcd1234", "i-g2b", "i-t2b", "i-stg"}),
        ("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", {"i-g2b"}),
        ("task:group == service:production", {"i-m5c"}),
        ("not(task:group == database)", {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-stg"}),
        ("runningTasksCount == 1", {"i-stg"}),
        ("agentVersion < 1.14.5", {"i-stg"}),
        ("registeredAt < 2018-02-13", {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-stg"}),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']", {"i-abcd1234", "i-wxyz5678"}),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", {"i-abcd1234"}),
        ("attribute:ecs.instance-type =~ t2.*", {"i-abcd1234", "i-t2b", "i-stg"}),
        ("task:group == databases", set()),
        ("attribute:ecs.instance-type == g2.2xlarge", {"i-wxyz5678", "i-g2b"}),
        ("attribute:stack == prod", {"i-m5c"}),
        ("attribute:stack != prod", {"i-stg"}),  # instances WITH the attribute, unless it is prod
        ("attribute:ecs.instance-type in [t2.small, t2.medium]", {"i-abcd1234", "i-t2b", "i-stg"}),
        (
            "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
            {"i-abcd1234", "i-stg"},
        ),
        ("registeredAt < 2016-11-01", {"i-stg"}),
    ],
)
def test_documented_examples(expr, expected):
    assert names(expr) == expected


def test_example_compound_parses_to_and():
    e = parse("attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d")
    assert isinstance(e, And) and [c.op for c in e.items] == ["=~", "!="]


@pytest.mark.parametrize(
    "symbol, word",
    [
        ("==", "equals"),
        ("!=", "not_equals"),
        (">", "greater_than"),
        (">=", "greater_than_equal"),
        ("<", "less_than"),
        ("<=", "less_than_equal"),
    ],
)
def test_word_operators_equal_symbols(symbol, word):
    assert names(f"runningTasksCount {symbol} 1") == names(f"runningTasksCount {word} 1")
    assert parse(f"runningTasksCount {word} 1").op == symbol


def test_ordering_operators():
    assert names("runningTasksCount > 0") == {"i-m5c", "i-stg"}
    assert names("runningTasksCount >= 3") == {"i-m5c"}
    assert names("runningTasksCount <= 1") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-stg"}
    assert names("runningTasksCount != 0") == {"i-m5c", "i-stg"}
    assert names("agentVersion >= 1.14.5") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-m5c"}
    assert names("agentVersion == 1.15") == {"i-m5c"}  # 1.15 == 1.15.0
    assert names("agentVersion > v1.14") == names("agentVersion > 1.14")


@pytest.mark.parametrize("pos, neg", [("exists", "!exists"), ("exists", "not_exists")])
def test_exists(pos, neg):
    assert names(f"attribute:stack {pos}") == {"i-m5c", "i-stg"}
    assert names(f"attribute:stack {neg}") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b"}
    assert names(f"task:group {pos}") == {"i-m5c", "i-stg"}
    assert names(f"task:group {neg}") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b"}


def test_in_and_not_in_with_both_list_forms():
    assert names("attribute:ecs.availability-zone in (us-east-1c, us-east-1d)") == {"i-m5c", "i-wxyz5678"}
    assert names("attribute:ecs.availability-zone !in [us-east-1a, us-east-1b]") == {"i-m5c", "i-wxyz5678"}
    assert names("attribute:ecs.availability-zone not_in [us-east-1a,us-east-1b]") == {"i-m5c", "i-wxyz5678"}
    assert names("ec2InstanceId !in ['i-abcd1234', \"i-wxyz5678\", i-g2b, i-t2b]") == {"i-m5c", "i-stg"}


def test_matches_and_not_matches():
    assert names("attribute:ecs.instance-type matches g2.*") == {"i-wxyz5678", "i-g2b"}
    assert names("attribute:ecs.instance-type !~ (t2|g2)\\..*") == {"i-m5c"}
    assert names("attribute:ecs.instance-type not_matches '[tg]2\\..*'") == {"i-m5c"}
    assert names("ec2InstanceId =~ i-[a-z0-9]{3}") == {"i-g2b", "i-t2b", "i-m5c", "i-stg"}
    # whole-value match, as java.lang.String.matches
    assert names("attribute:ecs.instance-type =~ t2") == set()
    assert names("not(attribute:ecs.instance-type =~ t2.*)") == {"i-wxyz5678", "i-g2b", "i-m5c"}


def test_wildcards_in_equality_and_lists_quoted_is_literal():
    assert names("attribute:ecs.instance-type == t2.*") == {"i-abcd1234", "i-t2b", "i-stg"}
    assert names("attribute:ecs.instance-type != t2.*") == {"i-wxyz5678", "i-g2b", "i-m5c"}
    assert names("attribute:ecs.instance-type in [g2.*, m5.*]") == {"i-wxyz5678", "i-g2b", "i-m5c"}
    assert names("attribute:ecs.instance-type == 't2.*'") == set()
    assert names("attribute:ecs.availability-zone == *-1b") == {"i-g2b", "i-t2b"}


def test_task_group_is_set_valued():
    assert names("task:group in [database, service:web]") == {"i-m5c", "i-stg"}
    assert names("task:group =~ service:.*") == {"i-m5c", "i-stg"}
    # != : hosts some task whose group is not 'database'
    assert names("task:group != database") == {"i-m5c", "i-stg"}


def test_agent_connected():
    assert names("agentConnected == false") == {"i-stg"}
    assert names("agentConnected == TRUE") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-m5c"}
    assert names("agentConnected in [false]") == {"i-stg"}
    assert names("agentConnected != true") == {"i-stg"}


def test_registered_at_formats():
    assert names("registeredAt >= 2018-03-01") == {"i-m5c"}
    assert names("registeredAt == 2018-03-01") == {"i-m5c"}  # calendar day
    assert names("registeredAt > 2018-02-01T11:59:59Z") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b", "i-m5c"}
    assert names("registeredAt > 2018-02-01T12:00:00+00:00") == {"i-m5c"}
    assert names("registeredAt <= 2016-10-31T23:00:00") == {"i-stg"}  # naive = UTC
    assert names("registeredAt > 2016-11-01T00:30:00+02:00") == names("registeredAt > 2016-10-31T22:30:00Z")


def test_boolean_operators_and_precedence():
    # and binds tighter than or; not tighter than and
    e = parse("attribute:a == 1 or attribute:b == 2 and attribute:c == 3")
    assert isinstance(e, Or) and isinstance(e.items[1], And)
    e = parse("not attribute:a == 1 and attribute:b == 2")
    assert isinstance(e, And) and isinstance(e.items[0], Not)
    e = parse("(attribute:a == 1 || attribute:b == 2) && !(attribute:c exists)")
    assert isinstance(e, And) and isinstance(e.items[0], Or) and isinstance(e.items[1], Not)
    assert names("runningTasksCount == 1 || runningTasksCount == 3") == {"i-m5c", "i-stg"}
    assert names("runningTasksCount > 0 && agentConnected == true") == {"i-m5c"}
    assert names("! runningTasksCount > 0") == {"i-abcd1234", "i-wxyz5678", "i-g2b", "i-t2b"}
    assert names("NOT (attribute:stack exists) AND attribute:ecs.availability-zone == us-east-1b") == {"i-g2b", "i-t2b"}
    assert names("attribute:ecs.instance-type==t2.small&&runningTasksCount==1") == {"i-stg"}
    assert names("(attribute:stack == prod) or (task:group == service:web)") == {"i-m5c", "i-stg"}


def test_attribute_ordering_numeric_then_string():
    a = inst("x", attrs={"size": "10"})
    b = inst("y", attrs={"size": "9"})
    assert [i.name for i in select("attribute:size > 9.5", [a, b])] == ["x"]
    assert [i.name for i in select("attribute:ecs.availability-zone > us-east-1a", ALL)] == [
        "i-wxyz5678",
        "i-g2b",
        "i-t2b",
        "i-m5c",
    ]


def test_missing_values_select_nothing():
    blank = ContainerInstance(name="n", ec2_instance_id="n", attributes={})
    for e in (
        "agentVersion > 0.1",
        "registeredAt < 2100-01-01",
        "attribute:x != y",
        "attribute:x !in [y]",
        "attribute:x !~ y",
    ):
        assert not parse(e).evaluate(blank), e
    assert parse("not(attribute:x == y)").evaluate(blank)
    assert parse("attribute:x !exists").evaluate(blank)


def test_quoted_strings_and_escapes():
    i = inst("n", attrs={"note": "it's a b"})
    assert parse("attribute:note == 'it\\'s a b'").evaluate(i)
    assert parse('attribute:note == "it\'s a b"').evaluate(i)
    assert parse("attribute:note in ['x', \"it's a b\"]").evaluate(i)


def test_instance_id_alias_and_str_roundtrip():
    assert names("instanceId == i-g2b") == {"i-g2b"}
    for e in [
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
        "not(task:group == database)",
        "ec2InstanceId in ['i-abcd1234', 'i-wxyz5678']",
        "(attribute:a exists or runningTasksCount >= 2) and agentConnected == true",
    ]:
        assert str(parse(str(parse(e)))) == str(parse(e))


def test_parse_is_cached():
    assert parse("runningTasksCount == 1") is parse("runningTasksCount == 1")
    assert isinstance(parse("runningTasksCount == 1"), Compare)


@pytest.mark.parametrize(
    "expr, message, column",
    [
        ("", "empty expression", 1),
        ("   ", "empty expression", 1),
        ("runningTasksCount == 1 xx", "unexpected token 'xx'", 24),
        ("attribute:ecs.instance-type == t2.small xx", "unexpected token 'xx'", 41),
        ("foo == bar", "unknown subject 'foo'", 1),
        ("attribute: == x", "invalid attribute name", 11),
        ("attribute:ecs.instance-type", "unexpected end of expression", 28),
        ("attribute:ecs.instance-type ~= t2", "unexpected token '~='", 29),
        ("attribute:ecs.instance-type ==", "unexpected end of expression", 31),
        ("attribute:x in us-east-1a", "unexpected token 'us-east-1a'", 16),
        ("attribute:x in []", "empty argument list", 16),
        ("attribute:x in [a, b", "unclosed '['", 16),
        ("attribute:x in [a b]", "unexpected token 'b'", 19),
        ("attribute:x in [a,]", "unexpected token ']'", 19),
        ("attribute:x == 'abc", "unterminated quoted string", 16),
        ("(attribute:x exists", "unclosed '('", 1),
        ("attribute:x exists)", "unbalanced ')'", 19),
        ("attribute:x exists and", "unexpected end of expression", 23),
        ("attribute:x exists or or attribute:y exists", "unexpected token 'or'", 23),
        ("runningTasksCount == one", "whole number", 22),
        ("runningTasksCount in [1, 2]", "operator 'in' is not valid for runningTasksCount", 19),
        ("ec2InstanceId > i-1", "operator '>' is not valid for ec2InstanceId", 15),
        ("agentVersion =~ 1.*", "operator '=~' is not valid for agentVersion", 14),
        ("agentVersion < latest", "agentVersion compares with a version", 16),
        ("registeredAt < yesterday", "registeredAt compares with a date", 16),
        ("registeredAt < 2018-13-01", "registeredAt compares with a date", 16),
        ("registeredAt < 20180101", "registeredAt compares with a date", 16),
        ("agentConnected == maybe", "agentConnected compares with true or false", 19),
        ("task:group > a", "operator '>' is not valid for task:group", 12),
        ("attribute:x =~ (unclosed", "invalid regular expression", 16),
        ("attribute:x =~ '[a-'", "invalid regular expression", 16),
        ("not", "unexpected end of expression", 4),
        ("attribute:x == a b", "unexpected token 'b'", 18),
    ],
)
def test_invalid_expressions(expr, message, column):
    with pytest.raises(QueryError) as ei:
        parse(expr)
    err = ei.value
    assert message in str(err)
    assert err.column == column, str(err)
    assert str(err).startswith("memberOf expression: ")
    assert f"at column {column}" in str(err)
    assert err.expression == expr


def test_error_names_the_context():
    with pytest.raises(QueryError, match=r"^filter expression: unexpected token 'xx' at column 24"):
        parse("runningTasksCount == 1 xx", "filter")


def test_limits():
    with pytest.raises(QueryError, match="longer than 2000"):
        parse("attribute:a == " + "x" * 2000)
    with pytest.raises(QueryError, match="nested deeper"):
        parse("(" * 100 + "attribute:a exists" + ")" * 100)
    with pytest.raises(QueryError, match="nested deeper"):
        parse("not " * 100 + "attribute:a exists")
    with pytest.raises(QueryError, match="expected a string"):
        parse(None)  # type: ignore[arg-type]


_PIECES = st.sampled_from(
    [
        "attribute:ecs.instance-type",
        "attribute:",
        "task:group",
        "runningTasksCount",
        "agentConnected",
        "agentVersion",
        "registeredAt",
        "ec2InstanceId",
        "==",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "=~",
        "!~",
        "exists",
        "!exists",
        "in",
        "!in",
        "not_in",
        "matches",
        "and",
        "or",
        "not",
        "&&",
        "||",
        "!",
        "(",
        ")",
        "[",
        "]",
        ",",
        "'",
        '"',
        "\\",
        "t2.*",
        "us-east-1a",
        "1",
        "1.14.5",
        "2018-02-13",
        "true",
        "*",
        " ",
        "  ",
        "\t",
        "(a|b",
        "[[",
        "{",
        "}",
        "?",
        "+",
        "x{99999999999}",
    ]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=80), st.lists(_PIECES, max_size=24).map(" ".join), st.lists(_PIECES, max_size=24).map("".join)
    )
)
def test_parser_raises_only_query_error(text):
    try:
        expr = parse(text)
    except QueryError as e:
        assert 1 <= e.column <= len(text) + 1
        return
    # whatever parses also evaluates without error and round-trips through str()
    for i in ALL:
        assert isinstance(expr.evaluate(i), bool)
    assert str(parse(str(expr))) == str(expr)
