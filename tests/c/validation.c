/*
 * Validation: dsapi_client_validate_token on the tokens of a web API's callers, minted by the fake
 * Entra ID issuer (user-token.txt, user-token-expired.txt, user-token-other-audience.txt), with
 * bearer.json, whose app the tokens are for.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The token in a file the runner wrote, without its line end. */
static char *token_from(const char *name) {
    char path[1200];
    char *token = read_file(config_path(name, path, sizeof path));
    token[strcspn(token, "\r\n")] = '\0';
    return token;
}

void test_validate_token(void) {
    dsapi_client *client = new_client_from("bearer.json");
    char *good = token_from("user-token.txt");
    char *expired = token_from("user-token-expired.txt");
    char *other_audience = token_from("user-token-other-audience.txt");
    char *sentinel = (char *)(uintptr_t)0x5791;
    char *claims = sentinel;

    CHECK_STATUS(dsapi_client_validate_token(NULL, good, &claims), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_validate_token(client, NULL, &claims), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("token");
    CHECK_STATUS(dsapi_client_validate_token(client, good, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("claims_json_out");
    const char not_utf8[] = {'a', (char)0xff, '\0'};
    CHECK_STATUS(dsapi_client_validate_token(client, not_utf8, &claims), DSAPI_INVALID_ARGUMENT);
    CHECK(claims == sentinel, "claims_json_out not written on failure");

    if (CHECK_STATUS(dsapi_client_validate_token(client, good, &claims), DSAPI_OK)) {
        CHECK(claims != sentinel && claims != NULL && claims[0] == '{' &&
                  strstr(claims, "\"oid\":\"validated-oid\"") != NULL,
              "the claims come back as JSON: %s", claims != sentinel && claims ? claims : "(none)");
        dsapi_string_free(claims);
    }
    /* Kept keys: a second validation is as good. */
    claims = NULL;
    CHECK_STATUS(dsapi_client_validate_token(client, good, &claims), DSAPI_OK);
    dsapi_string_free(claims);

    claims = sentinel;
    CHECK_STATUS(dsapi_client_validate_token(client, expired, &claims), DSAPI_TOKEN_INVALID);
    CHECK_LAST_ERROR_WITHOUT("expired at", expired);
    CHECK_STATUS(dsapi_client_validate_token(client, other_audience, &claims), DSAPI_TOKEN_INVALID);
    CHECK_LAST_ERROR_WITHOUT("audience 'api://someone-else' not accepted", other_audience);
    CHECK_STATUS(dsapi_client_validate_token(client, "not.a-token", &claims), DSAPI_TOKEN_INVALID);
    CHECK_LAST_ERROR("malformed token");
    CHECK(claims == sentinel, "claims_json_out not written on a refusal");
    CHECK(strcmp(dsapi_status_str(DSAPI_TOKEN_INVALID), "DSAPI_TOKEN_INVALID") == 0, "DSAPI_TOKEN_INVALID's name");

    /* An MTLS-only configuration has no authority to read keys from. */
    dsapi_client *mtls = new_client_from("good.json");
    CHECK_STATUS(dsapi_client_validate_token(mtls, good, &claims), DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("AzureAd.Instance");
    dsapi_client_free(mtls);

    free(good);
    free(expired);
    free(other_audience);
    dsapi_client_free(client);
}
