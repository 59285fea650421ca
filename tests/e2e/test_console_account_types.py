"""The console's account form offers an account type it was built without.

The gateway here runs with the test-only `echo-relay` type of
tests/accounts/test_registry.py added by its one registry line. The console
(the committed build, unchanged) lists it under its platform, renders its
declared credential field, base URL example and option, and creates an
account of it. Needs a system Chromium, as tests/e2e/test_admin_console.py.
"""

from __future__ import annotations

import asyncio
from typing import Iterator

import httpx
import pytest

from aiproxy import MemoryStores, create_app
from aiproxy.security.passwords import hash_password
from aiproxy.stores.entities import User
from tests.accounts.test_registry import ECHO_BASE, ECHO_TOKEN, TYPES, EchoUpstream
from tests.e2e.test_admin_console import CHROMIUM_ARGS, VIEWPORT, chromium_path, field, go, switch_language
from tests.harness import gateway_settings
from tests.servers import running

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

PASSWORD = "echo-admin-password-1"


@pytest.fixture
def gateway() -> Iterator[str]:
    stores = MemoryStores()
    # An admin who need not change the password first (the default one must).
    asyncio.run(stores.users.create(User(username="admin", password_hash=hash_password(PASSWORD), role="admin")))
    upstream = EchoUpstream()
    app = create_app(stores, gateway_settings(), transport=httpx.MockTransport(upstream.handler), account_types=TYPES)
    with running(app) as gw:
        yield gw


def test_the_form_offers_a_type_added_to_the_registry(gateway: str) -> None:
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT, locale="en-US").new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{gateway}/admin")
            switch_language(page, "en")
            field(page, "login-username").fill("admin")
            field(page, "login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("header-user")).to_contain_text("admin")

            go(page, gateway, "accounts")
            page.get_by_test_id("account-new").click()
            dialog = page.get_by_test_id("account-dialog")
            expect(dialog).to_be_visible()
            page.get_by_test_id("account-platform").click()
            page.get_by_test_id("account-platform-openai").click()
            page.get_by_test_id("account-type").click()
            option = page.get_by_test_id("account-type-echo-relay")
            expect(option).to_contain_text("echo-relay — Echo relay (tests)")  # the gateway's label
            option.click()

            # Its declared inputs: the secret token, the base URL example, its option.
            token = field(page, "account-token")
            expect(token).to_have_attribute("type", "password")
            base_url = field(page, "account-base-url")
            expect(base_url).to_have_attribute("placeholder", "http://echo.example")
            flavour = field(page, "account-flavour")
            expect(flavour).to_have_attribute("placeholder", "plain")

            field(page, "account-name").fill("echo-from-console")
            token.fill(ECHO_TOKEN)
            base_url.fill(ECHO_BASE)
            flavour.fill("salty")
            page.get_by_test_id("account-save").click()
            expect(dialog).to_be_hidden()
            expect(page.get_by_test_id("accounts-table")).to_contain_text("echo-from-console")
            assert ECHO_TOKEN not in page.content()

            # In Chinese, the type the console has no translation for keeps the gateway's label.
            switch_language(page, "zh")
            page.get_by_test_id("account-new").click()
            page.get_by_test_id("account-platform").click()
            page.get_by_test_id("account-platform-openai").click()
            page.get_by_test_id("account-type").click()
            expect(page.get_by_test_id("account-type-echo-relay")).to_contain_text("Echo relay (tests)")
            expect(page.get_by_test_id("account-type-openai")).to_contain_text("兼容接口密钥")
        finally:
            browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"

    # What the form sent is what the type declares.
    with httpx.Client(base_url=gateway) as http:
        r = http.post("/admin/api/login", json={"username": "admin", "password": PASSWORD})
        headers = {"authorization": f"Bearer {r.json()['token']}"}
        [account] = http.get("/admin/api/accounts", headers=headers).json()["accounts"]
    assert account["type"] == "echo-relay" and account["platform"] == "openai"
    assert account["base_url"] == ECHO_BASE and account["options"] == {"flavour": "salty"}
    assert account["has_credentials"] is True
