"""HTTP errors as data: every 4xx/5xx answer is `{"error": "...", "detail": ...}`."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

from runtime.types import JSON


class ApiError(Exception):
    """Raised by a handler; the error middleware turns it into a JSON response."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: JSON = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})


def json_response(
    body: JSON, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def json_error(
    status: int, error: str, detail: JSON = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    return json_response({"error": error, "detail": detail}, status, headers)
