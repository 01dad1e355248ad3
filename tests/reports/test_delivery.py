"""Scheduled reports are produced on the business clock, archived, and delivered to a local
WeCom-like webhook and a local SMTP server started by the test (never the outside)."""

from __future__ import annotations

import email
import json
from datetime import UTC, date, datetime

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.mail import smtp
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer

from gateway.reports.delivery import Deliverer, DeliveryError, post_wecom, wecom_body
from gateway.reports.service import ReportScheduler
from gateway.reports.settings import ReportSettings

from .memory import city, replies


class Webhook(Resource):
    isLeaf = True

    def __init__(self, errcode=0):
        super().__init__()
        self.bodies = []
        self.errcode = errcode

    def render_POST(self, request):
        self.bodies.append(json.loads(request.content.read()))
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"errcode": self.errcode, "errmsg": "ok"}).encode()


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, box):
        self.box, self.lines = box, []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.box.append(b"\n".join(self.lines))
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, box):
        self.box = box

    def receivedHeader(self, helo, origin, recipients):
        return b"Received: by the test"

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        return lambda: _Message(self.box)


class _SmtpFactory(smtp.SMTPFactory):
    def __init__(self, box):
        super().__init__()
        self.box = box

    def buildProtocol(self, addr):
        p = smtp.ESMTP()
        p.factory = self
        p.delivery = _Delivery(self.box)
        return p


@pytest.fixture
def webhook():
    resource = Webhook()
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    yield resource, f"http://127.0.0.1:{port.getHost().port}/cgi-bin/webhook/send?key=SECRET"
    port.stopListening()


@pytest.fixture
def mailbox():
    box = []
    port = reactor.listenTCP(0, _SmtpFactory(box), interface="127.0.0.1")
    yield box, f"127.0.0.1:{port.getHost().port}"
    port.stopListening()


class Runner:
    """The database runner, in-memory: runs the transaction function at once."""

    def run(self, fn, *args, **kwargs):
        return defer.maybeDeferred(fn, None, *args, **kwargs)


def store():
    s = city()
    for d in range(1, 31):
        s.facts += replies("HT", date(2018, 5, d), 3, 0)
        s.facts += replies("JC", date(2018, 5, d), 2, 1)
    return s


def test_wecom_body_is_a_text_message_cut_to_2048_bytes():
    body = json.loads(wecom_body("评" * 1000))
    assert body["msgtype"] == "text"
    assert len(body["text"]["content"].encode()) <= 2048


@pytest_twisted.inlineCallbacks
def test_daily_text_goes_to_the_webhook_and_monthly_files_by_mail(webhook, mailbox, tmp_path):
    hook, url = webhook
    box, endpoint = mailbox
    settings = ReportSettings(
        min_sample=5, wecom_webhook=url, smtp_endpoint=endpoint, mail_to=["duchadui@example.org"]
    )
    clock = Clock()
    clock.advance(datetime(2018, 5, 31, 23, tzinfo=UTC).timestamp())  # 07:00 1 June, Shanghai
    reports = store()
    service = ReportScheduler(
        Runner(),
        reports,
        settings,
        clock,
        tmp_path,
        Deliverer(settings, reactor),
        kinds=("day", "month"),
    )
    service.startService()
    try:
        assert service.runs == []
        clock.advance(3600)  # 08:00: the daily report
        yield _settle(service)
        assert [r[:2] for r in service.runs] == [("day", "2018-05-31")]
        assert service.runs[0][2] == ["wecom", "mail"]
        assert hook.bodies[0]["text"]["content"].startswith("【短信评警日通报】2018年5月31日")
        clock.advance(3600)  # 09:00: the monthly report, mailed with its workbook
        yield _settle(service)
        assert [r[:2] for r in service.runs][-1] == ("month", "2018-05")
        assert len(hook.bodies) == 1  # only the daily text goes to the group
        message = email.message_from_bytes(box[-1])
        assert "2018" in str(
            email.header.make_header(email.header.decode_header(message["Subject"]))
        )
        names = [part.get_filename() for part in message.walk() if part.get_filename()]
        assert "month_2018-05.xlsx" in names
        kinds = {(r.kind, r.period_key) for r in reports.archived(None)}
        assert {("day", "2018-05-31"), ("month", "2018-05")} <= kinds
    finally:
        yield service.stopService()


@pytest_twisted.inlineCallbacks
def test_a_refusing_webhook_is_a_failure_not_a_crash(tmp_path):
    resource = Webhook(errcode=93000)
    port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/send?key=SECRET"
        with pytest.raises(DeliveryError, match="errcode 93000"):
            yield post_wecom(reactor, url, "x")
        settings = ReportSettings(wecom_webhook=url)
        delivered = yield Deliverer(settings, reactor).deliver("day", "t", "x", [])
        assert delivered == []
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_catch_up_after_a_restart(tmp_path):
    settings = ReportSettings(min_sample=5, catch_up_hours=6)
    clock = Clock()
    clock.advance(datetime(2018, 6, 1, 3, tzinfo=UTC).timestamp())  # 11:00 in Shanghai
    reports = store()
    service = ReportScheduler(
        Runner(), reports, settings, clock, tmp_path, Deliverer(settings, reactor), kinds=("day",)
    )
    service.startService()
    yield _settle(service)
    assert [r[:2] for r in service.runs] == [("day", "2018-05-31")]
    yield service.stopService()
    again = ReportScheduler(
        Runner(), reports, settings, clock, tmp_path, Deliverer(settings, reactor), kinds=("day",)
    )
    again.startService()
    yield _settle(again)
    assert again.runs == []  # already in the archive
    yield again.stopService()


def _settle(service):
    return defer.DeferredList(list(service._running), consumeErrors=True)


@pytest_twisted.inlineCallbacks
def test_weekly_run_gives_each_ranked_unit_its_own_notice(tmp_path):
    settings = ReportSettings(min_sample=5)
    clock = Clock()
    clock.advance(datetime(2018, 6, 3, 16, tzinfo=UTC).timestamp())  # 00:00 Monday, Shanghai
    reports = store()
    service = ReportScheduler(
        Runner(),
        reports,
        settings,
        clock,
        tmp_path,
        Deliverer(settings, reactor),
        kinds=("week",),
    )
    service.startService()
    try:
        clock.advance(9 * 3600)  # 09:00, after weekly_at
        yield _settle(service)
        assert [r[:2] for r in service.runs] == [("week", "2018-W22")]
        units = {r.unit_code for r in reports.archived(None, "week")}
        assert units == {"530400", "HT", "JC", "CJ", "JJ"}
    finally:
        yield service.stopService()
