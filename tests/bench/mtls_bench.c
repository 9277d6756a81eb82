/*
 * MTLS benchmark through the C ABI (tests/bench/run.sh builds and runs it; tests/bench/callgrind.sh
 * runs its --count mode, below, under valgrind).
 *
 *   mtls_bench CONFIG.json API_NAME CALLS THREADS
 *
 * 1. Resident memory (/proc/self/statm) before creating a client, and after creating it and making
 *    one call: the memory one client handle adds, first TLS connection included.
 * 2. CALLS sequential GETs on that client (its connection is kept alive): requests per second and
 *    time per call (wall clock, and this process's CPU time). Every call must answer 200.
 * 3. CALLS GETs again, shared by THREADS threads on the same client (one connection each, from
 *    its pool): requests per second when threads share one handle.
 * 4. The same memory measurement for a second client handle in the same process, whose one call
 *    goes to RelativePath "bench/rss2" (so run.sh can tell its request apart in the server log):
 *    the first handle also pays for process-wide one-time costs (library code paged in, the crypto
 *    provider, allocator arenas), the second shows what each further handle costs.
 *
 * Output is `key=value` lines, read by run.sh.
 *
 *   mtls_bench --count call|header CONFIG.json API_NAME CALLS
 *
 * For instruction counts (tests/bench/callgrind.sh runs it under valgrind's callgrind): one client,
 * one warm-up, then CALLS more of the same and nothing else, no output. `call` is
 * dsapi_client_call (each must answer 200), each after a pause of 2 ms; `header` is
 * dsapi_client_authorization_header and dsapi_string_free (after the warm-up, a token-cache hit
 * for a Bearer API), back to back.
 *
 * The pause makes the count repeatable: the library skips its pool's liveness probe of a
 * connection taken out within 1 ms of the probe that put it back (src/transport/reuse.rs). Back to
 * back, a call is that fast natively but, under valgrind, 50 times slower, sometimes over and
 * sometimes under 1 ms. After 2 ms every call is probed, as any call more than 1 ms after the
 * previous one is.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "downstream_api.h"

/* Resident memory from /proc/self/statm: all of it, and the part not backed by a file
 * ("resident - shared": heap, stacks, anonymous mappings), in KiB. The file-backed part is mostly
 * the library's code and read-only data paged in on first use, shared with other processes. */
struct rss {
    long total_kib;
    long anon_kib;
};

static struct rss resident(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, total = 0, shared = 0;
    if (!f) {
        perror("/proc/self/statm");
        exit(2);
    }
    if (fscanf(f, "%ld %ld %ld", &size, &total, &shared) != 3) {
        fprintf(stderr, "cannot parse /proc/self/statm\n");
        exit(2);
    }
    fclose(f);
    long page_kib = sysconf(_SC_PAGESIZE) / 1024;
    struct rss r = {total * page_kib, (total - shared) * page_kib};
    return r;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the whole process (all threads, user + system): unlike wall time, not inflated by the
 * wake-up latency of a shared VM while a call waits for the server. */
static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, dsapi_status status) {
    char message[4096];
    size_t needed = 0;
    if (dsapi_last_error_message(message, sizeof message, &needed) != DSAPI_OK) {
        snprintf(message, sizeof message, "(message of %zu bytes)", needed);
    }
    fprintf(stderr, "%s failed: %s: %s\n", what, dsapi_status_str(status), message);
    exit(1);
}

/* One call that must answer 200; the response is freed. */
static void call_ok(const dsapi_client *client, const char *api, const char *overrides) {
    dsapi_response *response = NULL;
    dsapi_status status = dsapi_client_call(client, api, overrides, NULL, 0, &response);
    if (status != DSAPI_OK) {
        fail("dsapi_client_call", status);
    }
    uint16_t code = dsapi_response_status(response);
    if (code != 200) {
        size_t len = 0;
        const uint8_t *body = dsapi_response_body(response, &len);
        fprintf(stderr, "HTTP %u: %.*s\n", code, (int)len, (const char *)body);
        exit(1);
    }
    dsapi_response_free(response);
}

/* One dsapi_client_authorization_header call that must succeed; the header is freed. */
static void header_ok(const dsapi_client *client, const char *api) {
    char *header = NULL;
    dsapi_status status = dsapi_client_authorization_header(client, api, NULL, &header);
    if (status != DSAPI_OK) {
        fail("dsapi_client_authorization_header", status);
    }
    dsapi_string_free(header);
}

/* mtls_bench --count call|header CONFIG.json API_NAME CALLS: a warm-up, then CALLS of the same. */
static int count_calls(int argc, char **argv) {
    if (argc != 6 || (strcmp(argv[2], "call") != 0 && strcmp(argv[2], "header") != 0)) {
        fprintf(stderr, "usage: %s --count call|header CONFIG.json API_NAME CALLS\n", argv[0]);
        return 2;
    }
    int header = strcmp(argv[2], "header") == 0;
    const char *api = argv[4];
    long calls = strtol(argv[5], NULL, 10);
    if (calls < 1 || calls > 1000000) {
        fprintf(stderr, "CALLS must be 1..1000000\n");
        return 2;
    }
    dsapi_client *client = NULL;
    dsapi_status status = dsapi_client_new_from_file(argv[3], &client);
    if (status != DSAPI_OK) {
        fail("dsapi_client_new_from_file", status);
    }
    const struct timespec pause = {0, 2000000};
    for (long i = 0; i <= calls; i++) {
        if (header) {
            header_ok(client, api);
        } else {
            if (i > 0) {
                nanosleep(&pause, NULL);
            }
            call_ok(client, api, NULL);
        }
    }
    dsapi_client_free(client);
    return 0;
}

struct worker {
    const dsapi_client *client;
    const char *api;
    long calls;
};

static void *work(void *argument) {
    const struct worker *worker = argument;
    for (long i = 0; i < worker->calls; i++) {
        call_ok(worker->client, worker->api, "{\"RelativePath\": \"bench/threads\"}");
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--count") == 0) {
        return count_calls(argc, argv);
    }
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG.json API_NAME CALLS THREADS\n", argv[0]);
        return 2;
    }
    long threads = strtol(argv[4], NULL, 10);
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "THREADS must be 1..64\n");
        return 2;
    }
    const char *config = argv[1];
    const char *api = argv[2];
    long calls = strtol(argv[3], NULL, 10);
    if (calls < 1 || calls > 1000000) {
        fprintf(stderr, "CALLS must be 1..1000000\n");
        return 2;
    }
    printf("library_version=%s\n", dsapi_version());

    /* 1. Memory of the first client handle. */
    struct rss rss_before = resident();
    dsapi_client *client = NULL;
    dsapi_status status = dsapi_client_new_from_file(config, &client);
    if (status != DSAPI_OK) {
        fail("dsapi_client_new_from_file", status);
    }
    call_ok(client, api, NULL);
    struct rss rss_after = resident();
    printf("rss_before_kib=%ld\n", rss_before.total_kib);
    printf("rss_after_first_client_kib=%ld\n", rss_after.total_kib);
    printf("rss_delta_first_client_kib=%ld\n", rss_after.total_kib - rss_before.total_kib);
    printf("anon_delta_first_client_kib=%ld\n", rss_after.anon_kib - rss_before.anon_kib);

    /* 2. Throughput on the kept-alive connection. */
    double started = now_seconds();
    double cpu_started = cpu_seconds();
    for (long i = 0; i < calls; i++) {
        call_ok(client, api, NULL);
    }
    double elapsed = now_seconds() - started;
    double cpu = cpu_seconds() - cpu_started;
    printf("cpu_us_per_call=%.1f\n", cpu * 1e6 / (double)calls);
    printf("calls=%ld\n", calls);
    printf("elapsed_s=%.6f\n", elapsed);
    printf("requests_per_s=%.1f\n", (double)calls / elapsed);
    printf("us_per_call=%.1f\n", elapsed * 1e6 / (double)calls);

    /* 3. The same number of calls shared by several threads on the one client. */
    pthread_t ids[64];
    struct worker workers[64];
    started = now_seconds();
    for (long t = 0; t < threads; t++) {
        workers[t].client = client;
        workers[t].api = api;
        workers[t].calls = calls / threads + (t < calls % threads ? 1 : 0);
        if (pthread_create(&ids[t], NULL, work, &workers[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (long t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
    }
    elapsed = now_seconds() - started;
    printf("threads=%ld\n", threads);
    printf("threads_requests_per_s=%.1f\n", (double)calls / elapsed);

    /* 4. Memory of a second client handle. */
    struct rss rss_before_second = resident();
    dsapi_client *second = NULL;
    status = dsapi_client_new_from_file(config, &second);
    if (status != DSAPI_OK) {
        fail("dsapi_client_new_from_file (second)", status);
    }
    call_ok(second, api, "{\"RelativePath\": \"bench/rss2\"}");
    struct rss rss_after_second = resident();
    printf("rss_delta_second_client_kib=%ld\n",
           rss_after_second.total_kib - rss_before_second.total_kib);
    printf("anon_delta_second_client_kib=%ld\n",
           rss_after_second.anon_kib - rss_before_second.anon_kib);

    dsapi_client_free(second);
    dsapi_client_free(client);
    return 0;
}
