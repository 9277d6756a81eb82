"""Reference for the token benchmark: MSAL Python's cache-hit cost for an app token, against the
same fake OpenID provider on 127.0.0.1 (client secret). Prints `msal_cache_hit_median_us <value>`.

Usage: python3 msal_reference.py <oidc authority> <ca bundle> <client id> <secret> <scope>
"""

import statistics
import sys
import time

import msal
import requests


def main() -> None:
    authority, ca_bundle, client_id, secret, scope = sys.argv[1:6]
    # This machine sets REQUESTS_CA_BUNDLE, which requests prefers over `verify` unless the
    # session ignores the environment.
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        oidc_authority=authority,
        http_client=session,
    )
    first = app.acquire_token_for_client(scopes=[scope])
    if "access_token" not in first:
        raise SystemExit(f"MSAL could not get a token: {first}")
    batch, batches = 200, 50
    per_call = []
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(batch):
            result = app.acquire_token_for_client(scopes=[scope])
        per_call.append((time.perf_counter() - started) / batch * 1e6)
        assert result["token_source"] == "cache", result.get("token_source")
    print(f"msal_cache_hit_median_us {statistics.median(per_call):.2f}")


if __name__ == "__main__":
    main()
