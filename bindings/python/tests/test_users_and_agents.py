"""Calling as a user (on-behalf-of) and as an Entra agent identity or its user, against the
"Users" API of `examples/loopback_servers.rs`: it answers whom its token is for ("user <oid>
<scope>", "agent <id> <scope>", "agent-user <agent> <oid> <upn> <scope>", "app <client> <scope>").
The servers write the users' incoming tokens and the agent's names beside the configuration."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import pickle
from pathlib import Path

import pytest

import downstream_api as dsa

SCOPE = "api://wrapper-users/.default"


@pytest.fixture(scope="session")
def servers_dir(config_path):
    return Path(config_path).parent


@pytest.fixture(scope="session")
def tokens(servers_dir):
    return {
        name: (servers_dir / f"user-token-{name}.txt").read_text().strip()
        for name in ("alice", "bob", "mfa")
    }


@pytest.fixture(scope="session")
def agents(servers_dir):
    return json.loads((servers_dir / "agents.json").read_text())


def token_claims(header: str) -> dict:
    """The claims of the JWT in a ``Bearer`` header (the fake token endpoint issues JWTs)."""
    scheme, token = header.split(" ", 1)
    assert scheme == "Bearer"
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_long_running_session_goes_on_without_the_users_token(client, tokens):
    session = {"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "python-job"}}
    started = client.get("Users", user_token=tokens["bob"], overrides=session)
    assert started.text == f"user bob-oid {SCOPE}"
    # Later, the session's key alone: still bob's token, renewed with the session's refresh token
    # when forced.
    assert client.get("Users", overrides=session).text == f"user bob-oid {SCOPE}"
    renew = {"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "python-job", "ForceRefresh": True}}
    assert client.get("Users", overrides=renew).text == f"user bob-oid {SCOPE}"
    with pytest.raises(dsa.UserInteractionRequiredError):
        client.get("Users", overrides={"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "no-such-job"}})


def test_allocate_for_me_keys_the_session_by_the_documented_hash_of_the_users_token(client, tokens):
    allocate = {"AcquireTokenOptions": {"LongRunningWebApiSessionKey": "AllocateForMe"}}
    assert client.get("Users", user_token=tokens["alice"], overrides=allocate).status_code == 200
    digest = hashlib.sha256(tokens["alice"].encode()).digest()
    key = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    later = {"AcquireTokenOptions": {"LongRunningWebApiSessionKey": key}}
    assert client.get("Users", overrides=later).text == f"user alice-oid {SCOPE}"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_a_call_for_a_user_is_made_with_that_users_token(client, tokens, user):
    response = client.get("Users", user_token=tokens[user])
    assert response.status_code == 200
    assert response.text == f"user {user}-oid {SCOPE}"
    # Through call() and a shorthand alike, and again from the cache.
    assert client.call("Users", user_token=tokens[user]).text == f"user {user}-oid {SCOPE}"


def test_two_users_in_turn_never_get_each_others_token(client, tokens):
    for _ in range(2):
        assert client.get("Users", user_token=tokens["alice"]).text.startswith("user alice-oid ")
        assert client.get("Users", user_token=tokens["bob"]).text.startswith("user bob-oid ")
    # And the app's own call is still the app's.
    assert client.get("Users").text == f"app wrapper-app {SCOPE}"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_an_authorization_header_for_a_user_carries_that_users_token(client, tokens, user):
    header = client.authorization_header("Users", user_token=tokens[user])
    claims = token_claims(header)
    assert claims["oid"] == f"{user}-oid"
    assert claims["idtyp"] == "user"
    assert claims["azp"] == "wrapper-app"
    # The user's incoming token is never what goes out: a new token for the API, on behalf of.
    assert header.split(" ", 1)[1] != tokens[user]
    assert client.authorization_header("Users") != header  # the app's own


def test_a_user_whose_policy_wants_mfa_raises_with_the_claims_challenge(client, tokens, agents):
    with pytest.raises(dsa.UserInteractionRequiredError) as raised:
        client.get("Users", user_token=tokens["mfa"])
    error = raised.value
    assert error.claims == agents["mfa_claims"]
    assert error.status == dsa.Status.USER_INTERACTION_REQUIRED
    assert error.status_name == "DSAPI_USER_INTERACTION_REQUIRED"
    assert "AADSTS50076" in error.message
    assert tokens["mfa"] not in str(error)
    assert isinstance(error, dsa.Error)
    # The header too; and a copy of the exception keeps its claims.
    with pytest.raises(dsa.UserInteractionRequiredError) as raised:
        client.authorization_header("Users", user_token=tokens["mfa"])
    assert raised.value.claims == agents["mfa_claims"]
    assert pickle.loads(pickle.dumps(raised.value)).claims == agents["mfa_claims"]
    # Other failures have no claims to read: the next error's own claims are read.
    with pytest.raises(dsa.UnknownApiError):
        client.get("NoSuchApi", user_token=tokens["alice"])
    assert dsa._native.last_error_claims() == ""


def test_as_an_agent_and_as_its_user_by_upn_and_by_object_id(client, agents):
    agent = agents["agent"]
    user = f"{agents['agent_user_oid']} {agents['agent_user_upn']}"
    assert client.for_agent(agent).get("Users").text == f"agent {agent} {SCOPE}"
    by_upn = client.for_agent(agent, username=agents["agent_user_upn"])
    assert by_upn.get("Users").text == f"agent-user {agent} {user} {SCOPE}"
    by_oid = client.for_agent(agent, user_id=agents["agent_user_oid"])
    assert by_oid.call("Users").text == f"agent-user {agent} {user} {SCOPE}"
    assert token_claims(by_oid.authorization_header("Users"))["oid"] == agents["agent_user_oid"]
    # The view leaves the client as it was.
    assert client.get("Users").text == f"app wrapper-app {SCOPE}"


def test_an_agent_view_merges_its_options_into_the_callers_overrides(client, agents):
    view = client.for_agent(agents["agent"], username=agents["agent_user_upn"])
    assert view.agent_options == {
        "AgentIdentity": agents["agent"],
        "AgentUsername": agents["agent_user_upn"],
    }
    # The caller's overrides (a dict or JSON text, any case) keep their own keys.
    echoed = view.call("Users", overrides={"acquireTokenOptions": {"ForceRefresh": True}})
    assert echoed.text.startswith(f"agent-user {agents['agent']} ")
    options = view.api_options("Users", overrides='{"RelativePath": "other"}')
    assert options["RelativePath"] == "other"
    assert view.get("Users", path="me").status_code == 200
    with pytest.raises(ValueError, match="AcquireTokenOptions.AgentUserId, which the agent view"):
        view.get("Users", overrides={"AcquireTokenOptions": {"AgentUserId": "someone"}})


def test_async_client_for_a_user_and_for_an_agent(config_path, tokens, agents):
    async def main() -> None:
        async with dsa.AsyncClient.from_file(config_path) as client:
            alice, bob = await asyncio.gather(
                client.get("Users", user_token=tokens["alice"]),
                client.call("Users", user_token=tokens["bob"]),
            )
            assert (alice.text, bob.text) == (f"user alice-oid {SCOPE}", f"user bob-oid {SCOPE}")
            header = await client.authorization_header("Users", user_token=tokens["bob"])
            assert token_claims(header)["oid"] == "bob-oid"
            with pytest.raises(dsa.UserInteractionRequiredError) as raised:
                await client.get("Users", user_token=tokens["mfa"])
            # Read on the pool's thread that failed, not the awaiting one.
            assert raised.value.claims == agents["mfa_claims"]
            view = client.for_agent(agents["agent"], user_id=agents["agent_user_oid"])
            response = await view.get("Users")
            assert response.text.startswith(f"agent-user {agents['agent']} agent-user-oid ")
            agent_header = await client.for_agent(agents["agent"]).authorization_header("Users")
            assert agent_header.startswith("Bearer ") and agent_header != header

    asyncio.run(main())


@pytest.mark.parametrize(
    "use",
    [
        lambda c, t: c.call("Users", user_token=t + "\0bob"),
        lambda c, t: c.get("Users", user_token="\0" + t),
        lambda c, t: c.authorization_header("Users", user_token=t + "\0"),
    ],
)
def test_a_nul_in_a_user_token_is_a_value_error_naming_it(client, tokens, use):
    with pytest.raises(ValueError, match="^user_token contains an embedded null character"):
        use(client, tokens["alice"])


def test_user_token_argument_errors(client, tokens):
    with pytest.raises(TypeError, match="^user_token must be str, not bytes"):
        client.get("Users", user_token=tokens["alice"].encode())
    # Empty is the library's to refuse (it names the argument); an MTLS API takes no user token.
    with pytest.raises(dsa.InvalidArgumentError, match="user_token"):
        client.get("Users", user_token="")
    with pytest.raises(dsa.ConfigError, match="MTLS"):
        client.get("Mtls", user_token=tokens["alice"])


def test_agent_argument_errors(client, agents):
    agent = agents["agent"]
    with pytest.raises(ValueError, match="^pass username or user_id, not both"):
        client.for_agent(agent, username=agents["agent_user_upn"], user_id="x")
    with pytest.raises(ValueError, match="^app_id contains an embedded null character"):
        client.for_agent(agent + "\0other")
    with pytest.raises(ValueError, match="^username contains an embedded null character"):
        client.for_agent(agent, username="a@b\0")
    with pytest.raises(ValueError, match="^user_id is empty"):
        client.for_agent(agent, user_id="")
    with pytest.raises(TypeError, match="^app_id must be str, not NoneType"):
        client.for_agent(None)  # type: ignore[arg-type]


def test_an_agent_view_refuses_a_user_token(client, agents, tokens):
    view = client.for_agent(agents["agent"])
    with pytest.raises(ValueError, match="^user_token cannot be used with an agent view"):
        view.get("Users", user_token=tokens["alice"])
    with pytest.raises(ValueError, match="^user_token cannot be used with an agent view"):
        view.authorization_header("Users", user_token=tokens["alice"])


def test_async_agent_argument_errors(config_path):
    client = dsa.AsyncClient.from_file(config_path)
    try:
        with pytest.raises(ValueError, match="^pass username or user_id, not both"):
            client.for_agent("agent", username="a@b", user_id="oid")
    finally:
        client.close()


def test_a_web_api_validates_its_callers_token(client, tokens):
    claims = client.validate_token(tokens["alice"])
    assert claims["oid"] == "alice-oid"
    assert claims["aud"] == "wrapper-app"
    assert claims["scp"] == "access_as_user"


def test_an_invalid_token_raises_token_invalid_error_without_the_token(client, servers_dir):
    expired = (servers_dir / "user-token-expired.txt").read_text().strip()
    with pytest.raises(dsa.TokenInvalidError) as refused:
        client.validate_token(expired)
    assert refused.value.status == dsa.Status.TOKEN_INVALID
    assert "expired at" in refused.value.message
    assert expired not in str(refused.value)
    assert all(part not in str(refused.value) for part in expired.split(".") if len(part) > 8)
    with pytest.raises(dsa.TokenInvalidError, match="malformed token"):
        client.validate_token("not-a-token")


def test_the_async_client_validates_too(config_path, tokens):
    async def validate() -> dict:
        async with dsa.AsyncClient.from_file(config_path) as client:
            return await client.validate_token(tokens["bob"])

    assert asyncio.run(validate())["oid"] == "bob-oid"
