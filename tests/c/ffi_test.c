/*
 * Exercises the whole C ABI of libdownstream_api from C, meant to run under AddressSanitizer +
 * UndefinedBehaviorSanitizer (with leak detection) or valgrind. Driven by tests/c_abi.rs, which
 * starts the test servers on 127.0.0.1 (mTLS APIs, a fake Entra ID token endpoint and a Bearer
 * resource), writes the configuration files and checks what the servers saw afterwards.
 *
 * Inputs (environment):
 *   DSAPI_TEST_DIR            directory holding the configuration files written by the runner:
 *                             good.json, pfx-good.json, pfx-wrong-password.json,
 *                             missing-cert.json, malformed.json, not-utf8.json, untrusted.json,
 *                             rejected.json, small-limit.json, timeout.json, bearer.json,
 *                             bearer-wrong-secret.json, pop.json, managed-identity.json,
 *                             pushed.pem and encrypted.pem to push as credentials, and the
 *                             user tokens to validate: user-token.txt,
 *                             user-token-expired.txt, user-token-other-audience.txt
 *   DSAPI_TEST_BASE_URL       BaseUrl of the "Orders" API in good.json (https://127.0.0.1:PORT/api)
 *   DSAPI_TEST_CLIENT_CN      CN of the client certificate of good.json
 *   DSAPI_TEST_THUMBPRINT     its SHA-1 thumbprint, upper-case hex
 *   DSAPI_TEST_PFX_CN         CN of the certificate inside the PFX fixture
 *   DSAPI_TEST_WRONG_PASSWORD the wrong CertificatePassword written into pfx-wrong-password.json
 *   DSAPI_TEST_VERSION        expected dsapi_version()
 *   DSAPI_TEST_THREADS        threads sharing one client in the multi-threaded part
 *   DSAPI_TEST_CALLS          calls per thread
 *   DSAPI_TEST_CLOSED_PORT    a 127.0.0.1 port nothing listens on
 *   DSAPI_TEST_CLIENT_SECRET  the ClientSecret of bearer.json (must never be logged)
 *   DSAPI_TEST_WRONG_SECRET   the ClientSecret of bearer-wrong-secret.json (idem)
 *   DSAPI_TEST_SCOPE          the scope of the "Resource" Bearer API in bearer.json
 *
 * Prints one line per check ("ok" / "FAIL"; worker threads print failures only) and ends with
 * "ffi_test: N passed, M failed". Exits 0 only when M is 0. "NOTE" lines report deviations from
 * the header's wording that are not counted as failures (the runner echoes them).
 *
 * The checks live in one file per area, linked into this one program with common.c (the CHECK
 * macros, the inputs, the observer and log recorders; declared in common.h):
 *   basics.c       version, status names, creating clients, the last-error protocol
 *   calls.c        responses, overrides, bad inputs, bodies, error statuses, API options
 *   log.c          the log callback
 *   observers.c    credential observers, re-entrant observers
 *   credentials.c  loading failures, credential descriptions, pushed credentials
 *   tokens.c       tokens, MTLS_POP, managed identity
 *   validation.c   validating the access tokens a web API receives
 *   threads.c      one client, many threads
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
    /* Line-buffered even into a pipe: a sanitizer that ends the process must not eat output. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    atomic_init(&g_passed, 0);
    atomic_init(&g_failed, 0);
    snprintf(g_dir, sizeof g_dir, "%s", need_env("DSAPI_TEST_DIR"));
    g_base_url = need_env("DSAPI_TEST_BASE_URL");
    g_client_cn = need_env("DSAPI_TEST_CLIENT_CN");
    g_thumbprint = need_env("DSAPI_TEST_THUMBPRINT");
    g_pfx_cn = need_env("DSAPI_TEST_PFX_CN");
    g_wrong_password = need_env("DSAPI_TEST_WRONG_PASSWORD");
    need_env("DSAPI_TEST_VERSION");
    g_closed_port = need_env("DSAPI_TEST_CLOSED_PORT");
    g_client_secret = need_env("DSAPI_TEST_CLIENT_SECRET");
    g_wrong_secret = need_env("DSAPI_TEST_WRONG_SECRET");
    g_scope = need_env("DSAPI_TEST_SCOPE");
    int threads = atoi(need_env("DSAPI_TEST_THREADS"));
    int calls = atoi(need_env("DSAPI_TEST_CALLS"));
    if (threads < 1 || calls < 1) {
        fprintf(stderr, "ffi_test: DSAPI_TEST_THREADS and DSAPI_TEST_CALLS must be positive\n");
        return 2;
    }
    snprintf(g_expected_hello, sizeof g_expected_hello, "cn=%s\n", g_client_cn);

    char path[1200];
    char *good_json = read_file(config_path("good.json", path, sizeof path));

    /* Collects every log message of the run; none may contain the wrong password. */
    static struct logged debug_log;
    logged_init(&debug_log, DSAPI_LOG_DEBUG, g_wrong_password);

    printf("== version and status names\n");
    test_version_and_status_names();
    printf("== dsapi_client_new / dsapi_client_new_from_file\n");
    test_client_new(good_json);

    dsapi_client *client = NULL;
    if (!CHECK_STATUS(dsapi_client_new(good_json, &client), DSAPI_OK)) {
        return 3;
    }
    printf("== dsapi_last_error_message\n");
    test_last_error_protocol(client);
    printf("== responses\n");
    test_response_accessors(client);
    printf("== per-call overrides\n");
    test_overrides(client);
    printf("== bad call inputs\n");
    test_bad_call_inputs(client);
    printf("== bodies and request validation\n");
    test_bodies_and_request_validation(client);
    dsapi_client_free(client);

    printf("== log callback\n");
    test_log_callback(&debug_log);
    printf("== credential failures\n");
    test_credential_failures(&debug_log);
    printf("== observers\n");
    test_observer();
    test_reentrancy();
    printf("== error statuses\n");
    test_error_statuses();
    printf("== tokens\n");
    test_tokens(&debug_log);
    printf("== validating tokens\n");
    test_validate_token();
    printf("== credential descriptions\n");
    test_describe_credentials();
    printf("== metrics\n");
    test_metrics();
    printf("== API options\n");
    test_api_options();
    printf("== MTLS_POP\n");
    test_mtls_pop();
    test_managed_identity();
    test_pushed_credentials();
    printf("== %d threads x %d calls on one client\n", threads, calls);
    test_threads(threads, calls, &debug_log);
    printf("== removing the log callback\n");
    test_log_removed(&debug_log);
    CHECK(atomic_load(&debug_log.leaked_secret) == 0, "no log message of the whole run contained the wrong password");
    printf("(log callback received %d messages in total)\n", atomic_load(&debug_log.count));
    logged_destroy(&debug_log);

    free(good_json);
    int passed = atomic_load(&g_passed);
    int failed = atomic_load(&g_failed);
    printf("ffi_test: %d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}
