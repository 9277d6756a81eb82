/*
 * The helpers every C test file uses (declared in common.h): check bookkeeping, inputs, and the
 * observer and log-callback recorders.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Check bookkeeping                                                                          */
/* ------------------------------------------------------------------------------------------ */

atomic_int g_passed;
atomic_int g_failed;
_Thread_local int t_quiet;
_Thread_local const char *t_name = "main";

int check_at(const char *file, int line, int ok, const char *fmt, ...) {
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
        const char *slash = strrchr(file, '/');
        printf("FAIL [%s] %s:%d: %s\n", t_name, slash ? slash + 1 : file, line, what);
    }
    fflush(stdout);
    return ok;
}

char *last_error(void) {
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

int check_status_at(const char *file, int line, dsapi_status got, dsapi_status want, const char *what) {
    if (got == want) {
        return check_at(file, line, 1, "%s -> %s", what, dsapi_status_str(got));
    }
    char *message = last_error();
    int ok = check_at(file, line, 0, "%s -> %s (%u), expected %s; last error: %s", what, dsapi_status_str(got),
                      (unsigned)got, dsapi_status_str(want), message);
    free(message);
    return ok;
}

void check_last_error_at(const char *file, int line, const char *needle, const char *absent) {
    char *message = last_error();
    check_at(file, line, strstr(message, needle) != NULL, "last error names '%s': \"%s\"", needle, message);
    if (absent) {
        check_at(file, line, strstr(message, absent) == NULL, "last error does not contain '%s'", absent);
    }
    free(message);
}

void check_last_error_empty_at(const char *file, int line, const char *after) {
    char *message = last_error();
    check_at(file, line, message[0] == '\0', "last error is empty after %s (got \"%s\")", after, message);
    free(message);
}

/* ------------------------------------------------------------------------------------------ */
/* Inputs                                                                                     */
/* ------------------------------------------------------------------------------------------ */

const char *need_env(const char *name) {
    const char *value = getenv(name);
    if (!value || !*value) {
        fprintf(stderr, "ffi_test: environment variable %s is not set\n", name);
        exit(2);
    }
    return value;
}

char g_dir[1024];

const char *config_path(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", g_dir, name);
    return buf;
}

char *read_file(const char *path) {
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

dsapi_client *new_client_from(const char *file) {
    char path[1200];
    dsapi_client *client = NULL;
    char what[1300];
    snprintf(what, sizeof what, "dsapi_client_new_from_file(%s)", file);
    if (!check_status_at(__FILE__, __LINE__, dsapi_client_new_from_file(config_path(file, path, sizeof path), &client),
                         DSAPI_OK, what)) {
        exit(3);
    }
    return client;
}

char *body_text(const dsapi_response *response) {
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

void observed_init(struct observed *o, const char *thumbprint) {
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

void on_event(void *user_data, const dsapi_credential_event *event) {
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

void logged_init(struct logged *l, dsapi_log_level max_level, const char *secret) {
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

void on_log(void *user_data, dsapi_log_level level, const char *message) {
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

int logged_contains(struct logged *l, const char *needle) {
    pthread_mutex_lock(&l->lock);
    int found = l->all != NULL && strstr(l->all, needle) != NULL;
    pthread_mutex_unlock(&l->lock);
    return found;
}

void logged_destroy(struct logged *l) {
    free(l->all);
    l->all = NULL;
    pthread_mutex_destroy(&l->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Globals filled from the environment by main                                                 */
/* ------------------------------------------------------------------------------------------ */

const char *g_base_url;
const char *g_client_cn;
const char *g_thumbprint;
const char *g_pfx_cn;
const char *g_wrong_password;
char g_expected_hello[256];
const char *g_closed_port;
const char *g_client_secret;
const char *g_wrong_secret;
const char *g_scope;
