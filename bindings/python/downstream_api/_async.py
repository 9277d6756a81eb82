"""``AsyncClient``: the same client for asyncio. Each call runs on a thread pool the client owns
(the native call releases the GIL), so the event loop never blocks; cancelling the awaiting task
returns at once, and the call still in flight is bounded by its timeout."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar, Union

from ._client import AgentClient, Client, ClientClosedError, JsonObject, agent_options
from ._events import AccessToken, CredentialEvent
from ._response import Response

T = TypeVar("T")


class AsyncClient:
    """An asyncio client over one native client::

        async with AsyncClient.from_file("appsettings.json") as client:
            response = await client.call("Orders", path="orders/42")

    Methods take the arguments of :class:`Client`'s. ``max_workers`` bounds the calls in flight
    at once (more wait for a thread); the default, 32, suits a pool of kept-alive connections.
    """

    def __init__(
        self,
        config_json: Optional[JsonObject] = None,
        *,
        path: Optional[Any] = None,
        max_workers: int = 32,
    ) -> None:
        self._client = Client(config_json, path=path)
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="downstream_api"
        )

    @classmethod
    def from_json(cls, config_json: JsonObject, *, max_workers: int = 32) -> "AsyncClient":
        return cls(config_json, max_workers=max_workers)

    @classmethod
    def from_file(cls, path: Any, *, max_workers: int = 32) -> "AsyncClient":
        return cls(path=path, max_workers=max_workers)

    @property
    def sync(self) -> Client:
        """The underlying synchronous :class:`Client` (shared: closing either closes both)."""
        return self._client

    async def _run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._client.closed:
            raise ClientClosedError("the downstream_api AsyncClient is closed")
        future = self._executor.submit(functools.partial(function, *args, **kwargs))
        return await asyncio.wrap_future(future)

    async def call(self, api_name: str, body: Any = None, **kwargs: Any) -> Response:
        """:meth:`Client.call`, awaited (``user_token=``: on behalf of a user)."""
        return await self._run(self._client.call, api_name, body, **kwargs)

    async def get(self, api_name: str, **kwargs: Any) -> Response:
        return await self._run(self._client.get, api_name, **kwargs)

    async def post(self, api_name: str, **kwargs: Any) -> Response:
        return await self._run(self._client.post, api_name, **kwargs)

    async def put(self, api_name: str, **kwargs: Any) -> Response:
        return await self._run(self._client.put, api_name, **kwargs)

    async def patch(self, api_name: str, **kwargs: Any) -> Response:
        return await self._run(self._client.patch, api_name, **kwargs)

    async def delete(self, api_name: str, **kwargs: Any) -> Response:
        return await self._run(self._client.delete, api_name, **kwargs)

    async def authorization_header(
        self,
        api_name: str,
        overrides: Optional[JsonObject] = None,
        *,
        user_token: Optional[str] = None,
    ) -> str:
        """:meth:`Client.authorization_header`, awaited (``user_token``: on behalf of a user)."""
        return await self._run(
            self._client.authorization_header, api_name, overrides, user_token=user_token
        )

    def for_agent(
        self, app_id: str, username: Optional[str] = None, user_id: Optional[str] = None
    ) -> "AsyncAgentClient":
        """As :meth:`Client.for_agent`: a view whose calls, awaited, are made as the agent
        identity ``app_id``, or as its user (``username``, a UPN, or ``user_id``, an object id)."""
        agent = AgentClient(self._client, agent_options(app_id, username, user_id))
        return AsyncAgentClient(self, agent)

    async def acquire_token(
        self, scopes: Union[str, Sequence[str]], options: Optional[JsonObject] = None
    ) -> AccessToken:
        return await self._run(self._client.acquire_token, scopes, options)

    async def validate_token(self, token: str) -> Dict[str, Any]:
        """:meth:`Client.validate_token` on a worker thread (the issuer's keys may be read)."""
        return await self._run(self._client.validate_token, token)

    async def describe_credentials(self) -> List[Dict[str, Any]]:
        return await self._run(self._client.describe_credentials)

    async def metrics(self) -> Dict[str, Any]:
        return await self._run(self._client.metrics)

    def on_credential_event(self, observer: Callable[[CredentialEvent], None]) -> None:
        """As :meth:`Client.on_credential_event`: the observer runs on the pool's threads."""
        self._client.on_credential_event(observer)

    async def aclose(self) -> None:
        """Closes the client; calls in flight finish on their threads first."""
        self.close()

    def close(self) -> None:
        self._client.close()
        self._executor.shutdown(wait=False)

    @property
    def closed(self) -> bool:
        return self._client.closed

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<downstream_api.AsyncClient {'closed' if self.closed else 'open'}>"


class AsyncAgentClient:
    """An :class:`AsyncClient` calling as an Entra agent identity or its user (made by
    :meth:`AsyncClient.for_agent`): :class:`AgentClient`'s methods, awaited on the client's pool."""

    def __init__(self, client: AsyncClient, agent: AgentClient) -> None:
        self._client = client
        self._agent = agent

    @property
    def sync(self) -> AgentClient:
        """The synchronous view over the same client."""
        return self._agent

    async def call(self, api_name: str, body: Any = None, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.call, api_name, body, **kwargs)

    async def get(self, api_name: str, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.get, api_name, **kwargs)

    async def post(self, api_name: str, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.post, api_name, **kwargs)

    async def put(self, api_name: str, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.put, api_name, **kwargs)

    async def patch(self, api_name: str, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.patch, api_name, **kwargs)

    async def delete(self, api_name: str, **kwargs: Any) -> Response:
        return await self._client._run(self._agent.delete, api_name, **kwargs)

    async def authorization_header(
        self,
        api_name: str,
        overrides: Optional[JsonObject] = None,
        *,
        user_token: Optional[str] = None,
    ) -> str:
        return await self._client._run(
            self._agent.authorization_header, api_name, overrides, user_token=user_token
        )

    def __repr__(self) -> str:
        return f"<downstream_api.AsyncAgentClient {self._agent.agent_options['AgentIdentity']}>"
