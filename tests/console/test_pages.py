"""The console over HTTP: sign-in, sessions, CSRF, headers, scope, escaping, exports, audio."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any

import pytest_twisted
import sqlalchemy as sa

from storage.models import AuditEntry
from tests.console.conftest import AUDIO, XSS, ConsoleSite


@pytest_twisted.ensureDeferred
async def test_pages_need_a_session_and_send_the_browser_to_sign_in(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    for path in ("/console/", "/console/surveys", "/console/callbacks", "/console/audit"):
        reply = await client.get(path)
        assert reply.code == 303, path
        assert reply.header("location").startswith("/console/login?next=")


@pytest_twisted.ensureDeferred
async def test_signing_in_sets_a_strict_http_only_cookie_and_opens_the_dashboard(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    reply = await client.sign_in("insp")
    assert reply.code == 303 and reply.header("location") == "/console/"
    session_cookie = next(c for c in client.set_cookie_headers if c.startswith("pj_session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    assert "Path=/console" in session_cookie
    page = await client.get("/console/")
    assert page.code == 200
    assert "督察张三" in page.text and "全部单位" in page.text
    # S1 and S2 each sent three today, of which two were rated, one unsatisfied.
    today = re.search(r'id="today".*?</section>', page.text, re.S).group(0)
    assert re.findall(r"<dd>([^<]+)</dd>", today) == ["6", "66.7%", "50.0%", "2", "0", "0"]
    assert '<svg class="chart"' in page.text


@pytest_twisted.ensureDeferred
async def test_every_page_forbids_inline_and_foreign_script(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("insp")
    for path in ("/console/login", "/console/", "/console/surveys", "/console/static/console.css"):
        reply = await client.get(path)
        csp = reply.header("content-security-policy")
        assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
        assert reply.header("x-content-type-options") == "nosniff"
    page = await client.get("/console/")
    assert "http://" not in page.text and "https://" not in page.text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


@pytest_twisted.ensureDeferred
async def test_a_wrong_password_is_refused_logged_and_then_slowed(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    for _ in range(3):
        reply = await client.sign_in("insp", "wrong")
        assert reply.code == 401 and "用户名或密码错误" in reply.text
    assert console_site.app.console.throttle.delay("insp", "127.0.0.1") == 1.0
    pending = client.sign_in("insp")  # the right password, but it waits its turn

    from twisted.internet import defer

    d = defer.ensureDeferred(pending)
    for _ in range(50):  # let the request reach the server and wait on the clock
        if console_site.clock.getDelayedCalls():
            break
        await _tick()
    assert not d.called
    console_site.clock.advance(1.0)
    reply = await d
    assert reply.code == 303


async def _tick() -> None:
    from twisted.internet import reactor, task

    await task.deferLater(reactor, 0.01, lambda: None)


@pytest_twisted.ensureDeferred
async def test_a_post_without_the_sessions_csrf_token_is_refused(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("insp")
    reply = await client.post("/console/logout", {"csrf": "forged"})
    assert reply.code == 403
    assert (await client.get("/console/")).code == 200  # still signed in
    page = await client.get("/console/")
    reply = await client.post("/console/logout", {"csrf": client.csrf(page)})
    assert reply.code == 303
    assert (await client.get("/console/")).code == 303  # signed out


@pytest_twisted.ensureDeferred
async def test_the_sign_in_form_cannot_be_posted_from_elsewhere(console_site: ConsoleSite) -> None:
    client = console_site.client()
    reply = await client.post("/console/login", {"token": "x", "name": "insp", "password": "x"})
    assert reply.code == 403


@pytest_twisted.ensureDeferred
async def test_an_idle_session_ends(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("h1")
    console_site.clock.advance(29 * 60)
    assert (await client.get("/console/")).code == 200
    console_site.clock.advance(31 * 60)
    assert (await client.get("/console/")).code == 303


@pytest_twisted.ensureDeferred
async def test_a_unit_user_sees_only_its_subtree(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("h1")
    page = await client.get("/console/surveys")
    assert page.text.count("<tr>") == 4  # the header and S1's three surveys
    assert "单位S2" not in page.text.split('id="rows"')[1]
    reply = await client.get("/console/surveys?unit=S2")
    assert reply.code == 403 and "无权查看单位 S2" in reply.text
    reply = await client.get("/console/callbacks?unit=B1")
    assert reply.code == 403
    viewer = console_site.client()
    await viewer.sign_in("v1")
    page = await viewer.get("/console/surveys?unit=S2")
    assert page.code == 200 and page.text.count("<tr>") == 4


@pytest_twisted.ensureDeferred
async def test_business_text_is_shown_as_text(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("insp")
    page = await client.get("/console/surveys?unit=S2")
    assert XSS not in page.text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page.text


@pytest_twisted.ensureDeferred
async def test_phones_are_masked(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("insp")
    for path in ("/console/surveys", "/console/callbacks", "/console/export/surveys.csv"):
        body = (await client.get(path)).text
        assert "138****0001" in body or "138****0002" in body, path
        assert not re.search(r"1381234\d{4}", body), path


@pytest_twisted.ensureDeferred
async def test_lists_are_paged_on_the_server(console_site: ConsoleSite, monkeypatch: Any) -> None:
    from gateway.console import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    client = console_site.client()
    await client.sign_in("insp")
    first = await client.get("/console/surveys?status=replied")
    ids = re.findall(r"<tr>\s*<td>(\d+)</td>", first.text)
    assert len(ids) == 2
    link = re.search(r'href="\?([^"]+)" id="next"', first.text).group(1).replace("&amp;", "&")
    assert "status=replied" in link
    second = await client.get(f"/console/surveys?{link}")
    more = re.findall(r"<tr>\s*<td>(\d+)</td>", second.text)
    assert len(more) == 2 and set(more).isdisjoint(ids)
    assert min(int(i) for i in more) > max(int(i) for i in ids)


@pytest_twisted.ensureDeferred
async def test_the_current_filter_exports_as_csv_and_xlsx(console_site: ConsoleSite) -> None:
    client = console_site.client()
    await client.sign_in("insp")
    reply = await client.get("/console/export/surveys.csv?unit=S1&rating=unsatisfied")
    assert reply.code == 200 and reply.header("content-type").startswith("text/csv")
    assert reply.header("content-disposition").startswith("attachment; filename*=UTF-8''")
    rows = list(csv.reader(io.StringIO(reply.body.decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and len(rows) == 2 and rows[1][9] == "unsatisfied"
    reply = await client.get("/console/export/callbacks.xlsx")
    assert reply.header("content-type").endswith("spreadsheetml.sheet")
    sheet = zipfile.ZipFile(io.BytesIO(reply.body)).read("xl/worksheets/sheet1.xml").decode()
    assert sheet.count("<row ") == 3 and "138****" in sheet


@pytest_twisted.ensureDeferred
async def test_a_recording_plays_with_range_and_every_request_is_audited(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    await client.sign_in("h1")
    rec = console_site.ids["rec_S1"]
    whole = await client.get(f"/console/recordings/{rec}")
    assert whole.code == 200 and whole.body == AUDIO
    assert whole.header("content-type") in ("audio/x-wav", "audio/wav")
    assert whole.header("content-disposition") == f'inline; filename="recording-{rec}.wav"'
    part = await client.get(f"/console/recordings/{rec}", range="bytes=4-13")
    assert part.code == 206 and part.body == AUDIO[4:14]
    rows = console_site.db.run_sync(
        lambda s: [
            (e.actor, e.action, e.object_id, e.detail.get("via"), e.detail.get("status"))
            for e in s.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        ]
    )
    assert rows == [("h1", "recording.served", str(rec), "console", 200)] * 2


@pytest_twisted.ensureDeferred
async def test_another_units_recording_is_refused_and_the_refusal_audited(
    console_site: ConsoleSite,
) -> None:
    client = console_site.client()
    await client.sign_in("h1")
    rec = console_site.ids["rec_S2"]
    reply = await client.get(f"/console/recordings/{rec}")
    assert reply.code == 403 and AUDIO not in reply.body
    actions = console_site.db.run_sync(
        lambda s: [e.action for e in s.scalars(sa.select(AuditEntry))]
    )
    assert actions == ["recording.denied"]


@pytest_twisted.ensureDeferred
async def test_the_audit_log_is_the_inspectorates_alone(console_site: ConsoleSite) -> None:
    handler = console_site.client()
    await handler.sign_in("h1")
    await handler.get(f"/console/recordings/{console_site.ids['rec_S1']}")
    assert (await handler.get("/console/audit")).code == 403
    assert "审计日志" not in (await handler.get("/console/")).text
    inspector = console_site.client()
    await inspector.sign_in("insp")
    page = await inspector.get("/console/audit?action=recording.served")
    assert page.code == 200
    assert page.text.count('class="action">recording.served') == 1
    assert 'class="actor">h1<' in page.text


@pytest_twisted.ensureDeferred
async def test_static_files_are_the_packages_own(console_site: ConsoleSite) -> None:
    client = console_site.client()
    css = await client.get("/console/static/console.css")
    assert css.code == 200 and css.header("content-type").startswith("text/css")
    assert (await client.get("/console/static/../web.py")).code == 404
    assert (await client.get("/console/static/nothing.js")).code == 404
