"""The console's account form knows no account type: it renders the ones GET /admin/api/account-types names.

So a type added to the gateway's registry (tests/accounts/test_registry.py)
is offered by the form with no console change. The only place a type's name
may appear in the console's source is i18n.js, as the key of its translated
texts (a type without them shows the gateway's English label).
"""

from __future__ import annotations

import re
from pathlib import Path

from aiproxy.accounts import ACCOUNT_TYPES
from aiproxy.stores.entities import PLATFORMS

SRC = Path(__file__).resolve().parents[2] / "aiproxy" / "console" / "frontend" / "src"


FORM = ("components/AccountDialog.vue", "accountTypes.js")


def sources() -> dict[str, str]:
    return {
        str(p.relative_to(SRC)): p.read_text(encoding="utf-8")
        for p in sorted(SRC.rglob("*"))
        if p.suffix in (".js", ".vue") and p.name != "i18n.js"
    }


def test_no_account_type_is_named_in_the_console_source():
    found = sources()
    assert "components/AccountDialog.vue" in found and "accountTypes.js" in found
    for name in ACCOUNT_TYPES.names():
        # As a string literal or object key: 'ccr', "bedrock", `gemini-oauth`, ccr: …
        literal = re.compile(rf"""['"`]{re.escape(name)}['"`]|^\s*{re.escape(name)}\s*:""", re.MULTILINE)
        # A type named as its platform (`openai`) is looked for in the account form
        # only: other pages list platforms, which are not account types.
        where = found if name not in PLATFORMS else {p: found[p] for p in FORM}
        for path, text in where.items():
            assert not literal.search(text), f"{path} names the account type {name!r}"


def test_the_form_is_rendered_from_the_gateway_declarations():
    loader = sources()["accountTypes.js"]
    assert "get('account-types')" in loader
    dialog = sources()["components/AccountDialog.vue"]
    assert "loadAccountTypes" in dialog
    # Inputs come from the declared modes and options, not from per-type branches.
    assert "mode.fields" in dialog and "optionFields" in dialog
    assert not re.search(r"form\.type\s*===", dialog)
