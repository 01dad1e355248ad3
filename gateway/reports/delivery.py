"""Delivering reports: the daily text to a WeCom (企业微信) group robot, the rest by e-mail.

The webhook takes ``{"msgtype": "text", "text": {"content": ...}}`` and answers
``{"errcode": 0}`` when it posted the message; anything else is a failure. Mail goes through
Twisted's SMTP client to ``reports.smtp_endpoint`` with the report's files attached. The
webhook URL carries its key and is a secret: it is never logged.
"""

from __future__ import annotations

import json
import mimetypes
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from io import BytesIO
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http_headers import Headers

from gateway.reports.settings import ReportSettings

log = Logger()

#: A WeCom robot text message holds at most 2,048 bytes of UTF-8.
WECOM_MAX_BYTES = 2048


class DeliveryError(Exception):
    pass


def _read_body(response: Any) -> defer.Deferred[bytes]:
    """The response body (``readBody`` warns about the agent's transport in Twisted 24+)."""
    done: defer.Deferred[bytes] = defer.Deferred()
    chunks: list[bytes] = []

    class Collect(Protocol):
        def dataReceived(self, data: bytes) -> None:
            chunks.append(data)

        def connectionLost(self, reason: Any = None) -> None:
            if reason is None or reason.check(ResponseDone):
                done.callback(b"".join(chunks))
            else:
                done.errback(reason)

    response.deliverBody(Collect())
    return done


def wecom_body(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > WECOM_MAX_BYTES:
        text = data[: WECOM_MAX_BYTES - 3].decode("utf-8", "ignore") + "…"
    return json.dumps({"msgtype": "text", "text": {"content": text}}, ensure_ascii=False).encode()


@defer.inlineCallbacks
def post_wecom(reactor: Any, url: str, text: str) -> Any:
    agent = Agent(reactor, connectTimeout=10)
    response = yield agent.request(
        b"POST",
        url.encode("ascii"),
        Headers({b"Content-Type": [b"application/json; charset=utf-8"]}),
        FileBodyProducer(BytesIO(wecom_body(text))),
    )
    body = yield _read_body(response)
    if response.code != 200:
        raise DeliveryError(f"WeCom webhook answered HTTP {response.code}")
    try:
        errcode = json.loads(body).get("errcode")
    except (ValueError, AttributeError):
        raise DeliveryError("WeCom webhook answered something that is not JSON") from None
    if errcode != 0:
        raise DeliveryError(f"WeCom webhook refused the message: errcode {errcode}")
    return "wecom"


def mail_message(
    settings: ReportSettings, subject: str, text: str, attachments: list[Path]
) -> bytes:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="pingjing")
    msg.set_content(text)
    for path in attachments:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = ctype.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return msg.as_bytes()


def send_mail(
    reactor: Any, settings: ReportSettings, subject: str, text: str, attachments: list[Path]
) -> defer.Deferred[Any]:
    from twisted.mail.smtp import sendmail

    host, _, port = settings.smtp_endpoint.rpartition(":")
    message = mail_message(settings, subject, text, attachments)
    d = sendmail(
        host,
        settings.mail_from,
        list(settings.mail_to),
        message,
        port=int(port),
        username=settings.smtp_user.encode() or None,
        password=settings.smtp_password.encode() or None,
        requireAuthentication=bool(settings.smtp_user),
        requireTransportSecurity=False,
        reactor=reactor,
    )
    return d.addCallback(lambda _: "mail")


class Deliverer:
    """Sends what is configured; with nothing configured, delivery is a no-op."""

    def __init__(self, settings: ReportSettings, reactor: Any) -> None:
        self.settings = settings
        self.reactor = reactor

    def deliver(
        self, kind: str, subject: str, text: str, attachments: list[Path]
    ) -> defer.Deferred[list[str]]:
        sends = []
        if kind == "day" and self.settings.wecom_webhook:
            sends.append(post_wecom(self.reactor, self.settings.wecom_webhook, text))
        if self.settings.smtp_endpoint and self.settings.mail_to:
            files = attachments if kind != "day" else []
            sends.append(send_mail(self.reactor, self.settings, subject, text, files))
        d = defer.DeferredList(sends, consumeErrors=True)

        def done(results: list[tuple[bool, Any]]) -> list[str]:
            out = []
            for ok, value in results:
                if ok:
                    out.append(value)
                else:
                    log.error("report delivery failed: {why}", why=value.getErrorMessage())
            return out

        return d.addCallback(done)
