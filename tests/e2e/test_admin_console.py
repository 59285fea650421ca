"""The admin web console in a real browser: Debian's Chromium, driven by Playwright.

A real uvicorn gateway, built as `python server.py` builds it (SQLite), serves
the console at /admin/; a fake Anthropic upstream answers the one proxied
request. The test goes through the console as an operator would: logs in as
the default admin, changes the password, creates an account and a key, makes
a request with that key, and finds it on the dashboard and in the usage
records. It saves a screenshot of every page in English and in Chinese (into
$AIPROXY_CONSOLE_SCREENSHOTS, else the test's temporary directory).

Playwright never downloads a browser here: it launches the system Chromium
($AIPROXY_TEST_CHROMIUM, else `chromium` on PATH). Without one the test is
skipped, unless AIPROXY_TEST_CHROMIUM is set (as .ci/run sets it), when a
missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from server import build_app
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.servers import running

playwright_sync = pytest.importorskip("playwright.sync_api")
Page = playwright_sync.Page
expect = playwright_sync.expect

NEW_PASSWORD = "console-test-password-1"
UPSTREAM_KEY = "sk-ant-console-upstream"
# The flags the machine's probe found Chromium needs here: as root, without a
# GPU, and with no background traffic to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LANGS = ("en", "zh")


def chromium_path() -> str:
    wanted = os.environ.get("AIPROXY_TEST_CHROMIUM")
    found = wanted or shutil.which("chromium") or shutil.which("chromium-browser")
    if found and Path(found).exists():
        return found
    if wanted:
        pytest.fail(f"AIPROXY_TEST_CHROMIUM={wanted} does not exist")
    pytest.skip("no system Chromium (apt-get install chromium, or set AIPROXY_TEST_CHROMIUM)")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("AIPROXY_CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, FakeAnthropic]]:
    fake = FakeAnthropic()
    with running(fake.app()) as upstream:
        env = {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
            "AIPROXY_DATA_DIR": str(tmp_path / "data"),
            "AIPROXY_ANTHROPIC_BASE_URL": upstream,
            "AIPROXY_USAGE_FLUSH_SECONDS": "0.1",
        }
        app, _ = build_app(env)
        with running(app) as gw:
            yield gw, fake


@pytest.fixture
def page(gateway: tuple[str, FakeAnthropic]) -> Iterator[Page]:
    executable = chromium_path()
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The console is served under a strict Content-Security-Policy
        # (aiproxy/security_headers.py); anything it refuses is a bug in one or the other.
        refused: list[str] = []
        page.on(
            "console",
            lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        try:
            yield page
        finally:
            browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"
        assert refused == [], f"Content-Security-Policy violations: {refused}"


def field(page: Page, test_id: str):  # type: ignore[no-untyped-def]
    """The input of an Element Plus field: the test id is on the input itself
    or on the component around it."""
    marked = page.get_by_test_id(test_id)
    return marked.locator("input, textarea").first if marked.evaluate("e => !e.matches('input, textarea')") else marked


def switch_language(page: Page, lang: str) -> None:
    page.get_by_test_id("lang-switch").get_by_test_id(f"lang-{lang}").click()
    expect(page.locator("html")).to_have_attribute("lang", re.compile("^zh" if lang == "zh" else "^en"))


VIEWPORT = {"width": 1440, "height": 900}


def shoot(page: Page, shots: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(400)  # chart animations and dialogs settle
    # The console scrolls inside its main pane, which a full-page screenshot
    # does not unroll: grow the window to the pane's content for the picture.
    needed = page.evaluate(
        "() => { const m = document.querySelector('.el-main');"
        " return m ? m.scrollHeight + m.getBoundingClientRect().top : 0 }"
    )
    if needed > VIEWPORT["height"]:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": int(needed) + 1})
        page.wait_for_timeout(300)  # charts resize
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


def go(page: Page, gw: str, route: str) -> None:
    page.goto(f"{gw}/admin/#/{route}")
    page.wait_for_load_state("networkidle")


def test_console_end_to_end(gateway: tuple[str, FakeAnthropic], page: Page, shots: Path) -> None:
    gw, fake = gateway

    # /admin answers with the console; login in both languages.
    page.goto(f"{gw}/admin")
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    for lang in LANGS:
        switch_language(page, lang)
        shoot(page, shots, f"login-{lang}")
    switch_language(page, "en")

    # A refused login shows the API's own words.
    field(page, "login-username").fill("admin")
    field(page, "login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.locator(".el-message--error")).to_contain_text("invalid username or password")
    field(page, "login-password").fill("admin123")
    page.get_by_test_id("login-submit").click()

    # The default admin must change the password before anything else.
    expect(page.get_by_test_id("pw-submit")).to_be_visible()
    go(page, gw, "accounts")
    expect(page.get_by_test_id("pw-submit")).to_be_visible()  # still held at the password page
    for lang in LANGS:
        switch_language(page, lang)
        shoot(page, shots, f"password-{lang}")
    switch_language(page, "en")
    field(page, "pw-old").fill("admin123")
    field(page, "pw-new").fill(NEW_PASSWORD)
    field(page, "pw-confirm").fill(NEW_PASSWORD)
    page.get_by_test_id("pw-submit").click()
    expect(page.get_by_test_id("header-user")).to_contain_text("admin")

    # An account: Claude Console, its API key (the upstream is the fake, by env).
    # The dialog is seen in Chinese first (the language switch is behind a
    # dialog once it is open), then filled in English.
    go(page, gw, "accounts")
    dialog = page.get_by_test_id("account-dialog")
    switch_language(page, "zh")
    page.get_by_test_id("account-new").click()
    expect(dialog).to_be_visible()
    shoot(page, shots, "account-dialog-zh")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    switch_language(page, "en")
    page.get_by_test_id("account-new").click()
    expect(dialog).to_be_visible()
    field(page, "account-name").fill("console-e2e")
    field(page, "account-api-key").fill(UPSTREAM_KEY)
    shoot(page, shots, "account-dialog-en")
    page.get_by_test_id("account-save").click()
    expect(dialog).to_be_hidden()
    table = page.get_by_test_id("accounts-table")
    expect(table).to_contain_text("console-e2e")
    assert UPSTREAM_KEY not in page.content()

    # A key: shown once, with client settings. A first one made in Chinese
    # for the pictures, then the one the request uses, in English.
    go(page, gw, "keys")
    switch_language(page, "zh")
    page.get_by_test_id("key-new").click()
    expect(page.get_by_test_id("key-dialog")).to_be_visible()
    field(page, "key-name").fill("zh-key")
    shoot(page, shots, "key-dialog-zh")
    page.get_by_test_id("key-save").click()
    expect(page.get_by_test_id("key-created-dialog")).to_be_visible()
    shoot(page, shots, "key-created-zh")
    page.get_by_test_id("key-created-close").click()
    expect(page.get_by_test_id("key-created-dialog")).to_be_hidden()
    switch_language(page, "en")

    page.get_by_test_id("key-new").click()
    expect(page.get_by_test_id("key-dialog")).to_be_visible()
    field(page, "key-name").fill("browser-key")
    shoot(page, shots, "key-dialog-en")
    page.get_by_test_id("key-save").click()
    created = page.get_by_test_id("key-created-dialog")
    expect(created).to_be_visible()
    plaintext_box = page.get_by_test_id("key-plaintext")
    plaintext = plaintext_box.input_value() if plaintext_box.evaluate("e => e.matches('input, textarea')") else (
        plaintext_box.inner_text().strip()
    )
    assert re.fullmatch(r"ap-[A-Za-z0-9_-]{20,}", plaintext), plaintext
    expect(page.get_by_test_id("key-snippets")).to_contain_text(f"{gw}/claude")
    shoot(page, shots, "key-created-en")
    page.get_by_test_id("key-created-close").click()
    expect(page.get_by_test_id("keys-table")).to_contain_text("browser-key")
    assert plaintext not in page.content()  # shown once, and only then

    # One proxied request with that key.
    r = httpx.post(
        f"{gw}/claude/v1/messages",
        headers={"x-api-key": plaintext, "anthropic-version": "2023-06-01"},
        json={"model": "claude-sonnet-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200, r.text
    assert fake.requests[-1].headers["x-api-key"] == UPSTREAM_KEY
    page.wait_for_timeout(500)  # the usage writer flushes every 0.1 s

    # The dashboard counts it; the usage records list it.
    go(page, gw, "dashboard")
    expect(page.get_by_test_id("stat-requests")).to_have_text(re.compile(r"^\D*1$"))
    expect(page.get_by_test_id("stat-errors")).to_contain_text("0")
    expect(page.get_by_test_id("dash-by-model")).to_contain_text("claude-sonnet-4-5")
    expect(page.get_by_test_id("dash-by-account")).to_contain_text("console-e2e")
    # A chart's tooltip is HTML the chart library writes: it must render under the CSP.
    chart = page.get_by_test_id("chart-traffic")
    box = chart.bounding_box()
    assert box is not None
    for fraction in (0.3, 0.5, 0.7):
        page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        page.wait_for_timeout(200)
    go(page, gw, "records")
    records = page.get_by_test_id("records-table")
    expect(records).to_contain_text("claude-sonnet-4-5")
    expect(records).to_contain_text("browser-key")
    expect(records).to_contain_text("200")
    # Served natively: no translation tag (one shows "client format → upstream format").
    expect(page.get_by_test_id("records-bridged")).to_have_count(0)

    # Every page, in both languages.
    for lang in LANGS:
        switch_language(page, lang)
        for route in ("dashboard", "accounts", "keys", "users", "records"):
            go(page, gw, route)
            shoot(page, shots, f"{route}-{lang}")
    # A user made in the console logs in, must change the password too, and
    # sees no admin pages.
    switch_language(page, "en")
    go(page, gw, "users")
    page.get_by_test_id("user-new").click()
    field(page, "user-username").fill("alice")
    field(page, "user-password").fill("alice-first-password")
    page.get_by_test_id("user-save").click()
    expect(page.get_by_test_id("users-table")).to_contain_text("alice")
    # Logging out ends the session on the server too: its token answers 401.
    admin_token = page.evaluate("localStorage.getItem('aiproxy.token')")
    assert httpx.get(f"{gw}/admin/api/me", headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    assert httpx.get(f"{gw}/admin/api/me", headers={"Authorization": f"Bearer {admin_token}"}).status_code == 401
    field(page, "login-username").fill("alice")
    field(page, "login-password").fill("alice-first-password")
    page.get_by_test_id("login-submit").click()
    field(page, "pw-old").fill("alice-first-password")
    field(page, "pw-new").fill("alice-second-password")
    field(page, "pw-confirm").fill("alice-second-password")
    page.get_by_test_id("pw-submit").click()
    expect(page.get_by_test_id("header-user")).to_contain_text("alice")
    expect(page.get_by_test_id("nav-keys")).to_be_visible()
    expect(page.get_by_test_id("nav-accounts")).to_have_count(0)
    expect(page.get_by_test_id("nav-users")).to_have_count(0)
    go(page, gw, "keys")
    expect(page.get_by_test_id("keys-table")).not_to_contain_text("browser-key")  # the admin's key
    shoot(page, shots, "keys-user-en")

    names = sorted(p.name for p in shots.glob("*.png"))
    for route in ("login", "password", "dashboard", "accounts", "keys", "users", "records"):
        assert {f"{route}-en.png", f"{route}-zh.png"} <= set(names), names
