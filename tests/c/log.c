/*
 * The log callback: levels refused and delivered, a replaced callback receiving nothing more, a
 * refused change keeping the installed one, and removing it.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_log_callback(struct logged *debug_log) {
    /* Invalid levels are refused. */
    struct logged quiet;
    logged_init(&quiet, DSAPI_LOG_ERROR, NULL);
    CHECK_STATUS(dsapi_set_log_callback(on_log, &quiet, 0), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("max_level");
    CHECK_STATUS(dsapi_set_log_callback(on_log, &quiet, 5), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_set_log_callback(on_log, &quiet, 0xffffffffu), DSAPI_INVALID_ARGUMENT);

    /* At ERROR, a successful first call (which logs its selection at INFO and DEBUG) delivers
     * nothing. */
    CHECK_STATUS(dsapi_set_log_callback(on_log, &quiet, DSAPI_LOG_ERROR), DSAPI_OK);
    dsapi_client *client = new_client_from("good.json");
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    dsapi_client_free(client);
    CHECK(atomic_load(&quiet.out_of_range) == 0, "nothing above the installed level is delivered");

    /* At DEBUG (replacing the previous callback) the same delivers DEBUG messages. */
    int quiet_before = atomic_load(&quiet.count);
    CHECK_STATUS(dsapi_set_log_callback(on_log, debug_log, DSAPI_LOG_DEBUG), DSAPI_OK);
    client = new_client_from("good.json");
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    dsapi_client_free(client);
    CHECK(atomic_load(&debug_log->per_level[DSAPI_LOG_DEBUG]) >= 1, "received at least one DEBUG message (%d)",
          atomic_load(&debug_log->per_level[DSAPI_LOG_DEBUG]));
    CHECK(atomic_load(&debug_log->per_level[DSAPI_LOG_INFO]) >= 1, "received at least one INFO message");
    CHECK(atomic_load(&quiet.count) == quiet_before, "the replaced callback receives nothing more");
    pthread_mutex_lock(&debug_log->lock);
    CHECK(debug_log->last_message[0] != '\0', "last log message: \"%s\"", debug_log->last_message);
    pthread_mutex_unlock(&debug_log->lock);

    /* A refused level leaves the installed callback in place. */
    CHECK_STATUS(dsapi_set_log_callback(NULL, NULL, 0), DSAPI_INVALID_ARGUMENT);
    int debug_before = atomic_load(&debug_log->count);
    client = new_client_from("good.json");
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    dsapi_client_free(client);
    CHECK(atomic_load(&debug_log->count) > debug_before, "callback still installed after a refused change");
    CHECK(atomic_load(&debug_log->out_of_range) == 0, "levels delivered are within 1..max_level");
    logged_destroy(&quiet);
}

void test_log_removed(struct logged *debug_log) {
    CHECK_STATUS(dsapi_set_log_callback(NULL, NULL, DSAPI_LOG_DEBUG), DSAPI_OK);
    int before = atomic_load(&debug_log->count);
    dsapi_client *client = new_client_from("good.json");
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    dsapi_client_free(client);
    CHECK(atomic_load(&debug_log->count) == before, "no message after removing the callback with NULL");
    /* Removing again is fine. */
    CHECK_STATUS(dsapi_set_log_callback(NULL, NULL, DSAPI_LOG_ERROR), DSAPI_OK);
}
