"""The console in a real headless Chromium: signing in as each role, playing a recording and
finding its audit row, a unit user refused another unit's data, business text shown as text,
and the layout at an office screen and on a phone (screenshots).

The server runs in the test's reactor; each browser session runs in a worker thread
(``deferToThread``) so that the reactor keeps answering it. Set ``PINGJING_SCREENSHOTS=<dir>``
to keep the screenshots (``docs/console/`` holds the ones the README shows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest_twisted
import sqlalchemy as sa
from twisted.internet import threads

from storage.models import AuditEntry
from tests.console.browser import DESKTOP, PHONE
from tests.console.conftest import PASSWORD, XSS, ConsoleSite

WAIT = 15


def by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located((by("CSS_SELECTOR"), css))
    )


def sign_in(driver: Any, base: str, name: str, password: str = PASSWORD) -> None:
    driver.get(f"{base}/console/login")
    driver.delete_all_cookies()
    driver.get(f"{base}/console/login")
    driver.find_element(by("ID"), "name").send_keys(name)
    driver.find_element(by("ID"), "password").send_keys(password)
    driver.find_element(by("ID"), "signin").click()
    wait_for(driver, "#who")


def in_browser(fn: Any, *args: Any) -> Any:
    return threads.deferToThread(fn, *args)


@pytest_twisted.ensureDeferred
async def test_each_role_signs_in_and_sees_its_own_console(
    console_site: ConsoleSite, driver: Any
) -> None:
    base = console_site.base

    def steps() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for name in ("insp", "h1", "v1"):
            sign_in(driver, base, name)
            nav = [a.text for a in driver.find_elements(by("CSS_SELECTOR"), "nav.nav a")]
            waiting = driver.find_element(by("ID"), "waiting").text
            seen[name] = (driver.find_element(by("ID"), "who").text, nav, waiting)
            driver.find_element(by("ID"), "logout").click()
            wait_for(driver, "#signin")
        return seen

    seen = await in_browser(steps)
    assert seen["insp"][0] == "督察张三 · 督察 · 全部单位"
    assert "审计日志" in seen["insp"][1]
    assert seen["h1"][0] == "派出所李四 · 单位经办人 · S1"
    assert "审计日志" not in seen["h1"][1] and "待回访" in seen["h1"][2]
    assert seen["v1"][0] == "分局赵六 · 查看人员 · B1"
    assert "查看人员无待办事项" in seen["v1"][2]


@pytest_twisted.ensureDeferred
async def test_a_wrong_password_shows_a_message_and_no_session(
    console_site: ConsoleSite, driver: Any
) -> None:
    base = console_site.base

    def steps() -> tuple[str, str]:
        driver.get(f"{base}/console/login")
        driver.delete_all_cookies()
        driver.get(f"{base}/console/")  # sent to sign in
        driver.find_element(by("ID"), "name").send_keys("h1")
        driver.find_element(by("ID"), "password").send_keys("not-the-password")
        driver.find_element(by("ID"), "signin").click()
        return wait_for(driver, "#message").text, driver.current_url

    message, url = await in_browser(steps)
    assert message == "用户名或密码错误" and "/console/login" in url


@pytest_twisted.ensureDeferred
async def test_a_played_recording_leaves_its_audit_row(
    console_site: ConsoleSite, driver: Any
) -> None:
    base = console_site.base
    rec = console_site.ids["rec_S1"]

    def play() -> Any:
        sign_in(driver, base, "h1")
        driver.get(f"{base}/console/callbacks")
        wait_for(driver, f'audio[data-recording="{rec}"]')
        return driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const audio = document.querySelector(`audio[data-recording="${arguments[0]}"]`);
            audio.addEventListener('ended', () => done({ended: true, duration: audio.duration}));
            audio.addEventListener('error', () => done({error: String(audio.error.code)}));
            audio.play().catch(e => done({error: String(e)}));
            """,
            rec,
        )

    played = await in_browser(play)
    assert played.get("ended") and abs(played["duration"] - 0.5) < 0.05, played
    served = console_site.db.run_sync(
        lambda s: [
            (e.actor, e.object_id, e.detail["via"])
            for e in s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "recording.served"))
        ]
    )
    assert served and set(served) == {("h1", str(rec), "console")}

    def audit_page() -> list[str]:
        sign_in(driver, base, "insp")
        driver.get(f"{base}/console/audit?action=recording.served")
        rows = driver.find_elements(by("CSS_SELECTOR"), "#rows tbody tr")
        return [r.text for r in rows]

    rows = await in_browser(audit_page)
    assert rows and all("h1" in r and f"recording {rec}" in r for r in rows)


@pytest_twisted.ensureDeferred
async def test_a_unit_user_cannot_reach_another_units_data_by_editing_the_url(
    console_site: ConsoleSite, driver: Any
) -> None:
    base = console_site.base
    foreign = console_site.ids["rec_S2"]

    def steps() -> list[str]:
        sign_in(driver, base, "h1")
        texts = []
        for path in (
            f"/console/recordings/{foreign}",
            "/console/surveys?unit=S2",
            "/console/callbacks?unit=B1",
            "/console/audit",
            "/console/manual",
        ):
            driver.get(base + path)
            texts.append(wait_for(driver, "#error").text)
        return texts

    texts = await in_browser(steps)
    assert texts == [
        "无权收听此录音",
        "无权查看单位 S2",
        "无权查看单位 B1",
        "审计日志仅限督察部门查看",
        "无权查看或记录此人工回访",
    ]


@pytest_twisted.ensureDeferred
async def test_business_text_with_a_script_tag_shows_as_text(
    console_site: ConsoleSite, driver: Any
) -> None:
    base = console_site.base

    def steps() -> tuple[list[str], bool]:
        from selenium.common.exceptions import NoAlertPresentException

        sign_in(driver, base, "insp")
        driver.get(f"{base}/console/surveys?unit=S2")
        cells = [c.text for c in driver.find_elements(by("CSS_SELECTOR"), "#rows td.business")]
        try:
            driver.switch_to.alert.accept()
            alerted = True
        except NoAlertPresentException:
            alerted = False
        return cells, alerted

    cells, alerted = await in_browser(steps)
    assert cells == [XSS] * 3
    assert not alerted


@pytest_twisted.ensureDeferred
async def test_the_main_pages_fit_an_office_screen_and_a_phone(
    console_site: ConsoleSite, driver: Any, tmp_path: Path
) -> None:
    base = console_site.base
    keep = os.environ.get("PINGJING_SCREENSHOTS")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "dashboard": "/console/",
        "surveys": "/console/surveys",
        "callbacks": "/console/callbacks",
        "audit": "/console/audit",
        "cases": "/console/cases?box=all",
        "ranking": "/console/ranking?month=2026-11",
    }

    def steps() -> dict[str, int]:
        widths: dict[str, int] = {}
        sign_in(driver, base, "insp")
        for size_name, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
            driver.set_window_size(w, h)
            inner = driver.execute_script("return window.innerWidth")
            for name, path in pages.items():
                driver.get(base + path)
                wait_for(driver, "main h1")
                widths[f"{size_name}-{name}"] = (
                    driver.execute_script("return document.documentElement.scrollWidth") - inner
                )
                driver.save_screenshot(str(out / f"{name}-{size_name}.png"))
        driver.get(f"{base}/console/login")
        driver.delete_all_cookies()
        driver.get(f"{base}/console/login")
        driver.save_screenshot(str(out / "login-phone.png"))
        driver.set_window_size(*DESKTOP)
        return widths

    overflow = await in_browser(steps)
    # Nothing wider than the window (a vertical scroll bar makes it narrower): no sideways
    # scrolling of the page itself; wide tables scroll inside their own box.
    assert {page: width <= 0 for page, width in overflow.items()} == dict.fromkeys(overflow, True)
    assert (out / "dashboard-desktop.png").stat().st_size > 10_000


@pytest_twisted.ensureDeferred
async def test_a_case_is_followed_from_open_to_closed_in_the_browser(
    console_site: ConsoleSite, driver: Any, tmp_path: Path
) -> None:
    from tests.console.test_cases import PNG, open_case

    case_id = await open_case(console_site)
    base = console_site.base
    photo = tmp_path / "整改照片.png"
    photo.write_bytes(PNG)

    def do(action: str, **fields: str) -> str:
        driver.get(f"{base}/console/case/{case_id}")
        form = wait_for(driver, f"#form-{action}")
        for name, value in fields.items():
            field = form.find_element(by("NAME"), name)
            field.clear()
            field.send_keys(value)
        form.find_element(by("CSS_SELECTOR"), "button").click()
        wait_for(driver, "#done")
        return driver.find_element(by("ID"), "state").text

    def steps() -> list[str]:
        seen = []
        sign_in(driver, base, "insp")
        driver.get(f"{base}/console/cases")
        driver.find_element(by("CSS_SELECTOR"), f'a[href="/console/case/{case_id}"]').click()
        seen.append(do("start_verify"))
        seen.append(do("substantiate", finding="态度生硬属实"))
        sign_in(driver, base, "hb1")
        driver.get(f"{base}/console/case/{case_id}")
        driver.find_element(by("ID"), "evidence-file").send_keys(str(photo))
        driver.find_element(by("CSS_SELECTOR"), "#form-evidence button").click()
        wait_for(driver, "#evidence")
        seen.append(do("rectify", measure="已批评教育"))
        seen.append(do("submit"))
        sign_in(driver, base, "insp")
        seen.append(do("return", reason="材料不全"))
        sign_in(driver, base, "hb1")
        do("rectify", measure="补充谈话记录")
        seen.append(do("submit"))
        sign_in(driver, base, "insp")
        seen.append(do("accept", note="同意办结"))
        seen.append(driver.find_element(by("ID"), "evidence").text)
        return seen

    seen = await in_browser(steps)
    assert seen[:-1] == ["核查中", "属实", "整改中", "待审核", "整改中", "待审核", "已办结"]
    assert "整改照片.png" in seen[-1]
