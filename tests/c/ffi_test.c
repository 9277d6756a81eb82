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
 *                             bearer-wrong-secret.json
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
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downstream_api.h"

/* ------------------------------------------------------------------------------------------ */
/* Check bookkeeping                                                                          */
/* ------------------------------------------------------------------------------------------ */

static atomic_int g_passed;
static atomic_int g_failed;
/* Worker threads only report failures, or the output would be thousands of lines. */
static _Thread_local int t_quiet;
static _Thread_local const char *t_name = "main";

__attribute__((format(printf, 3, 4))) static int check_at(int line, int ok, const char *fmt, ...) {
    char what[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof what, fmt, args);
    va_end(args);
    if (ok) {
        atomic_fetch_add(&g_passed, 1);
        if (!t_quiet) {
            printf("ok   [%s] %s\n", t_name, what);
        }
    } else {
        atomic_fetch_add(&g_failed, 1);
        printf("FAIL [%s] ffi_test.c:%d: %s\n", t_name, line, what);
    }
    fflush(stdout);
    return ok;
}

#define CHECK(cond, ...) check_at(__LINE__, (cond) ? 1 : 0, __VA_ARGS__)

/* The calling thread's last error message as a malloc'd string (the caller frees it), read with
 * the documented size-query protocol. */
static char *last_error(void) {
    size_t needed = 0;
    dsapi_status status = dsapi_last_error_message(NULL, 0, &needed);
    if (status != DSAPI_BUFFER_TOO_SMALL || needed == 0) {
        printf("FAIL [%s] size query of dsapi_last_error_message returned %s, needed %zu\n", t_name,
               dsapi_status_str(status), needed);
        atomic_fetch_add(&g_failed, 1);
        char *empty = malloc(1);
        if (!empty) {
            abort();
        }
        empty[0] = '\0';
        return empty;
    }
    char *buf = malloc(needed);
    if (!buf) {
        abort();
    }
    size_t needed_again = 0;
    status = dsapi_last_error_message(buf, needed, &needed_again);
    if (status != DSAPI_OK || needed_again != needed) {
        printf("FAIL [%s] dsapi_last_error_message(buf, %zu) returned %s, needed %zu\n", t_name, needed,
               dsapi_status_str(status), needed_again);
        atomic_fetch_add(&g_failed, 1);
        buf[0] = '\0';
    }
    return buf;
}

/* Checks a returned status; on a mismatch prints both names and the last error message. */
static int check_status_at(int line, dsapi_status got, dsapi_status want, const char *what) {
    if (got == want) {
        return check_at(line, 1, "%s -> %s", what, dsapi_status_str(got));
    }
    char *message = last_error();
    int ok = check_at(line, 0, "%s -> %s (%u), expected %s; last error: %s", what, dsapi_status_str(got),
                      (unsigned)got, dsapi_status_str(want), message);
    free(message);
    return ok;
}

#define CHECK_STATUS(call, want) check_status_at(__LINE__, (call), (want), #call)

/* Checks that the last error message contains `needle` (and, when `absent` is not NULL, that it
 * does not contain `absent`). */
static void check_last_error_at(int line, const char *needle, const char *absent) {
    char *message = last_error();
    check_at(line, strstr(message, needle) != NULL, "last error names '%s': \"%s\"", needle, message);
    if (absent) {
        check_at(line, strstr(message, absent) == NULL, "last error does not contain '%s'", absent);
    }
    free(message);
}

#define CHECK_LAST_ERROR(needle) check_last_error_at(__LINE__, (needle), NULL)
#define CHECK_LAST_ERROR_WITHOUT(needle, absent) check_last_error_at(__LINE__, (needle), (absent))

static void check_last_error_empty_at(int line, const char *after) {
    char *message = last_error();
    check_at(line, message[0] == '\0', "last error is empty after %s (got \"%s\")", after, message);
    free(message);
}

#define CHECK_LAST_ERROR_EMPTY(after) check_last_error_empty_at(__LINE__, (after))

/* ------------------------------------------------------------------------------------------ */
/* Inputs                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static const char *need_env(const char *name) {
    const char *value = getenv(name);
    if (!value || !*value) {
        fprintf(stderr, "ffi_test: environment variable %s is not set\n", name);
        exit(2);
    }
    return value;
}

static char g_dir[1024];

static const char *config_path(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ffi_test: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 4096, len = 0;
    char *data = malloc(cap);
    if (!data) {
        abort();
    }
    size_t n;
    while ((n = fread(data + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            char *bigger = realloc(data, cap);
            if (!bigger) {
                abort();
            }
            data = bigger;
        }
    }
    fclose(f);
    data[len] = '\0';
    return data;
}

static dsapi_client *new_client_from(const char *file) {
    char path[1200];
    dsapi_client *client = NULL;
    char what[1300];
    snprintf(what, sizeof what, "dsapi_client_new_from_file(%s)", file);
    if (!check_status_at(__LINE__, dsapi_client_new_from_file(config_path(file, path, sizeof path), &client),
                         DSAPI_OK, what)) {
        exit(3);
    }
    return client;
}

/* The body as a NUL-terminated malloc'd copy (bodies are not NUL-terminated). */
static char *body_text(const dsapi_response *response) {
    size_t len = 0;
    const uint8_t *body = dsapi_response_body(response, &len);
    char *text = malloc(len + 1);
    if (!text) {
        abort();
    }
    if (len) {
        memcpy(text, body, len);
    }
    text[len] = '\0';
    return text;
}

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

static void observed_init(struct observed *o, const char *thumbprint) {
    memset(o, 0, sizeof *o);
    o->expected_thumbprint = thumbprint;
    atomic_init(&o->selected, 0);
    atomic_init(&o->deselected, 0);
    atomic_init(&o->used, 0);
    atomic_init(&o->bad_events, 0);
    pthread_mutex_init(&o->lock, NULL);
}

static void copy_str(char *dst, size_t len, const char *src) {
    snprintf(dst, len, "%s", src ? src : "(null)");
}

static void on_event(void *user_data, const dsapi_credential_event *event) {
    struct observed *o = user_data;
    int bad = event == NULL || event->thumbprint == NULL || event->subject == NULL || event->source == NULL ||
              event->protocol == NULL || event->api_url == NULL;
    if (!bad) {
        if (o->expected_thumbprint && strcmp(event->thumbprint, o->expected_thumbprint) != 0) {
            bad = 1;
        }
        /* error is set exactly for DESELECTED */
        if ((event->kind == DSAPI_EVENT_DESELECTED) != (event->error != NULL)) {
            bad = 1;
        }
    }
    if (bad) {
        atomic_fetch_add(&o->bad_events, 1);
        return;
    }
    switch (event->kind) {
    case DSAPI_EVENT_SELECTED:
        atomic_fetch_add(&o->selected, 1);
        break;
    case DSAPI_EVENT_DESELECTED:
        atomic_fetch_add(&o->deselected, 1);
        break;
    case DSAPI_EVENT_SUCCESSFULLY_USED:
        atomic_fetch_add(&o->used, 1);
        break;
    default:
        atomic_fetch_add(&o->bad_events, 1);
        return;
    }
    pthread_mutex_lock(&o->lock);
    if (o->sequence_len < (int)(sizeof o->sequence / sizeof o->sequence[0])) {
        o->sequence[o->sequence_len++] = (int)event->kind;
    }
    copy_str(o->last_subject, sizeof o->last_subject, event->subject);
    copy_str(o->last_source, sizeof o->last_source, event->source);
    copy_str(o->last_protocol, sizeof o->last_protocol, event->protocol);
    copy_str(o->last_api_url, sizeof o->last_api_url, event->api_url);
    if (event->error) {
        copy_str(o->last_error, sizeof o->last_error, event->error);
    }
    pthread_mutex_unlock(&o->lock);
}

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

static void logged_init(struct logged *l, dsapi_log_level max_level, const char *secret) {
    memset(l, 0, sizeof *l);
    atomic_init(&l->count, 0);
    for (int i = 0; i < 5; i++) {
        atomic_init(&l->per_level[i], 0);
    }
    atomic_init(&l->out_of_range, 0);
    atomic_init(&l->leaked_secret, 0);
    l->max_level = max_level;
    l->secret = secret;
    pthread_mutex_init(&l->lock, NULL);
}

static void on_log(void *user_data, dsapi_log_level level, const char *message) {
    struct logged *l = user_data;
    atomic_fetch_add(&l->count, 1);
    if (level < DSAPI_LOG_ERROR || level > DSAPI_LOG_DEBUG || level > l->max_level) {
        atomic_fetch_add(&l->out_of_range, 1);
    } else {
        atomic_fetch_add(&l->per_level[level], 1);
    }
    if (message == NULL || (l->secret && strstr(message, l->secret))) {
        atomic_fetch_add(&l->leaked_secret, 1);
    }
    pthread_mutex_lock(&l->lock);
    copy_str(l->last_message, sizeof l->last_message, message);
    size_t len = message ? strlen(message) : 0;
    if (l->all_len + len + 2 > l->all_cap && l->all_cap < (4u << 20)) {
        size_t cap = (l->all_cap ? l->all_cap * 2 : 4096) + len + 2;
        char *bigger = realloc(l->all, cap);
        if (bigger) {
            l->all = bigger;
            l->all_cap = cap;
        }
    }
    if (l->all && l->all_len + len + 2 <= l->all_cap) {
        if (len) {
            memcpy(l->all + l->all_len, message, len);
        }
        l->all_len += len;
        l->all[l->all_len++] = '\n';
        l->all[l->all_len] = '\0';
    }
    pthread_mutex_unlock(&l->lock);
}

/* True when `needle` occurs in any message received so far. */
static int logged_contains(struct logged *l, const char *needle) {
    pthread_mutex_lock(&l->lock);
    int found = l->all != NULL && strstr(l->all, needle) != NULL;
    pthread_mutex_unlock(&l->lock);
    return found;
}

static void logged_destroy(struct logged *l) {
    free(l->all);
    l->all = NULL;
    pthread_mutex_destroy(&l->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Globals filled from the environment                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char *g_base_url;
static const char *g_client_cn;
static const char *g_thumbprint;
static const char *g_pfx_cn;
static const char *g_wrong_password;
static char g_expected_hello[256]; /* "cn=<client cn>" line of the echo */
static const char *g_closed_port;
static const char *g_client_secret;
static const char *g_wrong_secret;
static const char *g_scope;

/* ------------------------------------------------------------------------------------------ */
/* Single-threaded sections                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_version_and_status_names(void) {
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

static void test_client_new(const char *good_json) {
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

static void test_last_error_protocol(const dsapi_client *client) {
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

static void test_response_accessors(const dsapi_client *client) {
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    if (!response) {
        return;
    }
    CHECK(dsapi_response_status(response) == 200, "GET Orders: HTTP %u", (unsigned)dsapi_response_status(response));
    char *text = body_text(response);
    CHECK(strstr(text, "method=GET\n") != NULL, "server saw GET");
    CHECK(strstr(text, "target=/api/orders\n") != NULL, "URL = BaseUrl + RelativePath: \"%s\"", text);
    CHECK(strstr(text, g_expected_hello) != NULL, "server saw the client certificate (%s)", g_expected_hello);
    CHECK(strstr(text, "authorization=<absent>\n") != NULL, "no Authorization header on an MTLS call");
    CHECK(strstr(text, "accept=application/json\n") != NULL, "default Accept header");
    free(text);

    size_t len = 12345;
    CHECK(dsapi_response_body(response, NULL) != NULL, "dsapi_response_body with len_out NULL");
    CHECK(dsapi_response_body(NULL, &len) == NULL && len == 0, "dsapi_response_body(NULL) -> NULL, 0");
    CHECK(dsapi_response_status(NULL) == 0, "dsapi_response_status(NULL) == 0");
    CHECK(dsapi_response_header_count(NULL) == 0, "dsapi_response_header_count(NULL) == 0");

    const char *value = NULL;
    CHECK_STATUS(dsapi_response_header(response, "X-Echo-Method", &value), DSAPI_OK);
    CHECK(value && strcmp(value, "GET") == 0, "X-Echo-Method = \"%s\"", value ? value : "(null)");
    CHECK_STATUS(dsapi_response_header(response, "x-echo-METHOD", &value), DSAPI_OK);
    CHECK(value && strcmp(value, "GET") == 0, "header lookup ignores case");
    CHECK_STATUS(dsapi_response_header(response, "x-dup", &value), DSAPI_OK);
    CHECK(value && strcmp(value, "first") == 0, "repeated header: the first value (\"%s\")", value ? value : "");
    CHECK_STATUS(dsapi_response_header(response, "content-length", &value), DSAPI_OK);

    const char *sentinel = "untouched";
    value = sentinel;
    CHECK_STATUS(dsapi_response_header(response, "X-Not-There", &value), DSAPI_NOT_FOUND);
    CHECK_LAST_ERROR("X-Not-There");
    CHECK(value == sentinel, "value_out not written for a missing header");
    CHECK_STATUS(dsapi_response_header(NULL, "x-dup", &value), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_response_header(response, NULL, &value), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_response_header(response, "x-dup", NULL), DSAPI_INVALID_ARGUMENT);
    const char bad_name[] = {'x', (char)0xc3, '\0'};
    CHECK_STATUS(dsapi_response_header(response, bad_name, &value), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("UTF-8");

    size_t count = dsapi_response_header_count(response);
    /* content-type, x-echo-method, x-dup twice, x-other, content-length */
    CHECK(count == 6, "header count = %zu, expected 6", count);
    int lower = 1, dup_values = 0, seen_other = 0, other_between_dups = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL;
        const char *val = NULL;
        if (!CHECK_STATUS(dsapi_response_header_at(response, i, &name, &val), DSAPI_OK)) {
            continue;
        }
        CHECK(name != NULL && val != NULL, "header %zu: %s: %s", i, name ? name : "(null)", val ? val : "(null)");
        for (const char *p = name; p && *p; p++) {
            lower &= !(*p >= 'A' && *p <= 'Z');
        }
        if (name && strcmp(name, "x-dup") == 0) {
            dup_values++;
            if (dup_values == 2 && seen_other) {
                other_between_dups = 1;
            }
            CHECK(strcmp(val, dup_values == 1 ? "first" : "second") == 0, "x-dup #%d in received order: %s",
                  dup_values, val);
        }
        if (name && strcmp(name, "x-other") == 0 && dup_values == 1) {
            seen_other = 1;
        }
    }
    CHECK(lower, "header names from dsapi_response_header_at are lower case");
    CHECK(dup_values == 2, "both x-dup headers are listed (%d)", dup_values);
    if (!other_between_dups) {
        /* The server sent x-dup, x-other, x-dup. The header promises "received order"; the http
         * crate's HeaderMap groups repeated names together, so this is reported, not failed. */
        printf("NOTE [main] dsapi_response_header_at does not keep the received order of interleaved "
               "repeated headers (x-dup, x-other, x-dup came back with both x-dup first)\n");
    }
    const char *name_sentinel = "n";
    const char *value_sentinel = "v";
    const char *name = name_sentinel;
    value = value_sentinel;
    CHECK_STATUS(dsapi_response_header_at(response, count, &name, &value), DSAPI_NOT_FOUND);
    CHECK_LAST_ERROR("out of range");
    CHECK(name == name_sentinel && value == value_sentinel, "outputs not written for an out-of-range index");
    CHECK_STATUS(dsapi_response_header_at(response, (size_t)-1, &name, &value), DSAPI_NOT_FOUND);
    CHECK_STATUS(dsapi_response_header_at(response, 0, NULL, &value), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_response_header_at(response, 0, &name, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_response_header_at(NULL, 0, &name, &value), DSAPI_INVALID_ARGUMENT);

    /* A response may be read from several threads; reading it after other calls on the client and
     * after the client's other responses were freed is fine. */
    dsapi_response *second = NULL;
    CHECK_STATUS(dsapi_client_call(client, "ORDERS", NULL, NULL, 0, &second), DSAPI_OK);
    CHECK(dsapi_response_status(second) == 200, "API names compare ignoring case");
    dsapi_response_free(second);
    CHECK_STATUS(dsapi_response_header(response, "x-echo-method", &value), DSAPI_OK);

    dsapi_response_free(response);
    dsapi_response_free(NULL);
    CHECK(1, "dsapi_response_free(NULL) is a no-op");
}

static void test_overrides(const dsapi_client *client) {
    /* POST with a binary body (a NUL inside), extra headers and query parameters. */
    static const uint8_t body[] = {'{', '"', 'n', '"', ':', '1', '}', 0x00, 0xff, 'e', 'n', 'd'};
    const char *overrides = "{\"RelativePath\": \"/echo/post\", \"HttpMethod\": \"post\", "
                            "\"ContentType\": \"application/x-test\", \"AcceptHeader\": \"text/plain\", "
                            "\"ExtraHeaderParameters\": {\"X-Custom\": \"custom-value\"}, "
                            "\"ExtraQueryParameters\": {\"q\": \"a b&c\", \"n\": \"1\"}}";
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", overrides, body, sizeof body, &response), DSAPI_OK);
    if (response) {
        CHECK(dsapi_response_status(response) == 200, "POST: HTTP %u", (unsigned)dsapi_response_status(response));
        size_t len = 0;
        const uint8_t *raw = dsapi_response_body(response, &len);
        char *text = body_text(response);
        CHECK(strstr(text, "method=POST\n") != NULL, "HttpMethod override (lower case) -> POST");
        /* JSON object order is not kept (serde_json sorts keys), so either order is accepted. */
        CHECK(strstr(text, "target=/api/echo/post?q=a%20b%26c&n=1\n") != NULL ||
                  strstr(text, "target=/api/echo/post?n=1&q=a%20b%26c\n") != NULL,
              "RelativePath + ExtraQueryParameters (percent-encoded): %s", text);
        CHECK(strstr(text, "x-custom=custom-value\n") != NULL, "ExtraHeaderParameters sent");
        CHECK(strstr(text, "content-type=application/x-test\n") != NULL, "ContentType override");
        CHECK(strstr(text, "accept=text/plain\n") != NULL, "AcceptHeader override");
        CHECK(strstr(text, "authorization=<absent>\n") != NULL, "no Authorization header");
        char expected_len[64];
        snprintf(expected_len, sizeof expected_len, "body-length=%zu\n", sizeof body);
        CHECK(strstr(text, expected_len) != NULL, "server received %zu body bytes", sizeof body);
        const char *marker = "\nbody:\n";
        const char *at = strstr(text, marker);
        CHECK(at != NULL, "echo has a body section");
        if (at) {
            size_t offset = (size_t)(at - text) + strlen(marker);
            CHECK(len - offset == sizeof body && memcmp(raw + offset, body, sizeof body) == 0,
                  "the body bytes (with a NUL and 0xff) round-trip exactly");
        }
        const char *value = NULL;
        CHECK_STATUS(dsapi_response_header(response, "x-echo-method", &value), DSAPI_OK);
        CHECK(value && strcmp(value, "POST") == 0, "response header X-Echo-Method: POST");
        /* The request it answers: method, and the URL with its query values hidden. */
        const char *method = NULL, *url = NULL;
        CHECK_STATUS(dsapi_response_request(response, &method, &url), DSAPI_OK);
        CHECK(method && strcmp(method, "POST") == 0, "request method: %s", method ? method : "(null)");
        CHECK(url && strncmp(url, "https://", 8) == 0 && strstr(url, "/api/echo/post?\xe2\x80\xa6") != NULL &&
                  strstr(url, "a%20b") == NULL,
              "request URL, query redacted: %s", url ? url : "(null)");
        CHECK_STATUS(dsapi_response_request(response, NULL, NULL), DSAPI_OK);
        CHECK_STATUS(dsapi_response_request(NULL, &method, &url), DSAPI_INVALID_ARGUMENT);
        free(text);
        dsapi_response_free(response);
    }

    /* Overrides do not stick: the next call without them is the configured GET. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_OK);
    if (response) {
        char *text = body_text(response);
        CHECK(strstr(text, "method=GET\n") != NULL && strstr(text, "target=/api/orders\n") != NULL &&
                  strstr(text, "x-custom=<absent>\n") != NULL,
              "overrides apply to one call only");
        free(text);
        dsapi_response_free(response);
    }

    /* An empty body with a non-NULL pointer and a NULL body with length 0. */
    static const uint8_t nothing[1] = {0};
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"HttpMethod\": \"PUT\", \"RelativePath\": \"echo/empty\"}",
                                   nothing, 0, &response),
                 DSAPI_OK);
    if (response) {
        char *text = body_text(response);
        CHECK(strstr(text, "method=PUT\n") != NULL && strstr(text, "body-length=0\n") != NULL,
              "PUT with an empty body");
        free(text);
        dsapi_response_free(response);
    }

    /* Any HTTP status is a success; 403 and 404 are not certificate rejections. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"status/404\"}", NULL, 0, &response),
                 DSAPI_OK);
    CHECK(dsapi_response_status(response) == 404, "HTTP 404 is returned as a response");
    CHECK_LAST_ERROR_EMPTY("an HTTP 404 response");
    dsapi_response_free(response);
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"status/403\"}", NULL, 0, &response),
                 DSAPI_OK);
    CHECK(dsapi_response_status(response) == 403, "HTTP 403 is returned as is (not retried)");
    dsapi_response_free(response);
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"status/500\"}", NULL, 0, &response),
                 DSAPI_OK);
    CHECK(dsapi_response_status(response) == 500, "HTTP 500 is returned as a response");
    dsapi_response_free(response);
}

static void test_bad_call_inputs(const dsapi_client *client) {
    dsapi_response *sentinel = (dsapi_response *)(uintptr_t)0x6b6b6b6b;
    dsapi_response *response = sentinel;
    static const uint8_t byte = 'x';

    CHECK_STATUS(dsapi_client_call(NULL, "Orders", NULL, NULL, 0, &response), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("client");
    CHECK_STATUS(dsapi_client_call(client, NULL, NULL, NULL, 0, &response), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("api_name");
    const char bad_name[] = {'O', 'r', (char)0xc0, (char)0xaf, '\0'};
    CHECK_STATUS(dsapi_client_call(client, bad_name, NULL, NULL, 0, &response), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("api_name is not valid UTF-8");
    const char bad_overrides[] = {'{', '"', (char)0xed, (char)0xa0, (char)0x80, '"', ':', '1', '}', '\0'};
    CHECK_STATUS(dsapi_client_call(client, "Orders", bad_overrides, NULL, 0, &response), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("overrides_json");
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 5, &response), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("body is NULL but its length is 5");
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, &byte, 1, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("response_out");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": ", NULL, 0, &response),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides are not valid JSON");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "[]", NULL, 0, &response), DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"HttpMethod\": 5}", NULL, 0, &response),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides.HttpMethod");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"HttpMethod\": \"GE T\"}", NULL, 0, &response),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("HttpMethod");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"ProtocolScheme\": \"Kerberos\"}", NULL, 0, &response),
                 DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides.ProtocolScheme");
    CHECK_STATUS(dsapi_client_call(client, "Unknown-Api", NULL, NULL, 0, &response), DSAPI_UNKNOWN_API);
    CHECK_LAST_ERROR("Unknown-Api");
    CHECK_STATUS(dsapi_client_call(client, "", NULL, NULL, 0, &response), DSAPI_UNKNOWN_API);

    /* MTLS over plain http:// is refused before anything is sent, configured or overridden. */
    CHECK_STATUS(dsapi_client_call(client, "Plain", NULL, NULL, 0, &response), DSAPI_INSECURE_URL);
    CHECK_LAST_ERROR("http://");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"BaseUrl\": \"http://127.0.0.1:9/insecure\"}", NULL, 0,
                                   &response),
                 DSAPI_INSECURE_URL);
    CHECK(response == sentinel, "response_out not written on any failure");

    /* NULL overrides and "{}" mean the same; JSON null values count as absent. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{}", NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": null}", NULL, 0, &response), DSAPI_OK);
    dsapi_response_free(response);
}

static void test_credential_failures(struct logged *log) {
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

static void test_observer(void) {
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

static void test_log_callback(struct logged *debug_log) {
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

static void test_log_removed(struct logged *debug_log) {
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


static void test_bodies_and_request_validation(const dsapi_client *client) {
    /* A large binary body goes out and comes back byte for byte. */
    size_t big_len = 300 * 1024;
    uint8_t *big = malloc(big_len);
    if (!big) {
        abort();
    }
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (uint8_t)((i * 31u + 7u) & 0xffu);
    }
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"HttpMethod\": \"POST\", \"RelativePath\": \"echo/big\", "
                                   "\"ContentType\": \"application/octet-stream\"}",
                                   big, big_len, &response),
                 DSAPI_OK);
    if (response) {
        size_t len = 0;
        const uint8_t *raw = dsapi_response_body(response, &len);
        const char *marker = "\nbody:\n";
        const uint8_t *at = NULL;
        for (size_t i = 0; raw && i + strlen(marker) <= len && i < 4096; i++) {
            if (memcmp(raw + i, marker, strlen(marker)) == 0) {
                at = raw + i + strlen(marker);
                break;
            }
        }
        CHECK(at != NULL && (size_t)(raw + len - at) == big_len && memcmp(at, big, big_len) == 0,
              "a %zu-byte body round-trips exactly (response of %zu bytes)", big_len, len);
        dsapi_response_free(response);
    }
    /* The input buffer is copied: scribbling over it afterwards changes nothing. */
    memset(big, 0, big_len);
    free(big);

    /* An empty response body. */
    response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"status/204\"}", NULL, 0, &response),
                 DSAPI_OK);
    if (response) {
        size_t len = 99;
        (void)dsapi_response_body(response, &len);
        CHECK(dsapi_response_status(response) == 204 && len == 0, "HTTP 204 with an empty body (len %zu)", len);
        dsapi_response_free(response);
    }

    /* Header injection and unusable header names are refused, not sent and not a panic. */
    struct {
        const char *overrides;
        const char *what;
    } refused[] = {
        {"{\"ExtraHeaderParameters\": {\"X-Custom\": \"v\\r\\nX-Injected: 1\"}}", "CR LF in a header value"},
        {"{\"ExtraHeaderParameters\": {\"X-Custom\": \"v\\nX-Injected: 1\"}}", "LF in a header value"},
        {"{\"ExtraHeaderParameters\": {\"X-Custom\": \"v\\u0000X-Injected: 1\"}}", "NUL in a header value"},
        {"{\"ExtraHeaderParameters\": {\"Bad Name\": \"v\"}}", "a space in a header name"},
        {"{\"ExtraHeaderParameters\": {\"X-Injected: 1\\r\\nX-Other\": \"v\"}}", "CR LF in a header name"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        dsapi_response *sentinel = (dsapi_response *)(uintptr_t)0x2468;
        response = sentinel;
        dsapi_status status = dsapi_client_call(client, "Orders", refused[i].overrides, NULL, 0, &response);
        char *message = last_error();
        CHECK(status != DSAPI_OK && status != DSAPI_PANIC && response == sentinel, "%s is refused: %s \"%s\"",
              refused[i].what, dsapi_status_str(status), message);
        free(message);
        if (status == DSAPI_OK && response != sentinel) {
            dsapi_response_free(response);
        }
    }

    /* A RelativePath that is not a valid URL path is refused or sent percent-encoded, never raw. */
    response = NULL;
    dsapi_status status =
        dsapi_client_call(client, "Orders", "{\"RelativePath\": \"with space\"}", NULL, 0, &response);
    CHECK(status != DSAPI_PANIC, "RelativePath with a space: %s", dsapi_status_str(status));
    if (status == DSAPI_OK) {
        char *text = body_text(response);
        CHECK(strstr(text, "target=/api/with%20space\n") != NULL, "sent percent-encoded: %s", text);
        free(text);
        dsapi_response_free(response);
    }
}

/* Each failure kind a call can report, with its own configuration or override. */
static void test_error_statuses(void) {
    dsapi_response *sentinel = (dsapi_response *)(uintptr_t)0x3579;
    dsapi_response *response = sentinel;

    /* The server's certificate is not issued by the configured CA bundle. */
    dsapi_client *client = new_client_from("untrusted.json");
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_TLS_ERROR);
    CHECK_LAST_ERROR("Orders");
    dsapi_client_free(client);

    /* The server does not accept our client certificate: reload, retry once, give up. */
    client = new_client_from("rejected.json");
    struct observed observed;
    observed_init(&observed, g_thumbprint);
    CHECK_STATUS(dsapi_client_add_observer(client, on_event, &observed), DSAPI_OK);
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_CERTIFICATE_REJECTED);
    CHECK_LAST_ERROR("rejected again");
    CHECK(atomic_load(&observed.selected) == 2 && atomic_load(&observed.deselected) == 1 &&
              atomic_load(&observed.used) == 0 && atomic_load(&observed.bad_events) == 0,
          "rejection: SELECTED, DESELECTED, SELECTED, no SUCCESSFULLY_USED (selected %d, deselected %d, used %d)",
          atomic_load(&observed.selected), atomic_load(&observed.deselected), atomic_load(&observed.used));
    dsapi_client_free(client);
    pthread_mutex_destroy(&observed.lock);

    /* Nothing listens on the port. */
    client = new_client_from("good.json");
    char overrides[256];
    snprintf(overrides, sizeof overrides, "{\"BaseUrl\": \"https://127.0.0.1:%s/api\"}", g_closed_port);
    CHECK_STATUS(dsapi_client_call(client, "Orders", overrides, NULL, 0, &response), DSAPI_NETWORK_ERROR);
    CHECK_LAST_ERROR(g_closed_port);
    dsapi_client_free(client);

    /* Http.MaxResponseBytes is smaller than the echo. */
    client = new_client_from("small-limit.json");
    CHECK_STATUS(dsapi_client_call(client, "Orders", NULL, NULL, 0, &response), DSAPI_PROTOCOL_ERROR);
    dsapi_client_free(client);

    /* Http.TimeoutSeconds elapses while the server sleeps. */
    client = new_client_from("timeout.json");
    CHECK_STATUS(dsapi_client_call(client, "Orders", "{\"RelativePath\": \"slow\"}", NULL, 0, &response),
                 DSAPI_TIMEOUT);
    dsapi_client_free(client);
    CHECK(response == sentinel, "response_out not written by any of these failures");

    /* A configuration file that is not UTF-8: some error, never a client or a panic. */
    char path[1200];
    dsapi_client *not_written = (dsapi_client *)(uintptr_t)0x4680;
    client = not_written;
    dsapi_status status = dsapi_client_new_from_file(config_path("not-utf8.json", path, sizeof path), &client);
    char *message = last_error();
    CHECK((status == DSAPI_IO_ERROR || status == DSAPI_CONFIG_INVALID || status == DSAPI_INVALID_ARGUMENT) &&
              client == not_written,
          "a configuration file that is not UTF-8 is refused: %s \"%s\"", dsapi_status_str(status), message);
    free(message);
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

static void test_reentrancy(void) {
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

/* dsapi_client_describe_credentials: the JSON of every entry, what is selected, no password. */
static void test_describe_credentials(void) {
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

/* dsapi_client_api_options: an API's options as JSON (defaults filled in, overrides applied),
 * header and query values withheld. */
static void test_api_options(void) {
    char *sentinel = (char *)(uintptr_t)0x5795;
    char *json = sentinel;
    dsapi_client *client = new_client_from("good.json");
    CHECK_STATUS(dsapi_client_api_options(NULL, "Orders", NULL, &json), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_api_options(client, NULL, NULL, &json), DSAPI_INVALID_ARGUMENT);
    CHECK_STATUS(dsapi_client_api_options(client, "Orders", NULL, NULL), DSAPI_INVALID_ARGUMENT);
    CHECK_LAST_ERROR("json_out");
    CHECK_STATUS(dsapi_client_api_options(client, "Nope", NULL, &json), DSAPI_UNKNOWN_API);
    CHECK_LAST_ERROR("Nope");
    CHECK_STATUS(dsapi_client_api_options(client, "Orders", "{\"HttpMethod\": 7}", &json), DSAPI_CONFIG_INVALID);
    CHECK_LAST_ERROR("overrides.HttpMethod");
    CHECK(json == sentinel, "json_out not written on failure");

    CHECK_STATUS(dsapi_client_api_options(client, "orders", NULL, &json), DSAPI_OK);
    if (json != sentinel && json != NULL) {
        CHECK(strstr(json, "\"RelativePath\":\"orders\"") != NULL && strstr(json, "\"ProtocolScheme\":\"MTLS\"") != NULL &&
                  strstr(json, "\"HttpMethod\":\"GET\"") != NULL,
              "configured values and defaults: %s", json);
        dsapi_string_free(json);
    }
    json = sentinel;
    CHECK_STATUS(dsapi_client_api_options(client, "Orders",
                                          "{\"HttpMethod\": \"post\", \"ExtraHeaderParameters\": {\"X-Key\": \"k-secret\"}}",
                                          &json),
                 DSAPI_OK);
    if (json != sentinel && json != NULL) {
        CHECK(strstr(json, "\"HttpMethod\":\"POST\"") != NULL, "override applied: %s", json);
        CHECK(strstr(json, "\"X-Key\":null") != NULL && strstr(json, "k-secret") == NULL,
              "header named, value withheld: %s", json);
        dsapi_string_free(json);
    }
    dsapi_client_free(client);
}

/* MTLS_POP: the token is requested over mTLS with the client certificate and is bound to it; the
 * resource accepts "mtls_pop <token>" only on a connection presenting that certificate. */
static void test_mtls_pop(void) {
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

/* Pushed credentials: dsapi_client_set_credential (a PEM in memory, a client secret) and
 * dsapi_client_reload_credentials; a credential that does not load keeps the old one. */
static void test_pushed_credentials(void) {
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

/* Managed identity: the program's environment points IDENTITY_ENDPOINT and IDENTITY_HEADER at a
 * fake App Service endpoint; the API's token comes from it, with no app registration at all. */
static void test_managed_identity(void) {
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

/* The token ABI: dsapi_client_authorization_header, dsapi_client_acquire_token, dsapi_string_free. */
static void test_tokens(struct logged *log) {
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

/* ------------------------------------------------------------------------------------------ */
/* Multi-threaded section: one const client, many threads                                      */
/* ------------------------------------------------------------------------------------------ */

#define MAX_THREADS 64

struct worker {
    int index;
    int calls;
    const dsapi_client *client;
    const dsapi_client *bearer; /* shared too: concurrent token misses make one request */
    pthread_barrier_t *barrier;
    char token[256];
    struct observed *own_observer; /* registered by this thread, concurrently with the others */
    int ok_calls;
    int provoked_errors;
    char name[32];
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    t_quiet = 1;
    t_name = w->name;

    /* Registering observers concurrently is allowed (const client). */
    CHECK_STATUS(dsapi_client_add_observer(w->client, on_event, w->own_observer), DSAPI_OK);
    CHECK_LAST_ERROR_EMPTY("add_observer in a thread");

    pthread_barrier_wait(w->barrier);

    char *token = NULL;
    if (CHECK_STATUS(dsapi_client_acquire_token(w->bearer, "api://threads/.default", NULL, &token, NULL),
                     DSAPI_OK)) {
        snprintf(w->token, sizeof w->token, "%s", token);
        dsapi_string_free(token);
    }

    for (int i = 0; i < w->calls; i++) {
        /* Odd threads provoke errors with a name only they use, while the others succeed: the
         * message they read back must be their own. */
        if (w->index % 2 == 1 && i % 5 == 2) {
            char bad_api[64];
            snprintf(bad_api, sizeof bad_api, "missing-t%d-i%d", w->index, i);
            dsapi_response *sentinel = (dsapi_response *)(uintptr_t)0x1234;
            dsapi_response *r = sentinel;
            CHECK_STATUS(dsapi_client_call(w->client, bad_api, NULL, NULL, 0, &r), DSAPI_UNKNOWN_API);
            CHECK(r == sentinel, "response_out not written in a thread");
            sched_yield();
            CHECK_LAST_ERROR(bad_api);
            sched_yield();
            CHECK_LAST_ERROR(bad_api); /* still ours, still unchanged */
            w->provoked_errors++;
        }
        char overrides[256];
        snprintf(overrides, sizeof overrides,
                 "{\"RelativePath\": \"threads/%d/%d\", \"ExtraHeaderParameters\": {\"X-Thread\": \"%d\"}}", w->index,
                 i, w->index);
        dsapi_response *response = NULL;
        if (!CHECK_STATUS(dsapi_client_call(w->client, "Orders", overrides, NULL, 0, &response), DSAPI_OK)) {
            continue;
        }
        CHECK_LAST_ERROR_EMPTY("a successful call in a thread");
        char *text = body_text(response);
        char target[128], thread_header[64];
        snprintf(target, sizeof target, "target=/api/threads/%d/%d\n", w->index, i);
        snprintf(thread_header, sizeof thread_header, "x-thread=%d\n", w->index);
        int ok = dsapi_response_status(response) == 200 && strstr(text, target) && strstr(text, thread_header) &&
                 strstr(text, g_expected_hello) && strstr(text, "authorization=<absent>\n");
        CHECK(ok, "thread %d call %d: HTTP %u, body: %s", w->index, i, (unsigned)dsapi_response_status(response),
              text);
        const char *value = NULL;
        CHECK_STATUS(dsapi_response_header(response, "x-echo-method", &value), DSAPI_OK);
        free(text);
        dsapi_response_free(response);
        if (ok) {
            w->ok_calls++;
        }
    }
    return NULL;
}

static void test_threads(int threads, int calls, struct logged *log) {
    if (threads > MAX_THREADS) {
        threads = MAX_THREADS;
    }
    dsapi_client *client = new_client_from("good.json");
    dsapi_client *bearer = new_client_from("bearer.json");
    struct observed main_observer;
    observed_init(&main_observer, g_thumbprint);
    CHECK_STATUS(dsapi_client_add_observer(client, on_event, &main_observer), DSAPI_OK);

    /* The log callback stays installed during the threads: it is called concurrently. */
    CHECK_STATUS(dsapi_set_log_callback(on_log, log, DSAPI_LOG_DEBUG), DSAPI_OK);
    int log_before = atomic_load(&log->count);

    /* The main thread's own error must survive whatever the workers do. */
    dsapi_response *response = NULL;
    CHECK_STATUS(dsapi_client_call(client, "main-thread-marker", NULL, NULL, 0, &response), DSAPI_UNKNOWN_API);

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    static struct worker workers[MAX_THREADS];
    static struct observed observers[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started = 0;
    for (int t = 0; t < threads; t++) {
        observed_init(&observers[t], g_thumbprint);
        workers[t] = (struct worker){.index = t, .calls = calls, .client = client, .bearer = bearer, .barrier = &barrier,
                                     .own_observer = &observers[t]};
        snprintf(workers[t].name, sizeof workers[t].name, "thread %d", t);
        if (pthread_create(&ids[t], NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "ffi_test: pthread_create failed\n");
            exit(3);
        }
        started++;
    }
    int ok_calls = 0, provoked = 0;
    for (int t = 0; t < started; t++) {
        pthread_join(ids[t], NULL);
        ok_calls += workers[t].ok_calls;
        provoked += workers[t].provoked_errors;
    }
    pthread_barrier_destroy(&barrier);

    int expected = threads * calls;
    CHECK(ok_calls == expected, "%d threads x %d calls on one client: %d succeeded", threads, calls, ok_calls);
    CHECK(provoked > 0 || threads < 2 || calls < 3, "odd threads provoked %d errors of their own meanwhile", provoked);
    CHECK_LAST_ERROR("main-thread-marker");
    CHECK(atomic_load(&main_observer.selected) == 1, "one SELECTED for the shared client (got %d)",
          atomic_load(&main_observer.selected));
    CHECK(atomic_load(&main_observer.used) == expected, "SUCCESSFULLY_USED once per call (%d of %d)",
          atomic_load(&main_observer.used), expected);
    CHECK(atomic_load(&main_observer.deselected) == 0 && atomic_load(&main_observer.bad_events) == 0,
          "no DESELECTED and no malformed event");
    int observers_ok = 1;
    for (int t = 0; t < threads; t++) {
        /* Registered before the barrier, so each saw every call. */
        observers_ok &= atomic_load(&observers[t].used) == expected && atomic_load(&observers[t].selected) == 1 &&
                        atomic_load(&observers[t].bad_events) == 0;
    }
    CHECK(observers_ok, "observers registered concurrently by the threads each saw all %d calls", expected);
    int same_token = workers[0].token[0] != '\0';
    for (int t = 1; t < threads; t++) {
        same_token &= strcmp(workers[t].token, workers[0].token) == 0;
    }
    CHECK(same_token, "all threads got the same token (one request for concurrent misses)");
    CHECK(atomic_load(&log->count) > log_before, "log callback called during the threaded part (%d messages)",
          atomic_load(&log->count) - log_before);
    CHECK(atomic_load(&log->out_of_range) == 0, "log levels in range during the threaded part");

    dsapi_client_free(client);
    dsapi_client_free(bearer);
    for (int t = 0; t < threads; t++) {
        pthread_mutex_destroy(&observers[t].lock);
    }
    pthread_mutex_destroy(&main_observer.lock);
}

/* ------------------------------------------------------------------------------------------ */

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
    printf("== credential descriptions\n");
    test_describe_credentials();
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
