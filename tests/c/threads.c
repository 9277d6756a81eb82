/*
 * One const client shared by many threads: calls, tokens (one request for concurrent misses),
 * observers registered concurrently, each thread's last error its own, the log callback called
 * concurrently.
 */
#include "common.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void test_threads(int threads, int calls, struct logged *log) {
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
