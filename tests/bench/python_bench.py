"""Python benchmark for tests/bench/run.sh (not a test): the same nginx, certificate and URL shape
for every client, in one run.

    python_bench.py APPSETTINGS BASE_URL CLIENT_CERT CLIENT_KEY CA CALLS CONCURRENCY

1. CALLS sequential keep-alive MTLS GETs: downstream_api.Client against requests.Session.
2. CALLS GETs with CONCURRENCY tasks at once: downstream_api.AsyncClient against
   httpx.AsyncClient (HTTP/1.1, a pool of CONCURRENCY connections).

Each client makes one warm-up request (its connection and handshake) before it is timed, and every
response must be a 200. Prints `key=value` lines that run.sh reads.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, List

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bindings" / "python"))

import downstream_api as dsa  # noqa: E402
import httpx  # noqa: E402
import requests  # noqa: E402


def timed(calls: int, call: Callable[[], int]) -> float:
    """Requests per second of `calls` sequential calls after one warm-up call."""
    assert call() == 200
    started = time.perf_counter()
    for _ in range(calls):
        status = call()
        assert status == 200, status
    return calls / (time.perf_counter() - started)


async def timed_concurrently(calls: int, concurrency: int, call: Callable[[], Awaitable[int]]) -> float:
    """Requests per second of `calls` calls made by `concurrency` tasks, after one warm-up round
    (one call per task, so that every pooled connection is open)."""
    assert all(status == 200 for status in await asyncio.gather(*(call() for _ in range(concurrency))))

    async def worker(count: int) -> None:
        for _ in range(count):
            status = await call()
            assert status == 200, status

    shares: List[int] = [calls // concurrency + (1 if i < calls % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(share) for share in shares))
    return calls / (time.perf_counter() - started)


def main() -> None:
    settings, base, cert, key, ca, calls_text, concurrency_text = sys.argv[1:8]
    calls, concurrency = int(calls_text), int(concurrency_text)
    print(f"library={dsa.library_path}")

    with dsa.Client.from_file(settings) as client:
        library_rps = timed(calls, lambda: client.get("Bench", path="bench/py-dsapi").status_code)

    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
    session.cert = (cert, key)
    session.verify = ca
    requests_rps = timed(calls, lambda: session.get(f"{base}/bench/py-requests").status_code)
    session.close()

    async def concurrent() -> tuple:
        async with dsa.AsyncClient.from_file(settings, max_workers=concurrency) as async_client:

            async def ours() -> int:
                return (await async_client.get("Bench", path="bench/py-async")).status_code

            async_rps = await timed_concurrently(calls, concurrency, ours)
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(cert, key)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(verify=context, trust_env=False, limits=limits) as other:

            async def theirs() -> int:
                return (await other.get(f"{base}/bench/py-httpx")).status_code

            httpx_rps = await timed_concurrently(calls, concurrency, theirs)
        return async_rps, httpx_rps

    async_rps, httpx_rps = asyncio.run(concurrent())
    print(f"client_rps={library_rps:.1f}")
    print(f"requests_rps={requests_rps:.1f}")
    print(f"async_rps={async_rps:.1f}")
    print(f"httpx_rps={httpx_rps:.1f}")
    print(f"requests_version={requests.__version__}")
    print(f"httpx_version={httpx.__version__}")


if __name__ == "__main__":
    main()
