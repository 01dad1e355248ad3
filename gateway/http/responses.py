"""The API's one way to answer: a JSON body, ``no-store``, errors as ``{"error": "..."}``.

``json_body`` sets the status and headers and returns the bytes, for ``render_*`` methods that
answer at once; ``send_json`` writes and finishes a request answered later (after a Deferred),
unless the client has gone away meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request

from gateway.masking import mask_phones_in_text

JSON = b"application/json; charset=utf-8"
AUTHENTICATE = b'Bearer realm="pingjing"'


def json_body(request: Request, status: int, payload: Any) -> bytes:
    """Set the status and JSON headers and return the body (UTF-8, Chinese unescaped)."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", JSON)
    request.setHeader(b"cache-control", b"no-store")
    if status == 401:
        request.setHeader(b"www-authenticate", AUTHENTICATE)
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def error_body(request: Request, status: int, message: str, **extra: Any) -> bytes:
    """An error answer; its message may quote the request, so mobile numbers are masked."""
    return json_body(request, status, {"error": mask_phones_in_text(message), **extra})


def alive(request: Request) -> bool:
    """The request still waits for an answer (not finished, the client still connected)."""
    return not request.finished and not getattr(request, "_disconnected", False)


def send_json(request: Request, status: int, payload: Any) -> None:
    """Answer a request that was left open (``NOT_DONE_YET``)."""
    if not alive(request):
        return  # the client went away; nothing to answer
    request.write(json_body(request, status, payload))
    request.finish()


def send_error(request: Request, status: int, message: str, **extra: Any) -> None:
    send_json(request, status, {"error": mask_phones_in_text(message), **extra})
