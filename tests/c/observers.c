/*
 * Credential observers: the events of a call (SELECTED, SUCCESSFULLY_USED, DESELECTED on a 401 and
 * the reload), several observers, and observers calling back into the library.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_observer(void) {
    dsapi_client *client = new_client_from("good.json");
    struct observed observed;
    observed_init(&observed, g_thumbprint);

    CHECK_STATUS(dsapi_client_add_observer(client, NULL, &observed), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("callback");
    CHECK_STATUS(dsapi_client_add_observer(NULL, on_event, &observed), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("client");
    CHECK_STATUS(dsapi_client_add_observer(client, on_event, &observed), DSAPI_OK);
    CHECK_LAST_ERROR_EMPTY("dsapi_client_add_observer succeeded");

    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    CHECK(atomic_load(&observed.bad_events) == 0, "every event has its strings and the expected thumbprint");
    pthread_mutex_lock(&observed.lock);
    CHECK(observed.sequence_len == 2 && observed.sequence[0] == DSAPI_EVENT_SELECTED &&
              observed.sequence[1] == DSAPI_EVENT_SUCCESSFULLY_USED,
          "first call: SELECTED then SUCCESSFULLY_USED (%d events)", observed.sequence_len);
    char expected_subject[300];
    snprintf(expected_subject, sizeof expected_subject, "CN=%s", g_client_cn);
    CHECK(strstr(observed.last_subject, expected_subject) != NULL, "event subject \"%s\"", observed.last_subject);
    CHECK(strcmp(observed.last_source, "ClientCredentials[0] (Path)") == 0, "event source \"%s\"",
          observed.last_source);
    CHECK(strcmp(observed.last_protocol, "MTLS") == 0, "event protocol \"%s\"", observed.last_protocol);
    char expected_url[600];
    snprintf(expected_url, sizeof expected_url, "%s/orders", g_base_url);
    CHECK(strcmp(observed.last_api_url, expected_url) == 0, "event api_url \"%s\"", observed.last_api_url);
    pthread_mutex_unlock(&observed.lock);

    /* Selected fires when the selection changes, not on every call. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    CHECK(atomic_load(&observed.selected) == 1 && atomic_load(&observed.used) == 2,
          "second call: only SUCCESSFULLY_USED (selected %d, used %d)", atomic_load(&observed.selected),
          atomic_load(&observed.used));

    /* A second observer on the same client sees later events with its own user_data. */
    struct observed second;
    observed_init(&second, g_thumbprint);
    CHECK_STATUS(dsapi_client_add_observer(client, on_event, &second), DSAPI_OK);
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    CHECK(atomic_load(&second.used) == 1 && atomic_load(&observed.used) == 3, "both observers notified");

    /* HTTP 401 on an MTLS call is a certificate rejection: DESELECTED (with the reason), reload,
     * SELECTED, one retry; the second 401 is returned as the response. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"status/401\"}", NULL, 0, &response),
                 DSAPI_OK);
    CHECK(dsapi_response_status(response) == 401, "the retried 401 is returned as a response (HTTP %u)",
          (unsigned)dsapi_response_status(response));
    dsapi_response_free(response);
    CHECK(atomic_load(&observed.deselected) == 1 && atomic_load(&observed.selected) == 2,
          "401: DESELECTED once, then SELECTED again (deselected %d, selected %d)",
          atomic_load(&observed.deselected), atomic_load(&observed.selected));
    pthread_mutex_lock(&observed.lock);
    CHECK(strstr(observed.last_error, "401") != NULL, "DESELECTED error names the reason: \"%s\"",
          observed.last_error);
    CHECK(observed.sequence_len >= 6 && observed.sequence[4] == DSAPI_EVENT_DESELECTED &&
              observed.sequence[5] == DSAPI_EVENT_SELECTED,
          "event order after the 401: DESELECTED, SELECTED");
    pthread_mutex_unlock(&observed.lock);
    CHECK(atomic_load(&observed.bad_events) == 0 && atomic_load(&second.bad_events) == 0,
          "no malformed events");

    /* The reloaded certificate keeps working. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    CHECK(dsapi_response_status(response) == 200, "call after the rotation: HTTP 200");
    dsapi_response_free(response);

    dsapi_client_free(client);
    pthread_mutex_destroy(&observed.lock);
    pthread_mutex_destroy(&second.lock);
}

/* Observers that call back into the library from inside the callback. */
struct reentrant {
    const dsapi_client *client;
    atomic_int fired;
    dsapi_status nested_ok;
    dsapi_status nested_failure;
    uint16_t nested_http;
};

static void on_event_reenter(void *user_data, const dsapi_credential_event *event) {
    struct reentrant *r = user_data;
    if (event->kind != DSAPI_EVENT_SUCCESSFULLY_USED || atomic_exchange(&r->fired, 1) != 0) {
        return;
    }
    dsapi_response *response = NULL;
    r->nested_ok = dsapi_client_call(r->client, "Orders", "{\"RelativePath\": \"reentrant\"}", NULL, 0, &response);
    r->nested_http = dsapi_response_status(response);
    dsapi_response_free(response);
    response = NULL;
    r->nested_failure = dsapi_client_call(r->client, "no-such-api-in-callback", NULL, NULL, 0, &response);
}

void test_reentrancy(void) {
    dsapi_client *client = new_client_from("good.json");
    struct reentrant r = {.client = client, .nested_ok = 99, .nested_failure = 99};
    atomic_init(&r.fired, 0);
    CHECK_STATUS(dsapi_client_add_observer(client, on_event_reenter, &r), DSAPI_OK);
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    CHECK(atomic_load(&r.fired) == 1, "the observer ran");
    CHECK(r.nested_ok == DSAPI_OK && r.nested_http == 200, "a call from inside an observer works (%s, HTTP %u)",
          dsapi_status_str(r.nested_ok), (unsigned)r.nested_http);
    CHECK(r.nested_failure == DSAPI_UNKNOWN_API, "a failing call from inside an observer reports its error");
    char *message = last_error();
    CHECK(message[0] == '\0', "a successful call leaves no last error, even when its observer made a failing call "
          "(got \"%s\")", message);
    free(message);
    dsapi_client_free(client);
}
