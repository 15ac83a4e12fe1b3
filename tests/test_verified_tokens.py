"""Verified tokens are remembered per process (``auth.VerifiedTokens``): a token checked once is
not decoded again, its ``exp`` still ends it on time, a bad token is never remembered, and the
memory is bounded."""

from __future__ import annotations

import time

import jwt
import pytest

from asset_service.engine.model import Principal, Role
from asset_service.http import auth
from asset_service.http.auth import TokenPolicy, VerifiedTokens, issue_token, verify_token
from asset_service.http.problems import HTTPProblem

SECRET = "a-secret-of-sufficient-length-for-hs256-0123456789abcdef"


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every token PyJWT is asked to verify."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token, *args, **kwargs):
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    return seen


def test_a_token_is_verified_once_then_remembered(decodes):
    policy = TokenPolicy(SECRET)
    token = issue_token(policy, user="u", customer="acme", roles=["editor"], ttl=60)
    first = verify_token(policy, token)
    assert first == Principal("u", "acme", frozenset({Role.EDITOR}))
    assert verify_token(policy, token) == first
    assert decodes == [token]
    # another policy (another process, another secret) remembers nothing of it
    with pytest.raises(HTTPProblem, match="not valid"):
        verify_token(TokenPolicy(SECRET[::-1]), token)


def test_a_remembered_token_still_expires(decodes, monkeypatch):
    policy = TokenPolicy(SECRET, leeway=5)
    token = issue_token(policy, user="u", customer="acme", roles=["viewer"], ttl=60)
    verify_token(policy, token)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(auth.time, "time", lambda: expires + 4.5)
    assert verify_token(policy, token).user_id == "u"  # within the leeway, as PyJWT has it
    monkeypatch.setattr(auth.time, "time", lambda: expires + 5)
    with pytest.raises(HTTPProblem, match="expired"):
        verify_token(policy, token)
    assert len(policy.verified) == 0  # forgotten: from now on PyJWT says it


def test_bad_tokens_are_not_remembered(decodes):
    policy = TokenPolicy(SECRET)
    good = issue_token(policy, user="u", customer="acme", roles=["viewer"], ttl=60)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(HTTPProblem):
            verify_token(policy, forged)
    assert decodes == [forged, forged]
    assert len(policy.verified) == 0


def test_the_memory_is_bounded_and_keeps_the_recently_used():
    tokens = VerifiedTokens(size=2)
    principal = Principal("u", "acme", frozenset())
    expires = int(time.time()) + 60
    tokens.put("a", principal, expires)
    tokens.put("b", principal, expires)
    assert tokens.get("a") is not None  # "a" is now the most recent
    tokens.put("c", principal, expires)
    assert len(tokens) == 2
    assert tokens.get("b") is None
    assert tokens.get("a") is not None and tokens.get("c") is not None
