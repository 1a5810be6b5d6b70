"""OpenAI-style API errors: ``{"error": {"message", "type", "param", "code"}}`` with a 4xx status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the server refuses; rendered as OpenAI's error JSON with ``status``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The JSON body of an error response, as the OpenAI API writes it."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
