"""A typed program using the package as a user would; `mypy --strict` checks it together with the
package (bindings/run-tests.sh). It is not run: it only has to type-check."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Dict, List

import downstream_api as dsa


def fetch_order(client: dsa.Client, order_id: int) -> Dict[str, Any]:
    response: dsa.Response = client.call(
        "Orders",
        method="POST",
        path=f"orders/{order_id}",
        params={"q": "1"},
        headers={"X-Trace": "t"},
        json={"id": order_id},
        timeout=10.0,
    )
    response.raise_for_status()
    content_type: str = response.headers["Content-Type"]
    body: Dict[str, Any] = response.json()
    body["content_type"] = content_type
    return body


def token_expiry(client: dsa.Client) -> datetime:
    token: dsa.AccessToken = client.acquire_token(["api://orders/.default"])
    return token.expires_on


def health(client: dsa.Client) -> List[str]:
    return [str(entry["thumbprint"]) for entry in client.describe_credentials() if entry["loaded"]]


def on_event(event: dsa.CredentialEvent) -> None:
    print(event.kind, event.thumbprint, event.error)


def run(path: str) -> None:
    try:
        with dsa.Client.from_file(path) as client:
            client.on_credential_event(on_event)
            fetch_order(client, 42)
            client.get("Orders").raise_for_status()
            header: str = client.authorization_header("Graph")
            print(header[:6], token_expiry(client), health(client))
    except dsa.HTTPStatusError as error:
        print(error.response.status_code, error.status)
    except dsa.Error as error:
        print(error.status, error.message)


def on_behalf_of(client: dsa.Client, incoming_token: str, agent_id: str) -> str:
    try:
        me: dsa.Response = client.get("Graph", user_token=incoming_token)
        header: str = client.authorization_header("Graph", user_token=incoming_token)
        agent: dsa.AgentClient = client.for_agent(agent_id, username="agent.user@contoso.com")
        print(me.status_code, header[:6], agent.get("Graph").text)
        return client.for_agent(agent_id, user_id="oid").authorization_header("Graph")
    except dsa.UserInteractionRequiredError as error:
        claims: str = error.claims
        return claims


async def as_agent(client: dsa.AsyncClient, incoming_token: str, agent_id: str) -> int:
    view: dsa.AsyncAgentClient = client.for_agent(agent_id)
    response = await view.post("Graph", json={"x": 1})
    header = await client.authorization_header("Graph", user_token=incoming_token)
    return response.status_code + len(header)


async def run_async(path: str) -> List[int]:
    async with dsa.AsyncClient.from_file(path) as client:
        responses = await asyncio.gather(*(client.get("Orders", path=f"orders/{n}") for n in range(16)))
        return [r.status_code for r in responses]
