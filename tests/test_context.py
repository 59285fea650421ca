"""The request context: one typed object under one scope["state"] key, and the import rules it allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aiproxy.context import STATE_KEY, RequestContext, api_key, context
from aiproxy.stores.entities import ApiKey

PACKAGE = Path(__file__).resolve().parent.parent / "aiproxy"


def test_context_is_made_once_and_found_again() -> None:
    scope: dict = {"type": "http"}
    ctx = context(scope)
    assert isinstance(ctx, RequestContext)
    assert context(scope) is ctx
    # One key of ours; whatever else the server put on state stays as it was.
    scope = {"type": "http", "state": {"server": 1}}
    ctx = context(scope)
    assert scope["state"] == {"server": 1, STATE_KEY: ctx}


def test_context_has_slots_not_a_dict() -> None:
    ctx = RequestContext()
    with pytest.raises(AttributeError):
        ctx.anything = 1  # type: ignore[attr-defined]


def test_api_key_is_the_one_key_auth_left() -> None:
    scope: dict = {"type": "http"}
    with pytest.raises(LookupError, match="KeyAuthMiddleware"):
        api_key(scope)
    key = ApiKey(user_id=1, name="k", key_hash="", key_prefix="")
    context(scope).key = key
    assert api_key(scope) is key


def _imports(path: Path) -> set[str]:
    """The modules `path` imports, as absolute dotted names under aiproxy."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.add(stem)
            # `from .. import key_quotas` imports a module, not a name.
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def test_no_middleware_imports_another() -> None:
    # Stricter than "none imports one that wraps it": what two layers share lives
    # below them (aiproxy.context, aiproxy.key_quotas, aiproxy.key_models).
    for path in sorted((PACKAGE / "middleware").glob("*.py")):
        if path.name == "__init__.py":
            continue
        inward = {name for name in _imports(path) if name.startswith("aiproxy.middleware")}
        assert not inward, f"{path.name} imports {inward}"


def test_routes_import_no_admin_and_no_middleware() -> None:
    for path in sorted((PACKAGE / "routes").glob("*.py")):
        upward = {n for n in _imports(path) if n.startswith(("aiproxy.admin", "aiproxy.middleware", "aiproxy.app"))}
        assert not upward, f"routes/{path.name} imports {upward}"


def test_no_other_keys_on_scope_state() -> None:
    # Per-request data goes through context(); nothing else indexes scope["state"].
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "context.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "state":
                target = node.value
                name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                assert "scope" not in name, f"{path.relative_to(PACKAGE)}:{node.lineno} reads scope['state']"
