/*
 * Credentials: loading failures (a missing file, a wrong PFX password that appears nowhere),
 * dsapi_client_describe_credentials, dsapi_client_metrics, and pushed credentials (dsapi_client_set_credential,
 * dsapi_client_reload_credentials).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_credential_failures(struct logged *log) {
    dsapi_response *sentinel = (dsapi_response *)(uintptr_t)0x7c7c7c7c;
    dsapi_response *response = sentinel;

    /* A certificate file that does not exist: reported by the first call, naming the entry. */
    dsapi_client *missing = new_client_from("missing-cert.json");
    struct observed observed;
    observed_init(&observed, NULL);
    CHECK_STATUS(dsapi_client_add_observer(missing, on_event, &observed), DSAPI_OK);
    CHECK_STATUS(dsapi_client_call(missing, "Orders", NULL, NULL, 0, &response), DSAPI_CREDENTIAL_UNAVAILABLE);
    CHECK_LAST_ERROR("ClientCredentials[0]");
    CHECK_LAST_ERROR("no-such-client.pem");
    CHECK(response == sentinel, "response_out not written on a credential failure");
    /* Failures are not cached: the second call reports the same. */
    CHECK_STATUS(dsapi_client_call(missing, "Orders", NULL, NULL, 0, &response), DSAPI_CREDENTIAL_UNAVAILABLE);
    CHECK(atomic_load(&observed.selected) + atomic_load(&observed.used) + atomic_load(&observed.bad_events) == 0,
          "no observer event without a certificate");
    dsapi_client_free(missing);

    /* The right PFX password works (against the server trusting the fixture CA)... */
    dsapi_client *pfx = new_client_from("pfx-good.json");
    response = NULL;
    CHECK_STATUS(dsapi_client_call(pfx, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    if (response) {
        char *text = body_text(response);
        char expected[300];
        snprintf(expected, sizeof expected, "cn=%s\n", g_pfx_cn);
        CHECK(dsapi_response_status(response) == 200 && strstr(text, expected) != NULL,
              "AES PFX with the right password presented (%s)", expected);
        free(text);
        dsapi_response_free(response);
    }
    dsapi_client_free(pfx);

    /* ...a wrong one fails, and neither the message nor any log line contains it. */
    int leaked_before = atomic_load(&log->leaked_secret);
    dsapi_client *wrong = new_client_from("pfx-wrong-password.json");
    response = sentinel;
    CHECK_STATUS(dsapi_client_call(wrong, "Orders", NULL, NULL, 0, &response), DSAPI_CREDENTIAL_UNAVAILABLE);
    CHECK_LAST_ERROR_WITHOUT("ClientCredentials[0]", g_wrong_password);
    CHECK_LAST_ERROR("CertificatePassword");
    CHECK(response == sentinel, "response_out not written (wrong password)");
    CHECK(atomic_load(&log->leaked_secret) == leaked_before, "no log message contains the wrong password");
    dsapi_client_free(wrong);
    pthread_mutex_destroy(&observed.lock);
}

/* dsapi_client_describe_credentials: the JSON of every entry, what is selected, no password. */
void test_describe_credentials(void) {
    char *sentinel = (char *)(uintptr_t)0x5793;
    char *json = sentinel;
    dsapi_client *client = new_client_from("good.json");
    CHECK_STATUS(dsapi_client_describe_credentials(NULL, &json), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_describe_credentials(client, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("json_out");
    CHECK(json == sentinel, "json_out not written on failure");

    CHECK_STATUS(dsapi_client_describe_credentials(client, &json), DSAPI_OK);
    if (json != sentinel && json != NULL) {
        char wanted[200];
        snprintf(wanted, sizeof wanted, "\"thumbprint\":\"%s\"", g_thumbprint);
        CHECK(strstr(json, wanted) != NULL, "the entry's SHA-1 thumbprint: %s", json);
        CHECK(json[0] == '[' && strstr(json, "\"loaded\":true") != NULL, "a JSON array, entry loaded: %s", json);
        CHECK(strstr(json, "\"selectedFor\":[]") != NULL, "nothing selected before a call: %s", json);
        dsapi_string_free(json);
    }
    dsapi_response *response = NULL;
    if (CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK)) {
        dsapi_response_free(response);
    }
    json = sentinel;
    CHECK_STATUS(dsapi_client_describe_credentials(client, &json), DSAPI_OK);
    if (json != sentinel && json != NULL) {
        CHECK(strstr(json, "\"selectedFor\":[\"MTLS\"]") != NULL, "selected for MTLS after the call: %s", json);
        dsapi_string_free(json);
    }
    dsapi_client_free(client);

    /* An entry that cannot load is described with its reason, not an error; no password in it. */
    client = new_client_from("pfx-wrong-password.json");
    json = sentinel;
    CHECK_STATUS(dsapi_client_describe_credentials(client, &json), DSAPI_OK);
    if (json != sentinel && json != NULL) {
        CHECK(strstr(json, "\"loaded\":false") != NULL && strstr(json, "\"error\":\"") != NULL,
              "the failed entry and its reason: %s", json);
        CHECK(strstr(json, "CertificatePassword") != NULL, "the reason names the password field: %s", json);
        CHECK(strstr(json, g_wrong_password) == NULL, "the password itself is not in the description");
        dsapi_string_free(json);
    }
    dsapi_client_free(client);
}

/* dsapi_client_metrics: the call counted under its API, the selected certificate's days left. */
void test_metrics(void) {
    char *sentinel = (char *)(uintptr_t)0x5794;
    char *json = sentinel;
    dsapi_client *client = new_client_from("good.json");
    CHECK_STATUS(dsapi_client_metrics(NULL, &json), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_metrics(client, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("json_out");
    CHECK(json == sentinel, "json_out not written on failure");
    dsapi_response *response = NULL;
    if (CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK)) {
        dsapi_response_free(response);
    }
    CHECK_STATUS(dsapi_client_metrics(client, &json), DSAPI_OK);
    if (json != sentinel && json != NULL) {
        char wanted[200];
        snprintf(wanted, sizeof wanted, "\"thumbprint\":\"%s\"", g_thumbprint);
        CHECK(strstr(json, wanted) != NULL, "the selected certificate: %s", json);
        CHECK(strstr(json, "\"daysLeft\":") != NULL, "its days left: %s", json);
        /* Earlier tests called Orders too: the count is theirs and this one's. */
        CHECK(strstr(json, "{\"api\":\"Orders\",\"count\":") != NULL &&
                  strstr(json, "\"outcome\":\"response\",\"protocol\":\"MTLS\"}") != NULL,
              "Orders' MTLS calls answered: %s", json);
        CHECK(strstr(json, "\"tlsHandshakes\":{\"full\":") != NULL, "handshakes: %s", json);
        dsapi_string_free(json);
    }
    dsapi_client_free(client);
}

/* Pushed credentials: dsapi_client_set_credential (a PEM in memory, a client secret) and
 * dsapi_client_reload_credentials; a credential that does not load keeps the old one. */
void test_pushed_credentials(void) {
    char path[4096];
    dsapi_client *client = new_client_from("good.json");
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_set_credential(NULL, 0, (const uint8_t *)"x", 1, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_set_credential(client, 0, NULL, 1, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_set_credential(client, 0, (const uint8_t *)"x", 0, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_set_credential(client, 7, (const uint8_t *)"x", 1, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("index 7");
    const char *junk = "not a certificate";
    CHECK_STATUS(dsapi_client_set_credential(client, 0, (const uint8_t *)junk, strlen(junk), NULL),
                 DSAPI_CREDENTIAL_UNAVAILABLE);
    CHECK_LAST_ERROR("ClientCredentials[0]");
    /* An encrypted key with a wrong password: refused, the password not in the message. */
    const char *wrong_password = getenv("DSAPI_TEST_WRONG_PASSWORD");
    char *encrypted = read_file(config_path("encrypted.pem", path, sizeof path));
    CHECK_STATUS(dsapi_client_set_credential(client, 0, (const uint8_t *)encrypted, strlen(encrypted), wrong_password),
                 DSAPI_CREDENTIAL_UNAVAILABLE);
    CHECK_LAST_ERROR_WITHOUT("wrong CertificatePassword", wrong_password);
    free(encrypted);
    /* The old certificate is still in use. */
    if (CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK)) {
        dsapi_response_free(response);
    }
    char *pem = read_file(config_path("pushed.pem", path, sizeof path));
    CHECK_STATUS(dsapi_client_set_credential(client, 0, (const uint8_t *)pem, strlen(pem), NULL), DSAPI_OK);
    free(pem);
    if (CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK)) {
        char *text = body_text(response);
        CHECK(dsapi_response_status(response) == 200 && strstr(text, "cn=pushed-client") != NULL,
              "a call with the pushed certificate: %s", text);
        free(text);
        dsapi_response_free(response);
    }
    CHECK_STATUS(dsapi_client_reload_credentials(NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_reload_credentials(client), DSAPI_OK);
    dsapi_client_free(client);

    /* A ClientSecret entry takes the secret: the wrong-secret client, given the right one, gets
     * its token (for a scope of its own, which the server-side checks count apart). */
    dsapi_client *bearer = new_client_from("bearer-wrong-secret.json");
    const char *right = getenv("DSAPI_TEST_CLIENT_SECRET");
    char *token = NULL;
    CHECK_STATUS(dsapi_client_set_credential(bearer, 0, (const uint8_t *)right, strlen(right), NULL), DSAPI_OK);
    if (CHECK_STATUS(dsapi_client_acquire_token(bearer, "api://pushed/.default", NULL, &token, NULL), DSAPI_OK)) {
        dsapi_string_free(token);
    }
    dsapi_client_free(bearer);
}
