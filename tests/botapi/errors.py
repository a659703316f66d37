"""Telegram's answer envelope and the stand-in's ways of failing like a real network."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class ApiResponse:
    """One answer from the stand-in: an HTTP status and Telegram's JSON envelope."""

    status: int
    payload: dict[str, Any]

    @property
    def body(self) -> bytes:
        """The envelope encoded as Telegram sends it (compact UTF-8 JSON)."""
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def ok(self) -> bool:
        """Whether Telegram would call this a success."""
        return bool(self.payload.get("ok"))

    @classmethod
    def success(cls, result: Any, description: str | None = None) -> ApiResponse:
        """Build `{"ok": true, "result": ...}`, with a description where Telegram adds one."""
        payload: dict[str, Any] = {"ok": True, "result": result}
        if description is not None:
            payload["description"] = description
        return cls(int(HTTPStatus.OK), payload)


@dataclass
class BotApiError(Exception):
    """A method refused the call; turns into `{"ok": false, "error_code": ..., ...}`."""

    error_code: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.error_code} {self.description}"

    def response(self) -> ApiResponse:
        """The error as Telegram's envelope."""
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            payload["parameters"] = dict(self.parameters)
        return ApiResponse(int(self.error_code), payload)


def bad_request(detail: str) -> BotApiError:
    """400 with Telegram's "Bad Request: " prefix."""
    return BotApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotApiError:
    """403 with Telegram's "Forbidden: " prefix."""
    return BotApiError(HTTPStatus.FORBIDDEN, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> BotApiError:
    """429 flood control, carrying `parameters.retry_after` as Telegram does."""
    return BotApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


def conflict(detail: str) -> BotApiError:
    """409 with Telegram's "Conflict: " prefix."""
    return BotApiError(HTTPStatus.CONFLICT, f"Conflict: {detail}")


NOT_FOUND = BotApiError(HTTPStatus.NOT_FOUND, "Not Found")
UNAUTHORIZED = BotApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized")


class SimulatedConnectionFailure(Exception):
    """The connection broke; the front must fail the way a dropped socket would.

    `received` says whether Telegram got the request (and dealt with it, effects recorded)
    before the connection failed, so that only the answer was lost on the way back.
    """

    def __init__(self, method: str, *, received: bool) -> None:
        stage = "after Telegram received" if received else "before Telegram received"
        super().__init__(f"simulated connection failure {stage} {method}")
        self.method = method
        self.received = received
