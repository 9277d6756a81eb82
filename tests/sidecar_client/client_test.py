"""Microsoft 365 Agents SDK's sidecar client (PyPI: microsoft-agents-authentication-entra-auth-sidecar,
written by Microsoft for its own identity sidecar) against `dsapi serve`, unchanged: health, an
app token, an agent's token and its user's, and an error. Run by run.sh, which starts the
loopback servers and `dsapi serve` and sets SIDECAR_URL and SERVERS_DIR."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import httpx

from microsoft_agents.authentication.entra_auth_sidecar import (
    SidecarAuth,
    SidecarHttpClient,
    SidecarRequestOptions,
)
from microsoft_agents.hosting.core import AgentAuthConfiguration

TENANT = "wrapper-tenant"


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def whom(token: str) -> str:
    """The fake resource's answer to a call with `token` (app tokens are opaque): whose it is."""
    config = json.loads((Path(os.environ["SERVERS_DIR"]) / "appsettings.json").read_text())
    users = config["DownstreamApis"]["Users"]["BaseUrl"]
    with httpx.Client(verify=config["Http"]["CaBundlePath"], trust_env=False) as http:
        return http.get(f"{users}/me", headers={"Authorization": f"Bearer {token}"}).text


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAIL {what}", file=sys.stderr)
        sys.exit(1)
    print(f"PASS {what}")


async def main() -> None:
    base = os.environ["SIDECAR_URL"]
    agents = json.loads((Path(os.environ["SERVERS_DIR"]) / "agents.json").read_text())
    agent, upn, oid = agents["agent"], agents["agent_user_upn"], agents["agent_user_oid"]

    client = SidecarHttpClient(base, retry_count=0)
    check(await client.is_healthy(), "GET /healthz")
    header = await client.get_authorization_header_unauthenticated(
        "Users", SidecarRequestOptions(agent_identity=agent, tenant=TENANT, force_refresh=True)
    )
    check(header.scheme == "Bearer" and claims(header.token)["azp"] == agent, "an agent's token")
    try:
        await client.get_authorization_header_unauthenticated("NoSuchApi")
        check(False, "an unknown API is refused")
    except ValueError as error:  # the client's mapping of a 400 problem
        check("400" in str(error) and "Bad Request" in str(error), f"an unknown API is refused: {error}")
    await client.aclose()

    auth = SidecarAuth(
        AgentAuthConfiguration(
            CLIENTID="wrapper-app",
            SERVICE_NAME="Users",
            BLUEPRINT_SERVICE_NAME="Users",
            SIDECAR_BASE_URL=base,
            RETRY_COUNT=0,
        )
    )
    app = await auth.get_access_token("api://wrapper-users", ["api://wrapper-users/.default"])
    check(whom(app) == "app wrapper-app api://wrapper-users/.default", "the app's own token (RequestAppToken, Scopes)")
    check(claims(await auth.get_agentic_application_token(TENANT, agent))["azp"] == agent, "the agent's token")
    user = claims(await auth.get_agentic_user_token(TENANT, agent, upn, ["api://wrapper-users/.default"]))
    check(user["oid"] == oid and user["upn"] == upn, "the agent's user's token by UPN")
    await auth.close()


asyncio.run(main())
