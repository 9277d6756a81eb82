/*
 * Tokens: the token ABI (dsapi_client_authorization_header, dsapi_client_acquire_token,
 * dsapi_string_free) against the fake Entra ID endpoint, MTLS_POP, and managed identity.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The token ABI: dsapi_client_authorization_header, dsapi_client_acquire_token, dsapi_string_free. */
void test_tokens(struct logged *log) {
    dsapi_client *client = new_client_from("bearer.json");
    char *sentinel = (char *)(uintptr_t)0x5791;
    char *header = sentinel;

    CHECK_STATUS(dsapi_client_authorization_header(NULL, "Resource", NULL, &header), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_authorization_header(client, NULL, NULL, &header), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_authorization_header(client, "Resource", NULL, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("header_out");
    CHECK_STATUS(dsapi_client_authorization_header(client, "Nope", NULL, &header), DSAPI_UNKNOWN_API);
    CHECK_STATUS(dsapi_client_authorization_header(client, "Resource", "{", &header), DSAPI_CONFIG_INVALID);
    CHECK(header == sentinel, "header_out not written on failure");

    CHECK_STATUS(dsapi_client_authorization_header(client, "Resource", NULL, &header), DSAPI_OK);
    CHECK(header != sentinel && header != NULL && strncmp(header, "Bearer ", 7) == 0 && strlen(header) > 7,
          "authorization header is \"Bearer <token>\"");
    char token_from_header[512] = "";
    if (header != sentinel && header != NULL) {
        snprintf(token_from_header, sizeof token_from_header, "%s", header + 7);
        dsapi_string_free(header);
    }

    char *token = (char *)sentinel;
    int64_t expires_on = -1;
    CHECK_STATUS(dsapi_client_acquire_token(NULL, g_scope, NULL, &token, &expires_on), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_acquire_token(client, NULL, NULL, &token, &expires_on), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_acquire_token(client, "   ", NULL, &token, &expires_on), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("scopes");
    CHECK_STATUS(dsapi_client_acquire_token(client, g_scope, NULL, NULL, &expires_on), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_acquire_token(client, g_scope, "{\"ForceRefresh\": ", &token, &expires_on),
                 DSAPI_CONFIG_INVALID);
    CHECK_STATUS(dsapi_client_acquire_token(client, g_scope, "{\"ForceRefresh\": 3}", &token, &expires_on),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("ForceRefresh");
    const char bad_scope[] = {'a', (char)0xff, '\0'};
    CHECK_STATUS(dsapi_client_acquire_token(client, bad_scope, NULL, &token, &expires_on), DSAPI_INVALID_ARGUMENT);
    CHECK(token == sentinel && expires_on == -1, "outputs not written on failure");

    CHECK_STATUS(dsapi_client_acquire_token(client, g_scope, NULL, &token, &expires_on), DSAPI_OK);
    CHECK(token != sentinel && token != NULL && strcmp(token, token_from_header) == 0,
          "acquire_token returns the cached token the header carried");
    CHECK(expires_on > 1700000000, "expires_on is a Unix time (%lld)", (long long)expires_on);
    char token_copy[512] = "";
    if (token != sentinel && token != NULL) {
        snprintf(token_copy, sizeof token_copy, "%s", token);
        dsapi_string_free(token);
    }
    token = NULL;
    CHECK_STATUS(dsapi_client_acquire_token(client, g_scope, NULL, &token, NULL), DSAPI_OK);
    CHECK(token != NULL, "expires_on_out may be NULL");
    dsapi_string_free(token);
    dsapi_string_free(NULL);
    CHECK(1, "dsapi_string_free(NULL) is a no-op");

    /* A Bearer call sends the token; an MTLS API has no authorization header. */
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Resource", NULL, NULL, 0, &response), DSAPI_OK);
    if (response) {
        char *text = body_text(response);
        CHECK(dsapi_response_status(response) == 200 && strcmp(text, g_scope) == 0,
              "Bearer call accepted by the resource (HTTP %u: %s)", (unsigned)dsapi_response_status(response), text);
        free(text);
        dsapi_response_free(response);
    }
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Resource", "{\"BaseUrl\": \"http://127.0.0.1:9/plain\"}", NULL, 0,
                                   &response),
                 DSAPI_INSECURE_URL);
    dsapi_client_free(client);

    dsapi_client *mtls = new_client_from("good.json");
    header = sentinel;
    CHECK_STATUS(dsapi_client_authorization_header(mtls, "Orders", NULL, &header), DSAPI_UNSUPPORTED);
    CHECK(header == sentinel, "no header for an MTLS API");
    dsapi_client_free(mtls);

    /* A wrong client secret: TOKEN_ACQUISITION_FAILED, and the secret appears nowhere. */
    dsapi_client *wrong = new_client_from("bearer-wrong-secret.json");
    token = sentinel;
    CHECK_STATUS(dsapi_client_acquire_token(wrong, g_scope, NULL, &token, NULL), DSAPI_TOKEN_ACQUISITION_FAILED);
    CHECK_LAST_ERROR_WITHOUT("AADSTS7000215", g_wrong_secret);
    CHECK(token == sentinel, "token_out not written on failure");
    dsapi_client_free(wrong);

    CHECK(!logged_contains(log, g_client_secret) && !logged_contains(log, g_wrong_secret),
          "no log message contains a client secret");
    if (token_copy[0]) {
        CHECK(!logged_contains(log, token_copy), "no log message contains the access token");
    }
}

/* MTLS_POP: the token is requested over mTLS with the client certificate and is bound to it; the
 * resource accepts "mtls_pop <token>" only on a connection presenting that certificate. */
void test_mtls_pop(void) {
    dsapi_client *client = new_client_from("pop.json");
    dsapi_response *response = NULL;
    if (CHECK_STATUS(dsapi_client_call(client, "Pop", NULL, NULL, 0, &response), DSAPI_OK)) {
        char *text = body_text(response);
        CHECK(dsapi_response_status(response) == 200, "MTLS_POP call: HTTP %u (%s)",
              (unsigned)dsapi_response_status(response), text);
        CHECK(strncmp(text, "mtls_pop ", 9) == 0, "the resource saw a bound mtls_pop token: %s", text);
        free(text);
        dsapi_response_free(response);
    }
    char *header = NULL;
    if (CHECK_STATUS(dsapi_client_authorization_header(client, "Pop", NULL, &header), DSAPI_OK)) {
        CHECK(strncmp(header, "mtls_pop ", 9) == 0 && strlen(header) > 9, "header is \"mtls_pop <token>\"");
        dsapi_string_free(header);
    }
    /* RequestAppToken false in an override: a configuration error naming the field. */
    CHECK_STATUS(dsapi_client_call(client, "Pop", "{\"RequestAppToken\": false}", NULL, 0, &response),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides.RequestAppToken");
    dsapi_client_free(client);
}

/* Managed identity: the program's environment points IDENTITY_ENDPOINT and IDENTITY_HEADER at a
 * fake App Service endpoint; the API's token comes from it, with no app registration at all. */
void test_managed_identity(void) {
    dsapi_client *client = new_client_from("managed-identity.json");
    dsapi_response *response = NULL;
    if (CHECK_STATUS(dsapi_client_call(client, "Vault", NULL, NULL, 0, &response), DSAPI_OK)) {
        char *text = body_text(response);
        CHECK(dsapi_response_status(response) == 200 && strcmp(text, "system api://vault") == 0,
              "managed identity call: HTTP %u (%s)", (unsigned)dsapi_response_status(response), text);
        free(text);
        dsapi_response_free(response);
    }
    /* Two resources at once: a managed identity's token is for one. */
    char *token = NULL;
    CHECK_STATUS(dsapi_client_acquire_token(client, "api://a/.default api://b/.default",
                                            "{\"ManagedIdentity\": {}}", &token, NULL),
                 DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("one resource");
    int64_t expires_on = 0;
    if (CHECK_STATUS(dsapi_client_acquire_token(client, "api://vault/.default", "{\"ManagedIdentity\": {}}",
                                                &token, &expires_on),
                     DSAPI_OK)) {
        CHECK(strncmp(token, "mi-", 3) == 0 && expires_on > 0, "a managed identity token with its expiry");
        dsapi_string_free(token);
    }
    /* App Service can select a user-assigned identity; this one does not exist. */
    CHECK_STATUS(dsapi_client_call(client, "Vault",
                                   "{\"AcquireTokenOptions\": {\"ManagedIdentity\": {\"UserAssignedClientId\": \"nobody\"}}}",
                                   NULL, 0, &response),
                 DSAPI_TOKEN_ACQUISITION_FAILED);
    CHECK_LAST_ERROR("Identity not found");
    dsapi_client_free(client);
}
