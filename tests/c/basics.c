/*
 * The basics: dsapi_version and the status names (stable codes, unknown ones), creating clients
 * from JSON and from files (every bad input refused, the output untouched on failure), and the
 * last-error protocol (size query, too small and exact buffers, cleared by the next call).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_version_and_status_names(void) {
    const char *version = dsapi_version();
    CHECK(version != NULL, "dsapi_version() is not NULL");
    if (version) {
        CHECK(strcmp(version, getenv("DSAPI_TEST_VERSION")) == 0, "dsapi_version() = \"%s\", expected \"%s\"",
              version, getenv("DSAPI_TEST_VERSION"));
        CHECK(version == dsapi_version(), "dsapi_version() returns the same static string each time");
    }

    static const struct {
        dsapi_status status;
        const char *name;
    } names[] = {
        {DSAPI_OK, "DSAPI_OK"},
        {DSAPI_INVALID_ARGUMENT, "DSAPI_INVALID_ARGUMENT"},
        {DSAPI_CONFIG_INVALID, "DSAPI_CONFIG_INVALID"},
        {DSAPI_IO_ERROR, "DSAPI_IO_ERROR"},
        {DSAPI_UNKNOWN_API, "DSAPI_UNKNOWN_API"},
        {DSAPI_CREDENTIAL_UNAVAILABLE, "DSAPI_CREDENTIAL_UNAVAILABLE"},
        {DSAPI_CERTIFICATE_REJECTED, "DSAPI_CERTIFICATE_REJECTED"},
        {DSAPI_TLS_ERROR, "DSAPI_TLS_ERROR"},
        {DSAPI_NETWORK_ERROR, "DSAPI_NETWORK_ERROR"},
        {DSAPI_TIMEOUT, "DSAPI_TIMEOUT"},
        {DSAPI_INSECURE_URL, "DSAPI_INSECURE_URL"},
        {DSAPI_PROTOCOL_ERROR, "DSAPI_PROTOCOL_ERROR"},
        {DSAPI_UNSUPPORTED, "DSAPI_UNSUPPORTED"},
        {DSAPI_NOT_FOUND, "DSAPI_NOT_FOUND"},
        {DSAPI_BUFFER_TOO_SMALL, "DSAPI_BUFFER_TOO_SMALL"},
        {DSAPI_PANIC, "DSAPI_PANIC"},
#ifdef DSAPI_TOKEN_ACQUISITION_FAILED
        {DSAPI_TOKEN_ACQUISITION_FAILED, "DSAPI_TOKEN_ACQUISITION_FAILED"},
#endif
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        /* The codes are stable: DSAPI_OK is 0 and they count up without gaps. */
        CHECK(names[i].status == (dsapi_status)i, "%s == %zu", names[i].name, i);
        const char *got = dsapi_status_str(names[i].status);
        CHECK(got != NULL && strcmp(got, names[i].name) == 0, "dsapi_status_str(%u) = \"%s\"",
              (unsigned)names[i].status, got ? got : "(null)");
    }
    /* Codes may be added after the ones this program knows: they must have a DSAPI_ name. */
    for (dsapi_status code = (dsapi_status)(sizeof names / sizeof names[0]); code < 64; code++) {
        const char *got = dsapi_status_str(code);
        CHECK(got != NULL && strncmp(got, "DSAPI_", 6) == 0, "dsapi_status_str(%u) = \"%s\"", (unsigned)code,
              got ? got : "(null)");
    }
    const dsapi_status unknown[] = {1000, 0x7fffffffu, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *got = dsapi_status_str(unknown[i]);
        CHECK(got != NULL && strcmp(got, "DSAPI_UNKNOWN_STATUS") == 0, "dsapi_status_str(%u) = \"%s\"",
              (unsigned)unknown[i], got ? got : "(null)");
    }
    CHECK(sizeof(dsapi_status) == 4, "dsapi_status is 32 bits");
}

void test_client_new(const char *good_json) {
    dsapi_client *sentinel = (dsapi_client *)(uintptr_t)0x5a5a5a5a;
    dsapi_client *client = sentinel;

    CHECK_STATUS(dsapi_client_new(NULL, &client), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("config_json");
    CHECK(client == sentinel, "client_out not written on failure (NULL config)");

    CHECK_STATUS(dsapi_client_new(good_json, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("client_out");

    const char not_utf8[] = {'{', '"', (char)0xff, (char)0xfe, '"', ':', '1', '}', '\0'};
    CHECK_STATUS(dsapi_client_new(not_utf8, &client), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("UTF-8");
    CHECK(client == sentinel, "client_out not written on failure (invalid UTF-8)");

    CHECK_STATUS(dsapi_client_new("{\"AzureAd\": {", &client), DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("not valid JSON");
    CHECK(client == sentinel, "client_out not written on failure (malformed JSON)");

    CHECK_STATUS(dsapi_client_new("[1, 2]", &client), DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("expected an object");

    CHECK_STATUS(dsapi_client_new("{\"AzureAd\": {\"ClientCredentials\": [{\"SourceType\": \"Path\", "
                                  "\"CertificateDiskPath\": 7}]}}",
                                  &client),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("AzureAd.ClientCredentials[0].CertificateDiskPath");
    CHECK(client == sentinel, "client_out not written on failure (wrong type)");

    CHECK_STATUS(dsapi_client_new("{\"DownstreamApis\": {\"Orders\": {\"BaseUrl\": \"https://127.0.0.1/\", "
                                  "\"ProtocolScheme\": \"MTLS\", \"ExtraHeaderParameters\": {\"X\": [1]}}}}",
                                  &client),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("DownstreamApis.Orders.ExtraHeaderParameters.X");

    CHECK_STATUS(dsapi_client_new("{\"DownstreamApis\": {\"Orders\": {\"ProtocolScheme\": \"MTLS\"}}}", &client),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("DownstreamApis.Orders.BaseUrl");

    CHECK_STATUS(dsapi_client_new("{\"Http\": {\"CaBundlePath\": \"/nonexistent/dsapi-ca.pem\"}}", &client),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("Http.CaBundlePath");
    CHECK(client == sentinel, "client_out not written on any failure");

    /* Success clears the previous error and writes the handle. */
    CHECK_STATUS(dsapi_client_new(good_json, &client), DSAPI_OK);
    CHECK(client != sentinel && client != NULL, "client_out written on success");
    CHECK_LAST_ERROR_EMPTY("dsapi_client_new succeeded");
    if (client != sentinel) {
        dsapi_client_free(client);
    }

    /* The input is copied: a client outlives the text it was made from. */
    char *copy = malloc(strlen(good_json) + 1);
    if (!copy) {
        abort();
    }
    strcpy(copy, good_json);
    client = NULL;
    CHECK_STATUS(dsapi_client_new(copy, &client), DSAPI_OK);
    memset(copy, 'x', strlen(copy));
    free(copy);
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    CHECK(dsapi_response_status(response) == 200, "call on a client whose JSON text was freed: HTTP %u",
          (unsigned)dsapi_response_status(response));
    dsapi_response_free(response);
    dsapi_client_free(client);

    /* from_file */
    char path[1200];
    client = sentinel;
    CHECK_STATUS(dsapi_client_new_from_file(NULL, &client), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("path");
    CHECK_STATUS(dsapi_client_new_from_file(config_path("good.json", path, sizeof path), NULL),
                 DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("client_out");
    CHECK_STATUS(dsapi_client_new_from_file(config_path("does-not-exist.json", path, sizeof path), &client),
                 DSAPI_IO_ERROR);
    CHECK_LAST_ERROR("does-not-exist.json");
    CHECK(client == sentinel, "client_out not written on failure (missing file)");
    CHECK_STATUS(dsapi_client_new_from_file(g_dir, &client), DSAPI_IO_ERROR); /* a directory */
    CHECK_STATUS(dsapi_client_new_from_file(config_path("malformed.json", path, sizeof path), &client),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("malformed.json");
    CHECK(client == sentinel, "client_out not written on failure (malformed file)");
    CHECK_STATUS(dsapi_client_new_from_file(config_path("good.json", path, sizeof path), &client), DSAPI_OK);
    CHECK(client != sentinel && client != NULL, "client from file written");
    if (client != sentinel) {
        dsapi_client_free(client);
    }

    dsapi_client_free(NULL);
    CHECK(1, "dsapi_client_free(NULL) is a no-op");
}

void test_last_error_protocol(const dsapi_client *client) {
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "NoSuchApi", NULL, NULL, 0, &response), DSAPI_UNKNOWN_API);

    size_t needed = 0;
    CHECK_STATUS(dsapi_last_error_message(NULL, 0, &needed), DSAPI_BUFFER_TOO_SMALL);
    CHECK(needed > 1, "size query writes the size needed (%zu)", needed);

    /* NULL buffer with a length also only reports the size. */
    size_t needed2 = 0;
    CHECK_STATUS(dsapi_last_error_message(NULL, 4096, &needed2), DSAPI_BUFFER_TOO_SMALL);
    CHECK(needed2 == needed, "NULL buffer with a length reports the same size");

    char *exact = malloc(needed);
    char *small = malloc(needed);
    if (!exact || !small) {
        abort();
    }
    memset(small, '#', needed);
    size_t needed3 = 0;
    CHECK_STATUS(dsapi_last_error_message(small, needed - 1, &needed3), DSAPI_BUFFER_TOO_SMALL);
    CHECK(needed3 == needed, "too-small buffer reports the size needed");
    int untouched = 1;
    for (size_t i = 0; i < needed; i++) {
        untouched &= small[i] == '#';
    }
    CHECK(untouched, "too-small buffer is not written");

    CHECK_STATUS(dsapi_last_error_message(small, 0, NULL), DSAPI_BUFFER_TOO_SMALL);

    size_t needed4 = 0;
    CHECK_STATUS(dsapi_last_error_message(exact, needed, &needed4), DSAPI_OK);
    CHECK(needed4 == needed && strlen(exact) == needed - 1, "exact buffer holds the whole message (%zu bytes)",
          strlen(exact));
    CHECK(strstr(exact, "NoSuchApi") != NULL, "message names the unknown API: \"%s\"", exact);
    CHECK(strstr(exact, "Orders") != NULL, "message lists the configured APIs: \"%s\"", exact);

    /* needed_out may be NULL; querying does not change or clear the message. */
    char big[4096];
    CHECK_STATUS(dsapi_last_error_message(big, sizeof big, NULL), DSAPI_OK);
    CHECK(strcmp(big, exact) == 0, "message unchanged after querying it several times");
    memset(big, 0, sizeof big);
    CHECK_STATUS(dsapi_last_error_message(big, sizeof big, NULL), DSAPI_OK);
    CHECK(strcmp(big, exact) == 0, "message still unchanged");

    /* Any other call clears it, even one that cannot fail. */
    CHECK_STATUS(dsapi_response_header_at(NULL, 0, NULL, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("response");
    CHECK_STATUS(dsapi_client_call(client, "orders", NULL, NULL, 0, &response), DSAPI_OK);
    size_t needed5 = 0;
    CHECK_STATUS(dsapi_last_error_message(NULL, 0, &needed5), DSAPI_BUFFER_TOO_SMALL);
    CHECK(needed5 == 1, "after a success the message is \"\" (size 1, got %zu)", needed5);
    char one[1] = {'#'};
    CHECK_STATUS(dsapi_last_error_message(one, 1, NULL), DSAPI_OK);
    CHECK(one[0] == '\0', "a 1-byte buffer receives the empty message");
    dsapi_response_free(response);
    free(exact);
    free(small);
}
