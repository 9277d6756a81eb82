/*
 * What the C test files share (tests/c/common.c): the check bookkeeping and its CHECK macros,
 * the program's inputs (environment, configuration files), the observer and log-callback
 * recorders, and the section entry points each test file defines. See ffi_test.c for the inputs
 * and the output.
 */
#ifndef DSAPI_FFI_TEST_COMMON_H
#define DSAPI_FFI_TEST_COMMON_H

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "downstream_api.h"

/* ------------------------------------------------------------------------------------------ */
/* Check bookkeeping                                                                          */
/* ------------------------------------------------------------------------------------------ */

extern atomic_int g_passed;
extern atomic_int g_failed;
/* Worker threads only report failures, or the output would be thousands of lines. */
extern _Thread_local int t_quiet;
extern _Thread_local const char *t_name;

/* Counts a check and prints "ok" or "FAIL" with the file and line; returns `ok`. */
__attribute__((format(printf, 4, 5))) int check_at(const char *file, int line, int ok, const char *fmt, ...);

#define CHECK(cond, ...) check_at(__FILE__, __LINE__, (cond) ? 1 : 0, __VA_ARGS__)

/* The calling thread's last error message as a malloc'd string (the caller frees it), read with
 * the documented size-query protocol. */
char *last_error(void);

/* Checks a returned status; on a mismatch prints both names and the last error message. */
int check_status_at(const char *file, int line, dsapi_status got, dsapi_status want, const char *what);

#define CHECK_STATUS(call, want) check_status_at(__FILE__, __LINE__, (call), (want), #call)

/* Checks that the last error message contains `needle` (and, when `absent` is not NULL, that it
 * does not contain `absent`). */
void check_last_error_at(const char *file, int line, const char *needle, const char *absent);

#define CHECK_LAST_ERROR(needle) check_last_error_at(__FILE__, __LINE__, (needle), NULL)
#define CHECK_LAST_ERROR_WITHOUT(needle, absent) check_last_error_at(__FILE__, __LINE__, (needle), (absent))

void check_last_error_empty_at(const char *file, int line, const char *after);

#define CHECK_LAST_ERROR_EMPTY(after) check_last_error_empty_at(__FILE__, __LINE__, (after))

/* ------------------------------------------------------------------------------------------ */
/* Inputs                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* The value of an environment variable that must be set; exits 2 when it is not. */
const char *need_env(const char *name);

/* DSAPI_TEST_DIR: the directory holding the configuration files. */
extern char g_dir[1024];

/* `name` inside g_dir, written into `buf`. */
const char *config_path(const char *name, char *buf, size_t len);

/* The whole file as a NUL-terminated malloc'd string; exits 2 when it cannot be opened. */
char *read_file(const char *path);

/* A client from the configuration file `file` in g_dir; exits 3 when that fails. */
dsapi_client *new_client_from(const char *file);

/* The body as a NUL-terminated malloc'd copy (bodies are not NUL-terminated). */
char *body_text(const dsapi_response *response);

/* Filled from the environment by main (see ffi_test.c). */
extern const char *g_base_url;
extern const char *g_client_cn;
extern const char *g_thumbprint;
extern const char *g_pfx_cn;
extern const char *g_wrong_password;
extern char g_expected_hello[256]; /* "cn=<client cn>" line of the echo */
extern const char *g_closed_port;
extern const char *g_client_secret;
extern const char *g_wrong_secret;
extern const char *g_scope;

/* ------------------------------------------------------------------------------------------ */
/* Observers and the log callback (both must be thread-safe)                                   */
/* ------------------------------------------------------------------------------------------ */

struct observed {
    const char *expected_thumbprint;
    atomic_int selected;
    atomic_int deselected;
    atomic_int used;
    atomic_int bad_events; /* events with a missing or wrong field */
    pthread_mutex_t lock;  /* guards the sequence and the copied strings below */
    int sequence[64];
    int sequence_len;
    char last_subject[512];
    char last_source[256];
    char last_protocol[64];
    char last_api_url[512];
    char last_error[1024];
};

void observed_init(struct observed *o, const char *thumbprint);

/* The observer callback: counts and checks each event into the `struct observed` it is given. */
void on_event(void *user_data, const dsapi_credential_event *event);

struct logged {
    atomic_int count;
    atomic_int per_level[5]; /* index = level, 1..4 */
    atomic_int out_of_range; /* a level above max_level or outside 1..4 */
    atomic_int leaked_secret;
    dsapi_log_level max_level;
    const char *secret; /* must never appear in a message */
    pthread_mutex_t lock;
    char last_message[1024];
    char *all;        /* every message, one per line (guarded by lock) */
    size_t all_len, all_cap;
};

void logged_init(struct logged *l, dsapi_log_level max_level, const char *secret);

/* The log callback: records each message into the `struct logged` it is given. */
void on_log(void *user_data, dsapi_log_level level, const char *message);

/* True when `needle` occurs in any message received so far. */
int logged_contains(struct logged *l, const char *needle);

void logged_destroy(struct logged *l);

/* ------------------------------------------------------------------------------------------ */
/* Sections, in the order main runs them                                                      */
/* ------------------------------------------------------------------------------------------ */

/* basics.c */
void test_version_and_status_names(void);
void test_client_new(const char *good_json);
void test_last_error_protocol(const dsapi_client *client);

/* calls.c */
void test_response_accessors(const dsapi_client *client);
void test_overrides(const dsapi_client *client);
void test_bad_call_inputs(const dsapi_client *client);
void test_bodies_and_request_validation(const dsapi_client *client);
void test_error_statuses(void);
void test_api_options(void);

/* log.c */
void test_log_callback(struct logged *debug_log);
void test_log_removed(struct logged *debug_log);

/* observers.c */
void test_observer(void);
void test_reentrancy(void);

/* credentials.c */
void test_credential_failures(struct logged *log);
void test_describe_credentials(void);
void test_metrics(void);
void test_pushed_credentials(void);

/* tokens.c */
void test_tokens(struct logged *log);
void test_mtls_pop(void);
void test_managed_identity(void);

/* validation.c */
void test_validate_token(void);

/* threads.c */
void test_threads(int threads, int calls, struct logged *log);

#endif
