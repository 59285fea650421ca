"""PKCE pairs (RFC 7636) and states."""

from __future__ import annotations

import re

from aiproxy.oauth.pkce import challenge_for, new_pkce, new_state

_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_challenge_is_rfc7636_s256():
    # The example of RFC 7636 appendix B.
    assert challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_pkce_is_random_unpadded_and_consistent():
    a, b = new_pkce(), new_pkce()
    assert a.verifier != b.verifier
    assert a.method == "S256"
    assert 43 <= len(a.verifier) <= 128 and _B64URL.match(a.verifier)
    assert _B64URL.match(a.challenge) and "=" not in a.challenge
    assert a.challenge == challenge_for(a.verifier)


def test_states_are_random_and_url_safe():
    states = {new_state() for _ in range(50)}
    assert len(states) == 50
    assert all(_B64URL.match(s) and len(s) >= 32 for s in states)
