"""Bearer tokens: the tokens file's machines and users' hashed tokens, side by side."""

from __future__ import annotations

from twisted.web.test.requesthelper import DummyRequest

from gateway.accounts.credentials import token_hash
from gateway.accounts.model import Role
from gateway.accounts.store import MemoryUserStore, NewUser
from gateway.config import ApiToken
from gateway.http.auth import UserTokenIndex, combined_authenticator


def bearer(token: str) -> DummyRequest:
    request = DummyRequest([b""])
    request.requestHeaders.addRawHeader(b"authorization", f"Bearer {token}".encode())
    return request


def test_machine_and_user_tokens_both_authenticate_and_reload_takes_effect():
    store = MemoryUserStore()
    store.add_user(NewUser("wu", "吴", "S1", Role.HANDLER))
    store.add_token("wu", "api", token_hash("pj_user_secret"))
    index = UserTokenIndex(store)
    authenticate = combined_authenticator([ApiToken("intake", "machine-secret", "")], index)

    assert authenticate(bearer("pj_user_secret")) is None  # not loaded yet
    assert index.reload().result == 1
    user = authenticate(bearer("pj_user_secret"))
    assert (user.name, user.unit, user.role) == ("wu", "S1", Role.HANDLER)
    assert authenticate(bearer("machine-secret")).name == "intake"
    assert authenticate(bearer("nobody")) is None
    assert authenticate(DummyRequest([b""])) is None

    store.set_disabled("wu", True)
    index.reload()
    assert authenticate(bearer("pj_user_secret")) is None
