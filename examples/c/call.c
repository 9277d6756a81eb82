/* Calls one API of an appsettings.json through the installed library and prints the answer:
 *
 *   call appsettings.json Orders
 *
 * Exit status: 0 when a response came back (any HTTP status), 1 when none could be had. */
#include <stdio.h>

#include <downstream_api.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s appsettings.json API\n", argv[0]);
        return 2;
    }
    dsapi_client *client = NULL;
    char message[4096];
    dsapi_status status = dsapi_client_new_from_file(argv[1], &client);
    if (status == DSAPI_OK) {
        dsapi_response *response = NULL;
        status = dsapi_client_call(client, argv[2], NULL, NULL, 0, &response);
        if (status == DSAPI_OK) {
            size_t length = 0;
            const uint8_t *body = dsapi_response_body(response, &length);
            printf("HTTP %u: %.*s\n", dsapi_response_status(response), (int)length, (const char *)body);
            dsapi_response_free(response);
        }
    }
    if (status != DSAPI_OK) {
        dsapi_last_error_message(message, sizeof message, NULL);
        fprintf(stderr, "%s: %s\n", dsapi_status_str(status), message);
    }
    dsapi_client_free(client);
    return status == DSAPI_OK ? 0 : 1;
}
