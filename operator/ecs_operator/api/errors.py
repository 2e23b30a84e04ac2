"""ECS API errors as ECS sends them: ``{"__type": code, "message": ...}`` with the HTTP status.

Client mistakes are 4xx (SDKs retry 5xx, so a client mistake must never be one); authentication
failures are 403 (as AWS answers them); anything unexpected is a 500 ``ServerException``.
"""

from __future__ import annotations

import json

CONTENT_TYPE = "application/x-amz-json-1.1"

#: codes answered with 403 (authentication and authorisation), as AWS does
FORBIDDEN = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    }
)


class EcsApiError(Exception):
    """An error answered to the client: ``code`` is ECS's error code (the ``__type``)."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else (403 if code in FORBIDDEN else 400)

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}).encode()

    def headers(self) -> dict[str, str]:
        return {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": self.code}


def invalid_parameter(message: str) -> EcsApiError:
    return EcsApiError("InvalidParameterException", message)


def client_error(message: str) -> EcsApiError:
    return EcsApiError("ClientException", message)


def cluster_not_found() -> EcsApiError:
    return EcsApiError("ClusterNotFoundException", "Cluster not found.")


def server_error(message: str = "An internal error occurred.") -> EcsApiError:
    return EcsApiError("ServerException", message, status=500)
