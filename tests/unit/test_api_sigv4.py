"""SigV4 verification against botocore's own signer: what botocore signs verifies; a wrong
secret, a changed body or header, another service, or a clock more than 15 minutes off does not."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from ecs_operator.api import sigv4
from ecs_operator.api.errors import EcsApiError

from .api_fakes import signed_request

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _verify(req: sigv4.Request, secret: str = SECRET, now: datetime | None = None) -> sigv4.Authorization:
    auth = sigv4.parse_authorization(req.header("authorization"))
    sigv4.verify(req, auth, secret, now or datetime.now(UTC))
    return auth


@pytest.mark.parametrize(
    "body,region,host",
    [
        ({}, "eu-west-1", "ecs.example.test:8443"),
        ({"clusterName": "web"}, "us-east-1", "127.0.0.1:9000"),
        ({"family": "ünïcode", "x": [1, 2.5, None]}, "ap-southeast-2", "localhost"),
        (b"", "eu-central-1", "ecs.example.test"),
    ],
)
def test_botocore_signatures_verify_and_give_the_scope(body, region, host):
    auth = _verify(signed_request("ListClusters", body, region=region, host=host))
    assert auth.credential.access_key_id == "AKIDEXAMPLE"
    assert auth.credential.region == region and auth.credential.service == "ecs"


def _mutate_body(r):
    return dataclasses.replace(r, body=r.body + b" ")


def _mutate_target(r):
    headers = tuple((k, v + "X" if k.lower() == "x-amz-target" else v) for k, v in r.headers)
    return dataclasses.replace(r, headers=headers)


def _mutate_path(r):
    return dataclasses.replace(r, path="/other")


@pytest.mark.parametrize("mutate", [_mutate_body, _mutate_target, _mutate_path], ids=["body", "header", "path"])
def test_a_changed_request_fails(mutate):
    req = mutate(signed_request("ListClusters", {"maxResults": 5}))
    with pytest.raises(EcsApiError) as e:
        _verify(req)
    assert e.value.code == "InvalidSignatureException" and e.value.status == 403


def test_a_wrong_secret_fails_without_naming_it():
    with pytest.raises(EcsApiError) as e:
        _verify(signed_request("ListClusters", {}), secret="not-the-secret")
    assert e.value.code == "InvalidSignatureException"
    assert SECRET not in e.value.message and "not-the-secret" not in e.value.message


@pytest.mark.parametrize(
    "offset,ok,words",
    [
        (timedelta(minutes=14), True, ""),
        (timedelta(minutes=-14), True, ""),
        (timedelta(minutes=16), False, "Signature expired"),
        (timedelta(minutes=-16), False, "Signature not yet current"),
    ],
)
def test_clock_skew_of_15_minutes(offset, ok, words):
    req = signed_request("ListClusters", {})
    signed_at = sigv4.request_time(req)
    if ok:
        _verify(req, now=signed_at + offset)
        return
    with pytest.raises(EcsApiError) as e:
        _verify(req, now=signed_at + offset)
    assert e.value.code == "InvalidSignatureException" and words in e.value.message


@pytest.mark.parametrize(
    "header,code",
    [
        (None, "MissingAuthenticationTokenException"),
        ("", "MissingAuthenticationTokenException"),
        (
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "IncompleteSignatureException",
        ),
        ("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host", "IncompleteSignatureException"),
        ("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00", "IncompleteSignatureException"),
    ],
)
def test_malformed_authorization(header, code):
    with pytest.raises(EcsApiError) as e:
        sigv4.parse_authorization(header)
    assert e.value.code == code and e.value.status == 403


def test_a_signature_for_another_service_fails():
    req = signed_request("ListClusters", {})
    auth = sigv4.parse_authorization(req.header("authorization"))
    with pytest.raises(EcsApiError) as e:
        sigv4.verify(req, auth, SECRET, datetime.now(UTC), service="sqs")
    assert e.value.code == "InvalidSignatureException"


@pytest.mark.parametrize(
    "raw,canonical",
    [("", ""), ("b=2&a=1", "a=1&b=2"), ("a=x%20y&a=b", "a=b&a=x%20y"), ("k=~v_.-", "k=~v_.-"), ("flag", "flag=")],
)
def test_canonical_query(raw, canonical):
    assert sigv4.canonical_query(raw) == canonical
