"""The canonical create's body: JSON text the API server's YAML decoder reads as the same value.
json.dumps escapes a character beyond U+FFFF as a UTF-16 surrogate pair, which Go's YAML decoder
refuses ("found invalid Unicode character escape code"); it becomes YAML's \\U escape instead."""

import json

import pytest
import yaml
from ecs_operator.k8s import _yaml_safe_json


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("plain ascii", '"plain ascii"'),
        ("\U00024bd9", '"\\U00024bd9"'),  # beyond the BMP
        ("a\U0001f600b", '"a\\U0001f600b"'),
        ("ü\u2028", '"\\u00fc\\u2028"'),  # BMP escapes stay as JSON wrote them
        ("\\ud852\\udfd9", '"\\\\ud852\\\\udfd9"'),  # backslashes typed by the user: not an escape
        ("\\\U00024bd9", '"\\\\\\U00024bd9"'),  # an escaped backslash, then the character
    ],
)
def test_characters_beyond_the_bmp_become_yaml_escapes_and_read_back_the_same(value, sent):
    text = _yaml_safe_json(json.dumps(value))
    assert text == sent
    assert yaml.safe_load(text) == value
    assert "\\ud8" not in text.replace("\\\\", "")


def test_an_empty_name_gets_nothing_without_asking_the_api_server(monkeypatch):
    # an ECSCluster's capacityProviders [""] once read the whole CapacityProvider list here (fuzz)
    from ecs_operator import k8s

    def never(*a, **kw):
        raise AssertionError("no request for an empty name")

    monkeypatch.setattr(k8s._OPERATOR, "_call", never)
    assert k8s.get("ecs.seed.dev/v1alpha1", "CapacityProvider", "ns", "") is None
