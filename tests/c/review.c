/*
 * The C ABI's documented rules checked value by value (spec/ffi.md
 * sections 1, 2 and 6, the header's doc comments), with buffers allocated
 * to the exact byte so that the sanitizers and valgrind catch a write past
 * a capacity:
 *
 * - every variable-length output follows the two-call protocol: NULL/0 is
 *   a size query, a buffer one element short is SHORT_BUFFER with the
 *   needed length and not one byte written, a NULL buffer with room is
 *   NULL_POINTER with the length untouched, a larger buffer keeps its tail;
 * - a failing call writes none of its outputs (handle out-pointers keep a
 *   non-NULL sentinel, structs and arrays keep their bytes), and a
 *   fault_index is written (0) on every failure that names no one;
 * - lengths and counts whose bytes overflow are INVALID_ARGUMENT and take
 *   nothing; unknown enum values are INVALID_ARGUMENT;
 * - overlapping input and output buffers give the results of separate ones;
 * - a handle never borrows: parameters, roster and identities freed right
 *   after the client and server are made, a malicious round still sums;
 * - a finished round and a spent client refuse what comes after, with the
 *   documented codes, and keep what they hold; server bytes that do not
 *   decode leave a client usable in every phase.
 *
 * Built by tests/c/run.sh like round.c: -std=c11 -Wall -Wextra -Werror,
 * run with -fsanitize=address,undefined, then under valgrind memcheck.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "secagg.h"

#define M 4
#define MAX_N 6
#define FILL 0xA5
/* A length the caller cannot have: its bytes exceed PTRDIFF_MAX. */
#define TOO_LONG ((size_t)PTRDIFF_MAX + 1)

/* A non-NULL value for handle out-pointers: a failing call must leave it. */
static max_align_t sentinel_storage;
#define SENTINEL(T) ((T *)(void *)&sentinel_storage)

static int all_bytes(const void *p, uint8_t value, size_t len) {
    const uint8_t *b = p;
    for (size_t k = 0; k < len; k++) {
        if (b[k] != value) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* The two-call protocol, for any output written as (buf, cap, len).       */

typedef SecaggStatus (*OutputFn)(const void *ctx, void *buf, size_t cap, size_t *len);

/*
 * Checks the protocol on `fn` (elements of `size` bytes) and returns a heap
 * copy of the output (its element count at `*count`). `stable` says whether
 * two calls give the same bytes (not for exports, which draw a nonce, nor
 * for a DP encoding, which draws noise).
 */
static void *check_output(const char *name, OutputFn fn, const void *ctx, size_t size,
                          int stable, size_t *count) {
    size_t need = 12345;
    SecaggStatus st = fn(ctx, NULL, 0, &need);
    if (st == SECAGG_STATUS_OK) {
        /* Nothing to write: the query is the whole call. */
        ASSERT(need == 0);
        *count = 0;
        return malloc(1);
    }
    if (st != SECAGG_STATUS_SHORT_BUFFER) {
        fprintf(stderr, "%s: size query returned %d\n", name, (int)st);
        exit(1);
    }
    ASSERT(need > 0 && need != 12345);
    size_t again = 0;
    EXPECT(fn(ctx, NULL, 0, &again), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(again == need);
    /* A short capacity with a NULL buffer is still a size query. */
    again = 0;
    EXPECT(fn(ctx, NULL, need - 1, &again), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(again == need);
    /* One element short, allocated to the byte: nothing written. */
    size_t short_bytes = (need - 1) * size;
    uint8_t *shortbuf = malloc(short_bytes ? short_bytes : 1);
    ASSERT(shortbuf != NULL);
    memset(shortbuf, FILL, short_bytes);
    again = 0;
    EXPECT(fn(ctx, shortbuf, need - 1, &again), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(again == need);
    ASSERT(all_bytes(shortbuf, FILL, short_bytes));
    free(shortbuf);
    /* No length out-pointer: refused, nothing written. */
    uint8_t *exact = malloc(need * size);
    ASSERT(exact != NULL);
    memset(exact, FILL, need * size);
    EXPECT(fn(ctx, exact, need, NULL), SECAGG_STATUS_NULL_POINTER);
    ASSERT(all_bytes(exact, FILL, need * size));
    /* A NULL buffer that claims room: refused, the length untouched. */
    size_t untouched = 777;
    EXPECT(fn(ctx, NULL, need, &untouched), SECAGG_STATUS_NULL_POINTER);
    ASSERT(untouched == 777);
    /* The exact size. */
    size_t got = 0;
    OK(fn(ctx, exact, need, &got));
    ASSERT(got == need);
    /* More room: the same length, the tail untouched. */
    uint8_t *big = malloc((need + 3) * size);
    ASSERT(big != NULL);
    memset(big, FILL, (need + 3) * size);
    got = 0;
    OK(fn(ctx, big, need + 3, &got));
    ASSERT(got == need);
    ASSERT(all_bytes(big + need * size, FILL, 3 * size));
    if (stable) {
        ASSERT(memcmp(big, exact, need * size) == 0);
    }
    free(big);
    *count = need;
    return exact;
}

typedef struct {
    const SecaggClient *client;
    const SecaggServer *server;
    const SecaggParams *params;
    const SecaggDpConfig *dp;
    uint32_t to;
    int32_t list;
    const uint8_t *key;
    SecaggRng *rng;
    const double *x;
    size_t x_len;
    const uint64_t *sum;
    size_t sum_len;
    size_t survivors;
    const uint8_t *seed;
    SecaggPrivacyReport *report;
} Ctx;

static SecaggStatus out_client_message(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_client_message(((const Ctx *)c)->client, buf, cap, len);
}
static SecaggStatus out_server_message(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_server_message(x->server, x->to, buf, cap, len);
}
static SecaggStatus out_server_clients(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_server_clients(x->server, x->list, buf, cap, len);
}
static SecaggStatus out_server_recipients(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_server_recipients(((const Ctx *)c)->server, buf, cap, len);
}
static SecaggStatus out_server_sum(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_server_sum(((const Ctx *)c)->server, buf, cap, len);
}
static SecaggStatus out_server_misbehaved(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_server_misbehaved(((const Ctx *)c)->server, buf, cap, len);
}
static SecaggStatus out_params_encode(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_params_encode(((const Ctx *)c)->params, buf, cap, len);
}
static SecaggStatus out_dp_config_encode(const void *c, void *buf, size_t cap, size_t *len) {
    return secagg_dp_config_encode(((const Ctx *)c)->dp, buf, cap, len);
}
static SecaggStatus out_dp_encode(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_dp_encode(x->dp, x->x, x->x_len, x->seed, buf, cap, len);
}
static SecaggStatus out_dp_decode(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_dp_decode(x->dp, x->sum, x->sum_len, x->survivors, x->seed, false, buf, cap, len,
                            x->report);
}
static SecaggStatus out_client_export(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_client_export(x->client, x->key, x->rng, buf, cap, len);
}
static SecaggStatus out_server_export(const void *c, void *buf, size_t cap, size_t *len) {
    const Ctx *x = c;
    return secagg_server_export(x->server, x->key, x->rng, buf, cap, len);
}

/* ---------------------------------------------------------------------- */
/* A semi-honest round driven step by step.                                */

typedef struct {
    uint32_t n;
    SecaggServer *server;
    SecaggClient *clients[MAX_N + 1];
    uint8_t round_id[32];
} Round;

static uint8_t *client_bytes(const SecaggClient *c, size_t *len) {
    size_t need = 0;
    EXPECT(secagg_client_message(c, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *buf = malloc(need);
    ASSERT(buf != NULL);
    OK(secagg_client_message(c, buf, need, len));
    return buf;
}

static uint8_t *server_bytes(const SecaggServer *s, uint32_t to, size_t *len) {
    size_t need = 0;
    SecaggStatus st = secagg_server_message(s, to, NULL, 0, &need);
    if (st == SECAGG_STATUS_NOT_FOUND) {
        return NULL;
    }
    EXPECT(st, SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *buf = malloc(need);
    ASSERT(buf != NULL);
    OK(secagg_server_message(s, to, buf, need, len));
    return buf;
}

/* Every client with a handle sends its pending message; `garbage` (0: none)
 * sends three junk bytes instead. */
static void collect(Round *r, uint32_t garbage) {
    for (uint32_t i = 1; i <= r->n; i++) {
        if (r->clients[i] == NULL) {
            continue;
        }
        uint32_t fault = 77;
        if (i == garbage) {
            static const uint8_t junk[3] = {0xFF, 0xFF, 0xFF};
            EXPECT(secagg_server_receive(r->server, i, junk, sizeof junk, &fault),
                   SECAGG_STATUS_CLIENT_MALFORMED);
            ASSERT(fault == i);
            continue;
        }
        size_t len = 0;
        uint8_t *msg = client_bytes(r->clients[i], &len);
        OK(secagg_server_receive(r->server, i, msg, len, &fault));
        ASSERT(fault == 0);
        free(msg);
    }
}

/* Hands every client the server's message of the last close (phase 0: keys,
 * 1: shares, 2: unmask); a client with none is freed (excluded). */
static void deliver(Round *r, int phase) {
    for (uint32_t i = 1; i <= r->n; i++) {
        if (r->clients[i] == NULL) {
            continue;
        }
        size_t len = 0;
        uint8_t *msg = server_bytes(r->server, i, &len);
        if (msg == NULL) {
            secagg_client_free(r->clients[i]);
            r->clients[i] = NULL;
            continue;
        }
        uint32_t fault = 77;
        if (phase == 0) {
            OK(secagg_client_receive_keys(r->clients[i], msg, len, NULL, &fault));
        } else if (phase == 1) {
            uint64_t input[M];
            for (uint32_t j = 0; j < M; j++) {
                input[j] = 10 * i + j;
            }
            OK(secagg_client_receive_shares(r->clients[i], msg, len, input, M, &fault));
        } else {
            OK(secagg_client_receive_unmask(r->clients[i], msg, len, &fault));
        }
        ASSERT(fault == 0);
        free(msg);
    }
}

static void round_start(Round *r, const SecaggParams *p, uint32_t n, uint8_t id, SecaggRng *rng) {
    memset(r, 0, sizeof *r);
    r->n = n;
    memset(r->round_id, id, sizeof r->round_id);
    OK(secagg_server_new(p, r->round_id, NULL, rng, &r->server));
    for (uint32_t i = 1; i <= n; i++) {
        OK(secagg_client_new(p, r->round_id, i, NULL, NULL, rng, &r->clients[i]));
    }
}

/* Every client sends its message, then the server closes the phase. */
static void collect_and_close(Round *r) {
    collect(r, 0);
    OK(secagg_server_close_phase(r->server));
}

/* A whole round; `garbage` sends junk at R0 (CLIENT_MALFORMED, excluded). */
static void round_run(Round *r, uint32_t garbage) {
    collect(r, garbage);
    OK(secagg_server_close_phase(r->server));
    for (int phase = 0; phase < 3; phase++) {
        deliver(r, phase);
        collect_and_close(r);
    }
}

/* The sum is that of the inputs deliver() gives (10 * i + j from client i):
 * `ids` is the survivors' indices added up, `count` how many they are. */
static void sum_is(const SecaggServer *s, uint64_t ids, uint64_t count) {
    uint64_t sum[M];
    size_t len = 0;
    OK(secagg_server_sum(s, sum, M, &len));
    ASSERT(len == M);
    for (uint32_t j = 0; j < M; j++) {
        ASSERT(sum[j] == 10 * ids + count * j);
    }
}

static void round_free(Round *r) {
    for (uint32_t i = 1; i <= r->n; i++) {
        secagg_client_free(r->clients[i]);
    }
    secagg_server_free(r->server);
}

static const uint8_t KEY[32] = {0x11, 0x22, 0x33};

/* ---------------------------------------------------------------------- */

static void two_call_protocol(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(4, 3, 32, M, &p));
    Round r;
    round_start(&r, p, 4, 21, NULL);
    Ctx ctx = {.params = p, .key = KEY};
    size_t count = 0;
    void *out;

    out = check_output("params_encode", out_params_encode, &ctx, 1, 1, &count);
    SecaggParams *back = NULL;
    OK(secagg_params_decode(out, count, &back));
    secagg_params_free(back);
    free(out);

    ctx.client = r.clients[1];
    out = check_output("client_message", out_client_message, &ctx, 1, 1, &count);
    free(out);
    out = check_output("client_export", out_client_export, &ctx, 1, 0, &count);
    SecaggClient *c = NULL;
    OK(secagg_client_import(out, count, KEY, r.round_id, SECAGG_CLIENT_PHASE_AWAITING_KEYS, &c));
    secagg_client_free(c);
    free(out);

    /* Before any close: no recipients (an empty list is a whole answer),
     * every client pending, no survivors yet. */
    ctx.server = r.server;
    out = check_output("server_recipients", out_server_recipients, &ctx, sizeof(uint32_t), 1,
                       &count);
    ASSERT(count == 0);
    free(out);
    ctx.list = SECAGG_CLIENT_LIST_PENDING;
    out = check_output("clients(PENDING)", out_server_clients, &ctx, sizeof(uint32_t), 1, &count);
    ASSERT(count == 4 && ((uint32_t *)out)[0] == 1 && ((uint32_t *)out)[3] == 4);
    free(out);
    size_t len = 99;
    EXPECT(secagg_server_clients(r.server, SECAGG_CLIENT_LIST_SURVIVORS, NULL, 0, &len),
           SECAGG_STATUS_OUT_OF_ORDER);
    ASSERT(len == 99);
    out = check_output("server_export", out_server_export, &ctx, 1, 0, &count);
    free(out);

    /* Client 4 sends garbage at R0: excluded, then named in the result. */
    round_run(&r, 4);
    ctx.list = SECAGG_CLIENT_LIST_EXCLUDED;
    out = check_output("clients(EXCLUDED)", out_server_clients, &ctx, sizeof(uint32_t), 1, &count);
    ASSERT(count == 1 && ((uint32_t *)out)[0] == 4);
    free(out);
    ctx.list = SECAGG_CLIENT_LIST_SURVIVORS;
    out = check_output("clients(SURVIVORS)", out_server_clients, &ctx, sizeof(uint32_t), 1,
                       &count);
    ASSERT(count == 3);
    free(out);
    out = check_output("server_sum", out_server_sum, &ctx, sizeof(uint64_t), 1, &count);
    ASSERT(count == M);
    for (uint32_t j = 0; j < M; j++) {
        ASSERT(((uint64_t *)out)[j] == 10 * (1 + 2 + 3) + 3 * j);
    }
    free(out);
    out = check_output("server_misbehaved", out_server_misbehaved, &ctx, sizeof(SecaggFault), 1,
                       &count);
    ASSERT(count == 1 && ((SecaggFault *)out)[0].index == 4 &&
           ((SecaggFault *)out)[0].code == SECAGG_STATUS_CLIENT_MALFORMED);
    free(out);
    /* The last close (the unmask one) has no message for anyone. */
    out = check_output("server_recipients(done)", out_server_recipients, &ctx, sizeof(uint32_t),
                       1, &count);
    ASSERT(count == 0);
    free(out);
    round_free(&r);

    /* Server messages of a close, per recipient; asking for one client's
     * length and then another's bytes gives each its own message. */
    round_start(&r, p, 4, 22, NULL);
    uint8_t session[32], session2[32];
    OK(secagg_server_session(r.server, session));
    ASSERT(all_bytes(session, 0, sizeof session));
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    /* After R0 closes the session id is set, and stays. */
    OK(secagg_server_session(r.server, session));
    OK(secagg_server_session(r.server, session2));
    ASSERT(!all_bytes(session, 0, sizeof session) && memcmp(session, session2, 32) == 0);
    ctx.server = r.server;
    /* Every client has a broadcast, listed in ascending order. */
    uint32_t *to = check_output("server_recipients(R0)", out_server_recipients, &ctx,
                                sizeof(uint32_t), 1, &count);
    ASSERT(count == 4 && to[0] == 1 && to[1] == 2 && to[2] == 3 && to[3] == 4);
    free(to);
    uint8_t *msgs[5] = {0};
    size_t lens[5] = {0};
    for (uint32_t i = 1; i <= 4; i++) {
        ctx.to = i;
        msgs[i] = check_output("server_message", out_server_message, &ctx, 1, 1, &lens[i]);
    }
    size_t l1 = 0, l2 = 0;
    EXPECT(secagg_server_message(r.server, 1, NULL, 0, &l1), SECAGG_STATUS_SHORT_BUFFER);
    EXPECT(secagg_server_message(r.server, 2, NULL, 0, &l2), SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *b1 = malloc(l1);
    ASSERT(b1 != NULL);
    OK(secagg_server_message(r.server, 1, b1, l1, &l1));
    ASSERT(l1 == lens[1] && memcmp(b1, msgs[1], l1) == 0);
    free(b1);
    /* No message for a client outside the roster or index 0; the length
     * is not written. */
    len = 99;
    EXPECT(secagg_server_message(r.server, 0, NULL, 0, &len), SECAGG_STATUS_NOT_FOUND);
    EXPECT(secagg_server_message(r.server, 5, NULL, 0, &len), SECAGG_STATUS_NOT_FOUND);
    EXPECT(secagg_server_message(r.server, UINT32_MAX, NULL, 0, &len), SECAGG_STATUS_NOT_FOUND);
    ASSERT(len == 99);
    for (uint32_t i = 1; i <= 4; i++) {
        free(msgs[i]);
    }
    round_free(&r);
    secagg_params_free(p);
    printf("two-call protocol: ok (every output: query, one short, NULL, exact, larger)\n");
}

/* DP outputs: encode and decode (the report untouched unless it succeeds). */
static void dp_outputs(void) {
    enum { N = 4, DIM = 8 };
    SecaggDpOptions opts;
    OK(secagg_dp_options_default(50.0, 1e-5, 1.0, DIM, 24, N, &opts));
    SecaggDpConfig *dp = NULL;
    OK(secagg_dp_config_new(&opts, &dp));
    Ctx ctx = {.dp = dp};
    size_t count = 0;
    void *out = check_output("dp_config_encode", out_dp_config_encode, &ctx, 1, 1, &count);
    SecaggDpConfig *back = NULL;
    OK(secagg_dp_config_decode(out, count, &back));
    secagg_dp_config_free(back);
    free(out);

    uint8_t seed[32] = {4};
    double x[DIM] = {0.1, -0.2, 0.3, -0.1, 0.05, 0.0, 0.2, -0.3};
    ctx.x = x;
    ctx.x_len = DIM;
    ctx.seed = seed;
    uint64_t *enc = check_output("dp_encode", out_dp_encode, &ctx, sizeof(uint64_t), 0, &count);
    ASSERT(count == DIM);

    SecaggPrivacyReport report;
    memset(&report, FILL, sizeof report);
    ctx.sum = enc;
    ctx.sum_len = count;
    ctx.survivors = N;
    ctx.report = &report;
    /* The size query and the short buffer leave the report alone. */
    size_t need = 0;
    EXPECT(out_dp_decode(&ctx, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(need == DIM);
    ASSERT(all_bytes(&report, FILL, sizeof report));
    double *dec = check_output("dp_decode", out_dp_decode, &ctx, sizeof(double), 1, &count);
    ASSERT(count == DIM);
    ASSERT(report.survivors == N && report.epsilon == 50.0 && report.rounds == 1);
    /* No report pointer: refused before anything is written. */
    double keep[DIM];
    memset(keep, FILL, sizeof keep);
    size_t len = 99;
    EXPECT(secagg_dp_decode(dp, enc, DIM, N, seed, false, keep, DIM, &len, NULL),
           SECAGG_STATUS_NULL_POINTER);
    ASSERT(len == 99 && all_bytes(keep, FILL, sizeof keep));

    /* In place: the output over the sum it decodes gives the same values. */
    uint64_t inplace[DIM];
    memcpy(inplace, enc, sizeof inplace);
    OK(secagg_dp_decode(dp, inplace, DIM, N, seed, false, (double *)(void *)inplace, DIM, &len,
                        &report));
    ASSERT(len == DIM && memcmp(inplace, dec, sizeof inplace) == 0);
    free(dec);
    free(enc);
    secagg_dp_config_free(dp);
    printf("DP outputs: ok (two-call protocol, report untouched on failure, in-place decode)\n");
}

/* ---------------------------------------------------------------------- */

static void outputs_only_on_success(void) {
    uint8_t id[32] = {1};
    SecaggParams *p = NULL, *base = NULL;
    OK(secagg_params_new(4, 3, 16, M, &base));

    /* Handle out-pointers keep their value on every failure. */
    p = SENTINEL(SecaggParams);
    EXPECT(secagg_params_new(4, 1, 16, M, &p), SECAGG_STATUS_PARAMS_THRESHOLD);
    ASSERT(p == SENTINEL(SecaggParams));
    EXPECT(secagg_params_new_harary(10, 3, 16, M, 3, id, &p), SECAGG_STATUS_PARAMS_DEGREE);
    EXPECT(secagg_params_new_harary(10, 3, 16, M, 4, NULL, &p), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_secagg_plus(100, 16, M, 0.1, 1.0, false, &p), SECAGG_STATUS_PARAMS_FRACTION);
    EXPECT(secagg_params_with_malicious(base, 3, &p), SECAGG_STATUS_PARAMS_NOT_UNIQUE);
    EXPECT(secagg_params_with_malicious(NULL, 0, &p), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_with_prg(base, 7, &p), SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_params_with_prg(base, INT32_MIN, &p), SECAGG_STATUS_INVALID_ARGUMENT);
    uint8_t enc[256];
    size_t enc_len = 0;
    OK(secagg_params_encode(base, enc, sizeof enc, &enc_len));
    EXPECT(secagg_params_decode(enc, enc_len - 1, &p), SECAGG_STATUS_DECODE_TRUNCATED);
    EXPECT(secagg_params_decode(id, TOO_LONG, &p), SECAGG_STATUS_INVALID_ARGUMENT);
    ASSERT(p == SENTINEL(SecaggParams));
    SecaggDpConfig *dp = SENTINEL(SecaggDpConfig);
    EXPECT(secagg_params_dp(base, &dp), SECAGG_STATUS_NOT_FOUND);
    ASSERT(dp == SENTINEL(SecaggDpConfig));

    SecaggIdentity *ident = SENTINEL(SecaggIdentity);
    EXPECT(secagg_identity_from_secret(NULL, &ident), SECAGG_STATUS_NULL_POINTER);
    ASSERT(ident == SENTINEL(SecaggIdentity));
    SecaggRoster *roster = SENTINEL(SecaggRoster);
    uint8_t zeros[64] = {0};
    EXPECT(secagg_roster_new(zeros, 2, &roster), SECAGG_STATUS_MISUSE_ROSTER);
    EXPECT(secagg_roster_new(zeros, SIZE_MAX / 32, &roster), SECAGG_STATUS_INVALID_ARGUMENT);
    /* A count whose bytes wrap around to 64 is refused, not read as two keys. */
    EXPECT(secagg_roster_new(zeros, SIZE_MAX / 32 + 3, &roster), SECAGG_STATUS_INVALID_ARGUMENT);
    ASSERT(roster == SENTINEL(SecaggRoster));

    SecaggServer *s = SENTINEL(SecaggServer);
    EXPECT(secagg_server_new(NULL, id, NULL, NULL, &s), SECAGG_STATUS_NULL_POINTER);
    ASSERT(s == SENTINEL(SecaggServer));
    SecaggClient *c = SENTINEL(SecaggClient);
    EXPECT(secagg_client_new(base, id, 5, NULL, NULL, NULL, &c), SECAGG_STATUS_MISUSE_CLIENT_INDEX);
    EXPECT(secagg_client_new(base, id, 0, NULL, NULL, NULL, &c), SECAGG_STATUS_MISUSE_CLIENT_INDEX);
    EXPECT(secagg_client_new(base, id, UINT32_MAX, NULL, NULL, NULL, &c),
           SECAGG_STATUS_MISUSE_CLIENT_INDEX);
    /* Semi-honest parameters take neither identity nor roster. */
    SecaggIdentity *lone = NULL;
    OK(secagg_identity_generate(NULL, &lone));
    EXPECT(secagg_client_new(base, id, 1, lone, NULL, NULL, &c), SECAGG_STATUS_MISUSE_IDENTITY);
    secagg_identity_free(lone);
    ASSERT(c == SENTINEL(SecaggClient));

    /* Imports: unknown phase codes, empty and oversized inputs. */
    SecaggClient *live = NULL;
    SecaggServer *slive = NULL;
    OK(secagg_client_new(base, id, 2, NULL, NULL, NULL, &live));
    OK(secagg_server_new(base, id, NULL, NULL, &slive));
    uint8_t sealed[4096], ssealed[4096];
    size_t len = 0, slen = 0;
    OK(secagg_client_export(live, KEY, NULL, sealed, sizeof sealed, &len));
    OK(secagg_server_export(slive, KEY, NULL, ssealed, sizeof ssealed, &slen));
    const int32_t bad_codes[] = {6, 7, 99, -1, INT32_MIN, INT32_MAX};
    for (size_t k = 0; k < sizeof bad_codes / sizeof bad_codes[0]; k++) {
        EXPECT(secagg_client_import(sealed, len, KEY, id, bad_codes[k], &c),
               SECAGG_STATUS_INVALID_ARGUMENT);
        EXPECT(secagg_server_import(ssealed, slen, KEY, id, bad_codes[k], &s),
               SECAGG_STATUS_INVALID_ARGUMENT);
    }
    EXPECT(secagg_client_import(NULL, 0, KEY, id, 0, &c), SECAGG_STATUS_STATE_MALFORMED);
    EXPECT(secagg_server_import(NULL, 0, KEY, id, 0, &s), SECAGG_STATUS_STATE_MALFORMED);
    EXPECT(secagg_client_import(sealed, TOO_LONG, KEY, id, 0, &c), SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_server_import(ssealed, TOO_LONG, KEY, id, 0, &s), SECAGG_STATUS_INVALID_ARGUMENT);
    /* The role, then the phase the export was made in. */
    EXPECT(secagg_client_import(ssealed, slen, KEY, id, 0, &c), SECAGG_STATUS_STATE_ROLE);
    EXPECT(secagg_server_import(sealed, len, KEY, id, 0, &s), SECAGG_STATUS_STATE_ROLE);
    EXPECT(secagg_client_import(sealed, len, KEY, id, SECAGG_CLIENT_PHASE_OVER, &c),
           SECAGG_STATUS_STATE_PHASE);
    EXPECT(secagg_server_import(ssealed, slen, KEY, id, SECAGG_SERVER_PHASE_OVER, &s),
           SECAGG_STATUS_STATE_PHASE);
    ASSERT(c == SENTINEL(SecaggClient) && s == SENTINEL(SecaggServer));
    /* The imported client keeps its index. */
    OK(secagg_client_import(sealed, len, KEY, id, 0, &c));
    uint32_t index = 0;
    OK(secagg_client_index(c, &index));
    ASSERT(index == 2);
    secagg_client_free(c);

    /* DP constructors. */
    SecaggDpOptions opts, before;
    memset(&opts, FILL, sizeof opts);
    EXPECT(secagg_dp_options_default(0.0, 1e-5, 1.0, 8, 24, 4, &opts), SECAGG_STATUS_DP_EPSILON);
    EXPECT(secagg_dp_options_default(1.0, 1.0, 1.0, 8, 24, 4, &opts), SECAGG_STATUS_DP_DELTA);
    EXPECT(secagg_dp_options_default(1.0, 1e-5, -1.0, 8, 24, 4, &opts), SECAGG_STATUS_DP_CLIP);
    EXPECT(secagg_dp_options_default(1.0, 1e-5, 1.0, 8, 0, 4, &opts), SECAGG_STATUS_DP_BITS);
    EXPECT(secagg_dp_options_default(1.0, 1e-5, 1.0, 8, 65, 4, &opts), SECAGG_STATUS_DP_BITS);
    ASSERT(all_bytes(&opts, FILL, sizeof opts));
    OK(secagg_dp_options_default(50.0, 1e-5, 1.0, 8, 24, 4, &opts));
    before = opts;
    dp = SENTINEL(SecaggDpConfig);
    opts.mechanism = 2;
    EXPECT(secagg_dp_config_new(&opts, &dp), SECAGG_STATUS_INVALID_ARGUMENT);
    opts.mechanism = 7;
    EXPECT(secagg_dp_config_new(&opts, &dp), SECAGG_STATUS_INVALID_ARGUMENT);
    opts.mechanism = UINT32_MAX;
    EXPECT(secagg_dp_config_new(&opts, &dp), SECAGG_STATUS_INVALID_ARGUMENT);
    opts = before;
    opts.rounds = 0;
    EXPECT(secagg_dp_config_new(&opts, &dp), SECAGG_STATUS_DP_ROUNDS);
    EXPECT(secagg_dp_config_new(NULL, &dp), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_dp_config_decode(NULL, 0, &dp), SECAGG_STATUS_DP_DECODE);
    EXPECT(secagg_dp_config_decode(id, TOO_LONG, &dp), SECAGG_STATUS_INVALID_ARGUMENT);
    ASSERT(dp == SENTINEL(SecaggDpConfig));

    /* Scalar and fixed-size outputs of a call on a NULL handle. */
    SecaggClientPhase cph = (SecaggClientPhase)77;
    EXPECT(secagg_client_phase(NULL, &cph), SECAGG_STATUS_NULL_POINTER);
    ASSERT((int)cph == 77);
    SecaggServerPhase sph = (SecaggServerPhase)77;
    EXPECT(secagg_server_phase(NULL, &sph), SECAGG_STATUS_NULL_POINTER);
    ASSERT((int)sph == 77);
    SecaggOutcome oc = (SecaggOutcome)77;
    uint32_t who = 77;
    EXPECT(secagg_server_outcome(NULL, &oc, &who), SECAGG_STATUS_NULL_POINTER);
    ASSERT((int)oc == 77 && who == 77);
    /* An outcome out-pointer is required; the index is not written then. */
    EXPECT(secagg_server_outcome(slive, NULL, &who), SECAGG_STATUS_NULL_POINTER);
    ASSERT(who == 77);
    index = 77;
    EXPECT(secagg_client_index(NULL, &index), SECAGG_STATUS_NULL_POINTER);
    ASSERT(index == 77);
    uint32_t n = 77, t = 77, dim = 77, degree = 77;
    uint8_t bits = 77;
    bool mal = true;
    EXPECT(secagg_params_info(NULL, &n, &t, &bits, &dim, &degree, &mal), SECAGG_STATUS_NULL_POINTER);
    ASSERT(n == 77 && t == 77 && bits == 77 && dim == 77 && degree == 77 && mal);
    OK(secagg_params_info(base, NULL, NULL, NULL, NULL, NULL, NULL));
    OK(secagg_params_info(base, &n, &t, &bits, &dim, &degree, &mal));
    ASSERT(n == 4 && t == 3 && bits == 16 && dim == M && degree == 3 && !mal);
    SecaggPrg prg = (SecaggPrg)77;
    EXPECT(secagg_params_prg(NULL, &prg), SECAGG_STATUS_NULL_POINTER);
    ASSERT((int)prg == 77);
    size_t pd = 77;
    EXPECT(secagg_dp_config_padded_dim(NULL, &pd), SECAGG_STATUS_NULL_POINTER);
    ASSERT(pd == 77);
    memset(&opts, FILL, sizeof opts);
    EXPECT(secagg_dp_config_options(NULL, &opts), SECAGG_STATUS_NULL_POINTER);
    ASSERT(all_bytes(&opts, FILL, sizeof opts));
    uint8_t key[32];
    memset(key, FILL, sizeof key);
    EXPECT(secagg_identity_public_key(NULL, key), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_identity_export_secret(NULL, key), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_session(NULL, key), SECAGG_STATUS_NULL_POINTER);
    ASSERT(all_bytes(key, FILL, sizeof key));
    /* The session is all zero before R0 closes. */
    OK(secagg_server_session(slive, key));
    ASSERT(all_bytes(key, 0, sizeof key));
    /* Exports: a failure writes no length. */
    len = 77;
    EXPECT(secagg_client_export(live, NULL, NULL, sealed, sizeof sealed, &len),
           SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_export(NULL, KEY, NULL, sealed, sizeof sealed, &len),
           SECAGG_STATUS_NULL_POINTER);
    ASSERT(len == 77);

    secagg_client_free(live);
    secagg_server_free(slive);
    secagg_params_free(base);
    printf("outputs only on success: ok (handles, scalars, structs and lengths kept)\n");
}

/* ---------------------------------------------------------------------- */

/* fault_index is written on every call that has one: 0 unless a client is
 * at fault (or a server fault names a peer). */
static void fault_index_always_written(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 8, M, &p));
    Round r;
    round_start(&r, p, 3, 31, NULL);
    SecaggClient *c = r.clients[1];
    uint8_t junk[8] = {0xFF, 0xFF, 0xFF};
    uint64_t input[M] = {1, 2, 3, 4};
    uint32_t fault;
    SecaggClientPhase ph;
#define FAULT0(call, want)      \
    do {                        \
        fault = 77;             \
        EXPECT(call, want);     \
        ASSERT(fault == 0);     \
    } while (0)
    FAULT0(secagg_client_receive_keys(NULL, junk, 3, NULL, &fault), SECAGG_STATUS_NULL_POINTER);
    FAULT0(secagg_client_receive_keys(c, NULL, 3, NULL, &fault), SECAGG_STATUS_NULL_POINTER);
    FAULT0(secagg_client_receive_keys(c, junk, TOO_LONG, NULL, &fault),
           SECAGG_STATUS_INVALID_ARGUMENT);
    /* The empty input: a broadcast that does not decode, the client usable. */
    FAULT0(secagg_client_receive_keys(c, NULL, 0, NULL, &fault), SECAGG_STATUS_SERVER_MALFORMED);
    FAULT0(secagg_client_receive_keys(c, junk, 3, NULL, &fault), SECAGG_STATUS_SERVER_MALFORMED);
    FAULT0(secagg_client_receive_shares(c, junk, 3, input, M, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    FAULT0(secagg_client_receive_shares(c, junk, 3, input, SIZE_MAX / 8 + 1, &fault),
           SECAGG_STATUS_INVALID_ARGUMENT);
    FAULT0(secagg_client_receive_consistency(c, junk, 3, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    FAULT0(secagg_client_receive_consistency(c, junk, TOO_LONG, &fault),
           SECAGG_STATUS_INVALID_ARGUMENT);
    FAULT0(secagg_client_receive_unmask(c, junk, 3, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    FAULT0(secagg_client_receive_unmask(NULL, junk, 3, &fault), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_client_phase(c, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_AWAITING_KEYS);

    /* Server: a caller's error names no one; a client's names it. */
    SecaggOutcome oc;
    uint32_t who;
    FAULT0(secagg_server_receive(NULL, 1, junk, 3, &fault), SECAGG_STATUS_NULL_POINTER);
    FAULT0(secagg_server_receive(r.server, 1, junk, TOO_LONG, &fault),
           SECAGG_STATUS_INVALID_ARGUMENT);
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_NONE && who == 0);
    fault = 0;
    EXPECT(secagg_server_receive(r.server, UINT32_MAX, junk, 3, &fault),
           SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);
    ASSERT(fault == UINT32_MAX);
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_IGNORED && who == UINT32_MAX);
    fault = 77;
    EXPECT(secagg_server_receive(r.server, 0, junk, 3, &fault), SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);
    ASSERT(fault == 0);
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_IGNORED && who == 0);
    /* The empty message from a client of the roster: malformed, excluded. */
    fault = 0;
    EXPECT(secagg_server_receive(r.server, 3, NULL, 0, &fault), SECAGG_STATUS_CLIENT_MALFORMED);
    ASSERT(fault == 3);
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_EXCLUDED && who == 3);
    /* Success writes 0 too. */
    size_t len = 0;
    uint8_t *msg = client_bytes(c, &len);
    FAULT0(secagg_server_receive(r.server, 1, msg, len, &fault), SECAGG_STATUS_OK);
    free(msg);
    secagg_client_free(r.clients[3]);
    r.clients[3] = NULL;
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    msg = server_bytes(r.server, 1, &len);
    ASSERT(msg != NULL);
    FAULT0(secagg_client_receive_keys(c, msg, len, NULL, &fault), SECAGG_STATUS_OK);
    /* Now awaiting shares: a wrong input changes nothing and names no one. */
    FAULT0(secagg_client_receive_keys(c, msg, len, NULL, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    free(msg);
    FAULT0(secagg_client_receive_shares(c, junk, 3, input, M - 1, &fault),
           SECAGG_STATUS_MISUSE_INPUT_LENGTH);
    FAULT0(secagg_client_receive_shares(c, junk, 3, NULL, 0, &fault),
           SECAGG_STATUS_MISUSE_INPUT_LENGTH);
    input[0] = 256; /* b = 8 */
    FAULT0(secagg_client_receive_shares(c, junk, 3, input, M, &fault),
           SECAGG_STATUS_MISUSE_INPUT_RANGE);
    OK(secagg_client_phase(c, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_AWAITING_SHARES);
#undef FAULT0
    round_free(&r);
    secagg_params_free(p);
    printf("fault_index: ok (0 on success and on every failure naming no one)\n");
}

/* ---------------------------------------------------------------------- */

static void pending_is(const SecaggServer *s, const uint32_t *want, size_t n) {
    uint32_t got[MAX_N];
    size_t len = 0;
    OK(secagg_server_clients(s, SECAGG_CLIENT_LIST_PENDING, got, MAX_N, &len));
    ASSERT(len == n);
    ASSERT(n == 0 || memcmp(got, want, n * sizeof *got) == 0);
}

/* secagg_server_receive_all: a caller's error (overflowing counts and
 * lengths included) takes nothing, writes nothing and leaves the outcome
 * NONE; output arrays may alias the senders. */
static void receive_all_arguments(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    Round r;
    round_start(&r, p, 3, 41, NULL);
    size_t l1 = 0, l2 = 0;
    uint8_t *m1 = client_bytes(r.clients[1], &l1), *m2 = client_bytes(r.clients[2], &l2);
    static const uint8_t junk[3] = {0xFF, 0xFF, 0xFF};
    const uint32_t everyone[3] = {1, 2, 3};

    /* Make the outcome IGNORED first, so that NONE afterwards is written. */
    uint32_t fault = 0;
    EXPECT(secagg_server_receive(r.server, 9, junk, 3, &fault), SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);

    uint32_t senders[2] = {1, 2};
    const uint8_t *messages[2] = {m1, m2};
    size_t lens[2] = {l1, TOO_LONG};
    SecaggStatus statuses[2];
    uint32_t faults[2];
    SecaggOutcome outcomes[2];
    memset(statuses, FILL, sizeof statuses);
    memset(faults, FILL, sizeof faults);
    memset(outcomes, FILL, sizeof outcomes);
    SecaggOutcome oc = SECAGG_OUTCOME_ABORTED;
    uint32_t who = 77;
#define UNTOUCHED()                                                                    \
    do {                                                                               \
        ASSERT(all_bytes(statuses, FILL, sizeof statuses));                            \
        ASSERT(all_bytes(faults, FILL, sizeof faults));                                \
        ASSERT(all_bytes(outcomes, FILL, sizeof outcomes));                            \
        pending_is(r.server, everyone, 3);                                             \
        OK(secagg_server_outcome(r.server, &oc, &who));                                \
        ASSERT(oc == SECAGG_OUTCOME_NONE && who == 0);                                 \
        EXPECT(secagg_server_receive(r.server, 9, junk, 3, &fault),                    \
               SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);                                   \
    } while (0)
    /* The second message's length overflows: the first is not taken. */
    EXPECT(secagg_server_receive_all(r.server, 2, senders, messages, lens, statuses, faults,
                                     outcomes),
           SECAGG_STATUS_INVALID_ARGUMENT);
    UNTOUCHED();
    lens[1] = l2;
    /* Counts whose arrays' bytes overflow. */
    EXPECT(secagg_server_receive_all(r.server, SIZE_MAX, senders, messages, lens, statuses,
                                     faults, outcomes),
           SECAGG_STATUS_INVALID_ARGUMENT);
    UNTOUCHED();
    EXPECT(secagg_server_receive_all(r.server, SIZE_MAX / 4 + 1, senders, messages, lens, statuses,
                                     faults, outcomes),
           SECAGG_STATUS_INVALID_ARGUMENT);
    UNTOUCHED();
    EXPECT(secagg_server_receive_all(r.server, SIZE_MAX / 8 + 1, senders, messages, lens, statuses,
                                     faults, outcomes),
           SECAGG_STATUS_INVALID_ARGUMENT);
    UNTOUCHED();
    /* The senders' bytes fit, the pointers' and lengths' do not. */
    EXPECT(secagg_server_receive_all(r.server, (size_t)PTRDIFF_MAX / 8 + 1, senders, messages, lens,
                                     statuses, faults, outcomes),
           SECAGG_STATUS_INVALID_ARGUMENT);
    UNTOUCHED();
    /* NULL arrays with a count, each one. */
    EXPECT(secagg_server_receive_all(r.server, 2, NULL, messages, lens, statuses, faults, outcomes),
           SECAGG_STATUS_NULL_POINTER);
    UNTOUCHED();
    EXPECT(secagg_server_receive_all(r.server, 2, senders, messages, NULL, statuses, faults,
                                     outcomes),
           SECAGG_STATUS_NULL_POINTER);
    UNTOUCHED();
    EXPECT(secagg_server_receive_all(r.server, 2, senders, messages, lens, NULL, faults, outcomes),
           SECAGG_STATUS_NULL_POINTER);
    UNTOUCHED();
#undef UNTOUCHED
    /* An empty batch: OK, nothing written, the outcome NONE. */
    OK(secagg_server_receive_all(r.server, 0, senders, messages, lens, statuses, faults, outcomes));
    ASSERT(all_bytes(statuses, FILL, sizeof statuses));
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_NONE && who == 0);

    /* Statuses and fault indices written over the senders array itself:
     * the same results as separate arrays on a twin server. */
    SecaggServer *twin = NULL;
    OK(secagg_server_new(p, r.round_id, NULL, NULL, &twin));
    uint32_t batch_senders[4] = {1, 7, 2, 1};
    const uint8_t *batch_msgs[4] = {m1, junk, m2, junk};
    size_t batch_lens[4] = {l1, 3, l2, 3};
    SecaggStatus want_st[4];
    uint32_t want_fault[4];
    SecaggOutcome want_oc[4];
    OK(secagg_server_receive_all(twin, 4, batch_senders, batch_msgs, batch_lens, want_st,
                                 want_fault, want_oc));
    ASSERT(want_st[0] == SECAGG_STATUS_OK && want_st[1] == SECAGG_STATUS_CLIENT_UNKNOWN_SENDER &&
           want_st[2] == SECAGG_STATUS_OK && want_st[3] == SECAGG_STATUS_CLIENT_DUPLICATE);
    ASSERT(want_fault[0] == 0 && want_fault[1] == 7 && want_fault[2] == 0 && want_fault[3] == 1);
    /* A different second AdvertiseKeys: excluded, its first withdrawn
     * (spec/protocol.md section 5.4). */
    ASSERT(want_oc[0] == SECAGG_OUTCOME_NONE && want_oc[1] == SECAGG_OUTCOME_IGNORED &&
           want_oc[2] == SECAGG_OUTCOME_NONE && want_oc[3] == SECAGG_OUTCOME_EXCLUDED);
    OK(secagg_server_outcome(twin, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_EXCLUDED && who == 1);
    _Static_assert(sizeof(SecaggStatus) == sizeof(uint32_t), "a 32-bit enum");
    void *shared = malloc(sizeof batch_senders);
    ASSERT(shared != NULL);
    memcpy(shared, batch_senders, sizeof batch_senders);
    SecaggOutcome got_oc[4];
    OK(secagg_server_receive_all(r.server, 4, shared, batch_msgs, batch_lens, shared, NULL,
                                 got_oc));
    SecaggStatus got_st[4];
    memcpy(got_st, shared, sizeof got_st);
    ASSERT(memcmp(got_st, want_st, sizeof got_st) == 0);
    ASSERT(memcmp(got_oc, want_oc, sizeof got_oc) == 0);
    memcpy(shared, batch_senders, sizeof batch_senders);
    SecaggServer *third = NULL;
    OK(secagg_server_new(p, r.round_id, NULL, NULL, &third));
    OK(secagg_server_receive_all(third, 4, shared, batch_msgs, batch_lens, want_st, shared, NULL));
    ASSERT(memcmp(shared, want_fault, sizeof want_fault) == 0);
    const uint32_t left[1] = {3};
    pending_is(r.server, left, 1);
    pending_is(twin, left, 1);
    pending_is(third, left, 1);
    free(shared);
    secagg_server_free(third);
    secagg_server_free(twin);
    free(m1);
    free(m2);
    round_free(&r);
    secagg_params_free(p);
    printf("receive_all arguments: ok (overflowing counts and lengths take nothing; aliased "
           "outputs)\n");
}

/* ---------------------------------------------------------------------- */

/* A handle never borrows: what it was made from may be freed at once. */
static void no_borrowing(void) {
    enum { N = 4 };
    SecaggParams *base = NULL, *mal = NULL, *aes = NULL;
    OK(secagg_params_new(N, 3, 32, M, &base));
    uint8_t enc_before[256], enc_after[256];
    size_t lb = 0, la = 0;
    OK(secagg_params_encode(base, enc_before, sizeof enc_before, &lb));
    OK(secagg_params_with_malicious(base, 0, &mal));
    OK(secagg_params_with_prg(mal, SECAGG_PRG_AES128_CTR, &aes));
    /* The _with_* functions leave their argument as it was. */
    OK(secagg_params_encode(base, enc_after, sizeof enc_after, &la));
    ASSERT(la == lb && memcmp(enc_before, enc_after, la) == 0);
    bool malicious = true;
    OK(secagg_params_info(base, NULL, NULL, NULL, NULL, NULL, &malicious));
    ASSERT(!malicious);
    SecaggPrg prg = SECAGG_PRG_AES128_CTR;
    OK(secagg_params_prg(mal, &prg));
    ASSERT(prg == SECAGG_PRG_CHACHA20);
    /* A new handle even when nothing changes: it outlives its argument
     * and each is freed once. */
    SecaggParams *same = NULL;
    OK(secagg_params_with_prg(base, SECAGG_PRG_CHACHA20, &same));
    ASSERT(same != NULL && same != base);
    secagg_params_free(base);
    OK(secagg_params_encode(same, enc_after, sizeof enc_after, &la));
    ASSERT(la == lb && memcmp(enc_before, enc_after, la) == 0);
    secagg_params_free(same);
    secagg_params_free(mal);

    SecaggIdentity *ids[N + 1] = {0};
    uint8_t keys[32 * N];
    SecaggRng *rng = NULL;
    OK(secagg_rng_new_seeded(77, &rng));
    for (uint32_t i = 1; i <= N; i++) {
        OK(secagg_identity_generate(rng, &ids[i]));
        OK(secagg_identity_public_key(ids[i], keys + 32 * (i - 1)));
    }
    SecaggRoster *roster = NULL;
    OK(secagg_roster_new(keys, N, &roster));
    Round r;
    memset(&r, 0, sizeof r);
    r.n = N;
    memset(r.round_id, 51, sizeof r.round_id);
    OK(secagg_server_new(aes, r.round_id, roster, rng, &r.server));
    for (uint32_t i = 1; i <= N; i++) {
        OK(secagg_client_new(aes, r.round_id, i, ids[i], roster, rng, &r.clients[i]));
        secagg_identity_free(ids[i]);
    }
    secagg_roster_free(roster);
    secagg_params_free(aes);
    /* Every handle the round was made from is gone (freed memory is
     * poisoned under ASan and tracked by valgrind). */
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    deliver(&r, 0);
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    deliver(&r, 1);
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    /* The consistency round. Each request handed to the unmask function
     * first does not decode as an unmask request: refused, the client
     * waits as before; so do the earlier functions. */
    for (uint32_t i = 1; i <= N; i++) {
        size_t len = 0;
        uint8_t *msg = server_bytes(r.server, i, &len);
        ASSERT(msg != NULL);
        uint32_t fault = 77;
        EXPECT(secagg_client_receive_unmask(r.clients[i], msg, len, &fault),
               SECAGG_STATUS_SERVER_MALFORMED);
        ASSERT(fault == 0);
        EXPECT(secagg_client_receive_keys(r.clients[i], msg, len, NULL, &fault),
               SECAGG_STATUS_OUT_OF_ORDER);
        uint64_t input[M] = {0};
        EXPECT(secagg_client_receive_shares(r.clients[i], msg, len, input, M, &fault),
               SECAGG_STATUS_OUT_OF_ORDER);
        SecaggClientPhase ph;
        OK(secagg_client_phase(r.clients[i], &ph));
        ASSERT(ph == SECAGG_CLIENT_PHASE_AWAITING_CONSISTENCY);
        OK(secagg_client_receive_consistency(r.clients[i], msg, len, &fault));
        ASSERT(fault == 0);
        free(msg);
    }
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    /* An unmask request handed to the consistency function: refused as
     * undecodable, the client still awaits it. */
    for (uint32_t i = 1; i <= N; i++) {
        size_t len = 0;
        uint8_t *msg = server_bytes(r.server, i, &len);
        ASSERT(msg != NULL);
        uint32_t fault = 77;
        EXPECT(secagg_client_receive_consistency(r.clients[i], msg, len, &fault),
               SECAGG_STATUS_SERVER_MALFORMED);
        ASSERT(fault == 0);
        SecaggClientPhase ph;
        OK(secagg_client_phase(r.clients[i], &ph));
        ASSERT(ph == SECAGG_CLIENT_PHASE_AWAITING_UNMASK);
        free(msg);
    }
    deliver(&r, 2);
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    sum_is(r.server, 1 + 2 + 3 + 4, 4);
    round_free(&r);
    secagg_rng_free(rng);
    printf("no borrowing: ok (a malicious AES round after its params, roster, identities are "
           "freed)\n");
}

/* ---------------------------------------------------------------------- */

/* After the round: the finished server, a done client, a spent client. */
static void after_the_round(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    Round r;
    round_start(&r, p, 3, 61, NULL);
    round_run(&r, 0);
    uint64_t sum[M], again[M];
    size_t len = 0;
    OK(secagg_server_sum(r.server, sum, M, &len));

    /* The server: everything is ROUND_OVER, names no one, and the result
     * stays readable. */
    uint32_t fault = 77;
    size_t mlen = 0;
    uint8_t *late = client_bytes(r.clients[1], &mlen);
    EXPECT(secagg_server_receive(r.server, 1, late, mlen, &fault), SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    SecaggOutcome oc = SECAGG_OUTCOME_ABORTED;
    uint32_t who = 77;
    OK(secagg_server_outcome(r.server, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_NONE && who == 0);
    const uint32_t one[1] = {1};
    const uint8_t *msgs[1] = {late};
    SecaggStatus st = SECAGG_STATUS_OK;
    uint32_t f1 = 77;
    OK(secagg_server_receive_all(r.server, 1, one, msgs, &mlen, &st, &f1, NULL));
    ASSERT(st == SECAGG_STATUS_MISUSE_ROUND_OVER && f1 == 0);
    EXPECT(secagg_server_close_phase(r.server), SECAGG_STATUS_MISUSE_ROUND_OVER);
    OK(secagg_server_sum(r.server, again, M, &len));
    ASSERT(memcmp(sum, again, sizeof sum) == 0);
    SecaggServerPhase sph;
    OK(secagg_server_phase(r.server, &sph));
    ASSERT(sph == SECAGG_SERVER_PHASE_OVER);

    /* Its export, imported as OVER: no result, still over. */
    uint8_t sealed[8192];
    size_t slen = 0;
    OK(secagg_server_export(r.server, KEY, NULL, sealed, sizeof sealed, &slen));
    SecaggServer *back = NULL;
    EXPECT(secagg_server_import(sealed, slen, KEY, r.round_id, SECAGG_SERVER_PHASE_UNMASK, &back),
           SECAGG_STATUS_STATE_PHASE);
    OK(secagg_server_import(sealed, slen, KEY, r.round_id, SECAGG_SERVER_PHASE_OVER, &back));
    OK(secagg_server_phase(back, &sph));
    ASSERT(sph == SECAGG_SERVER_PHASE_OVER);
    len = 99;
    EXPECT(secagg_server_sum(back, again, M, &len), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_server_misbehaved(back, NULL, 0, &len), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_server_clients(back, SECAGG_CLIENT_LIST_SURVIVORS, NULL, 0, &len),
           SECAGG_STATUS_OUT_OF_ORDER);
    ASSERT(len == 99);
    EXPECT(secagg_server_message(back, 1, NULL, 0, &len), SECAGG_STATUS_NOT_FOUND);
    OK(secagg_server_recipients(back, NULL, 0, &len));
    ASSERT(len == 0);
    OK(secagg_server_outcome(back, &oc, &who));
    ASSERT(oc == SECAGG_OUTCOME_NONE && who == 0);
    EXPECT(secagg_server_close_phase(back), SECAGG_STATUS_MISUSE_ROUND_OVER);
    secagg_server_free(back);

    /* A done client: the earlier receives are out of order and change
     * nothing; its answer is still there. */
    SecaggClient *c = r.clients[1];
    SecaggClientPhase ph;
    OK(secagg_client_phase(c, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_DONE);
    uint64_t input[M] = {0};
    fault = 77;
    EXPECT(secagg_client_receive_keys(c, late, mlen, NULL, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    ASSERT(fault == 0);
    EXPECT(secagg_client_receive_shares(c, late, mlen, input, M, &fault),
           SECAGG_STATUS_OUT_OF_ORDER);
    /* Semi-honest: there is no consistency request to answer. */
    EXPECT(secagg_client_receive_consistency(c, late, mlen, &fault), SECAGG_STATUS_MISUSE_IDENTITY);
    OK(secagg_client_phase(c, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_DONE);
    size_t mlen2 = 0;
    uint8_t *still = client_bytes(c, &mlen2);
    ASSERT(mlen2 == mlen && memcmp(still, late, mlen) == 0);
    free(still);
    free(late);

    /* A spent client (its own keys missing from the broadcast): every
     * receive is ROUND_OVER and names no one; its last message stays. */
    Round r2;
    round_start(&r2, p, 3, 62, NULL);
    SecaggClient *stranger = NULL;
    OK(secagg_client_new(p, r2.round_id, 2, NULL, NULL, NULL, &stranger));
    size_t alen = 0;
    uint8_t *advert = client_bytes(stranger, &alen);
    collect(&r2, 0);
    OK(secagg_server_close_phase(r2.server));
    size_t blen = 0;
    uint8_t *bcast = server_bytes(r2.server, 2, &blen);
    ASSERT(bcast != NULL);
    EXPECT(secagg_client_receive_keys(stranger, bcast, blen, NULL, &fault),
           SECAGG_STATUS_SERVER_MISSING_OWN_KEYS);
    OK(secagg_client_phase(stranger, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_OVER);
    fault = 77;
    EXPECT(secagg_client_receive_keys(stranger, bcast, blen, NULL, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    fault = 77;
    EXPECT(secagg_client_receive_shares(stranger, bcast, blen, input, M, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    fault = 77;
    EXPECT(secagg_client_receive_consistency(stranger, bcast, blen, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    fault = 77;
    EXPECT(secagg_client_receive_unmask(stranger, bcast, blen, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    /* Bytes that do not decode are ROUND_OVER too, in every receive. */
    const uint8_t garbage[1] = {0x02};
    fault = 77;
    EXPECT(secagg_client_receive_keys(stranger, garbage, 1, NULL, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    EXPECT(secagg_client_receive_shares(stranger, garbage, 1, input, M, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    EXPECT(secagg_client_receive_consistency(stranger, garbage, 1, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    EXPECT(secagg_client_receive_unmask(stranger, garbage, 1, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    ASSERT(fault == 0);
    uint8_t *kept = client_bytes(stranger, &mlen);
    ASSERT(mlen == alen && memcmp(kept, advert, alen) == 0);
    /* Exported as OVER, it imports as OVER and stays spent. */
    uint8_t csealed[4096];
    size_t clen = 0;
    OK(secagg_client_export(stranger, KEY, NULL, csealed, sizeof csealed, &clen));
    SecaggClient *cback = NULL;
    OK(secagg_client_import(csealed, clen, KEY, r2.round_id, SECAGG_CLIENT_PHASE_OVER, &cback));
    EXPECT(secagg_client_receive_keys(cback, bcast, blen, NULL, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    secagg_client_free(cback);
    free(kept);
    free(advert);
    free(bcast);
    secagg_client_free(stranger);
    round_free(&r2);
    round_free(&r);
    secagg_params_free(p);
    printf("after the round: ok (finished server, done and spent clients)\n");
}

/* ---------------------------------------------------------------------- */

/* The seeded source: equal seeds give equal streams, a failed fill draws
 * nothing, and the key of an export may lie inside its output buffer. */
static void seeded_source(void) {
    SecaggRng *a = NULL, *b = NULL;
    OK(secagg_rng_new_seeded(9, &a));
    OK(secagg_rng_new_seeded(9, &b));
    uint8_t x[64], y[64];
    EXPECT(secagg_rng_fill(a, NULL, 16), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_rng_fill(a, NULL, 0));
    OK(secagg_rng_fill(a, x, 0));
    OK(secagg_rng_fill(a, x, sizeof x));
    OK(secagg_rng_fill(b, y, sizeof y));
    ASSERT(memcmp(x, y, sizeof x) == 0);
    SecaggRng *other = NULL;
    OK(secagg_rng_new_seeded(10, &other));
    OK(secagg_rng_fill(other, y, sizeof y));
    ASSERT(memcmp(x, y, sizeof x) != 0);
    secagg_rng_free(other);

    /* Identities from equal streams are equal. */
    SecaggIdentity *ia = NULL, *ib = NULL;
    OK(secagg_identity_generate(a, &ia));
    OK(secagg_identity_generate(b, &ib));
    uint8_t pa[32], pb[32], secret[32];
    OK(secagg_identity_public_key(ia, pa));
    OK(secagg_identity_public_key(ib, pb));
    ASSERT(memcmp(pa, pb, 32) == 0);
    /* The exported secret gives the same identity back. */
    OK(secagg_identity_export_secret(ia, secret));
    SecaggIdentity *ic = NULL;
    OK(secagg_identity_from_secret(secret, &ic));
    OK(secagg_identity_public_key(ic, pb));
    ASSERT(memcmp(pa, pb, 32) == 0);
    memset(secret, 0, sizeof secret);
    secagg_identity_free(ia);
    secagg_identity_free(ib);
    secagg_identity_free(ic);

    /* An export whose key is the first 32 bytes of its own output buffer
     * is the export under a separate copy of the key. */
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    uint8_t id[32] = {7};
    SecaggClient *c = NULL;
    OK(secagg_client_new(p, id, 1, NULL, NULL, NULL, &c));
    size_t need = 0;
    EXPECT(secagg_client_export(c, KEY, NULL, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(need > 32);
    uint8_t *sep = malloc(need), *in_place = malloc(need);
    ASSERT(sep != NULL && in_place != NULL);
    memcpy(in_place, KEY, 32);
    size_t l1 = 0, l2 = 0;
    OK(secagg_client_export(c, KEY, a, sep, need, &l1));
    OK(secagg_client_export(c, in_place, b, in_place, need, &l2));
    ASSERT(l1 == need && l2 == need && memcmp(sep, in_place, need) == 0);
    SecaggClient *back = NULL;
    OK(secagg_client_import(in_place, l2, KEY, id, 0, &back));
    secagg_client_free(back);
    free(sep);
    free(in_place);
    secagg_client_free(c);
    secagg_params_free(p);
    secagg_rng_free(a);
    secagg_rng_free(b);
    printf("seeded source: ok (equal streams, a failed fill draws nothing, in-place key)\n");
}

/* ---------------------------------------------------------------------- */

/*
 * Server bytes that do not decode leave the client as it was, in every
 * phase (spec/ffi.md section 1): a broadcast, a delivery and an unmask
 * request each cut by one byte are SERVER_MALFORMED naming no one, the
 * phase stays, and the real message after it is answered; the sum is the
 * inputs given with the real delivery. A client done with the round,
 * exported and imported, has no message until it is asked again, and a
 * byte-identical repeat of its unmask request gets the same answer.
 */
static void undecodable_messages_leave_the_client_usable(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    Round r;
    round_start(&r, p, 3, 71, NULL);
    secagg_client_free(r.clients[3]);
    r.clients[3] = NULL;
    collect(&r, 0);
    OK(secagg_server_close_phase(r.server));
    SecaggClient *c = r.clients[1];
    const SecaggClientPhase waiting[3] = {SECAGG_CLIENT_PHASE_AWAITING_KEYS,
                                          SECAGG_CLIENT_PHASE_AWAITING_SHARES,
                                          SECAGG_CLIENT_PHASE_AWAITING_UNMASK};
    uint8_t *request = NULL;
    size_t request_len = 0;
    for (int phase = 0; phase < 3; phase++) {
        size_t len = 0;
        uint8_t *msg = server_bytes(r.server, 1, &len);
        ASSERT(msg != NULL);
        uint64_t other[M] = {5, 5, 5, 5};
        for (size_t cut = 1; cut <= 2; cut++) {
            uint32_t fault = 77;
            SecaggStatus st;
            if (phase == 0) {
                st = secagg_client_receive_keys(c, msg, len - cut, NULL, &fault);
            } else if (phase == 1) {
                st = secagg_client_receive_shares(c, msg, len - cut, other, M, &fault);
            } else {
                st = secagg_client_receive_unmask(c, msg, len - cut, &fault);
            }
            EXPECT(st, SECAGG_STATUS_SERVER_MALFORMED);
            ASSERT(fault == 0);
            SecaggClientPhase ph;
            OK(secagg_client_phase(c, &ph));
            ASSERT(ph == waiting[phase]);
        }
        if (phase == 2) {
            request = msg;
            request_len = len;
        } else {
            free(msg);
        }
        deliver(&r, phase);
        collect(&r, 0);
        OK(secagg_server_close_phase(r.server));
    }
    sum_is(r.server, 1 + 2, 2);

    /* Done: exported, imported as DONE, asked again. */
    size_t answer_len = 0;
    uint8_t *answer = client_bytes(c, &answer_len);
    uint8_t sealed[8192];
    size_t slen = 0;
    OK(secagg_client_export(c, KEY, NULL, sealed, sizeof sealed, &slen));
    SecaggClient *back = NULL;
    EXPECT(secagg_client_import(sealed, slen, KEY, r.round_id, SECAGG_CLIENT_PHASE_AWAITING_UNMASK,
                                &back),
           SECAGG_STATUS_STATE_PHASE);
    OK(secagg_client_import(sealed, slen, KEY, r.round_id, SECAGG_CLIENT_PHASE_DONE, &back));
    size_t none = 99;
    OK(secagg_client_message(back, NULL, 0, &none));
    ASSERT(none == 0);
    uint32_t fault = 77;
    OK(secagg_client_receive_unmask(back, request, request_len, &fault));
    ASSERT(fault == 0);
    size_t again_len = 0;
    uint8_t *again = client_bytes(back, &again_len);
    ASSERT(again_len == answer_len && memcmp(again, answer, answer_len) == 0);
    SecaggClientPhase ph;
    OK(secagg_client_phase(back, &ph));
    ASSERT(ph == SECAGG_CLIENT_PHASE_DONE);
    /* The live handle answers the same request the same way. */
    OK(secagg_client_receive_unmask(c, request, request_len, &fault));
    free(again);
    again = client_bytes(c, &again_len);
    ASSERT(again_len == answer_len && memcmp(again, answer, answer_len) == 0);
    free(again);
    free(answer);
    free(request);
    secagg_client_free(back);
    round_free(&r);
    secagg_params_free(p);
    printf("undecodable server bytes: ok (the client stays usable; a done client answers "
           "again)\n");
}

/* ---------------------------------------------------------------------- */

/* Every required pointer, NULL with the others valid: NULL_POINTER. */
static void null_in_every_position(void) {
    uint8_t id[32] = {8}, b32[32] = {0};
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    SecaggIdentity *ident = NULL;
    OK(secagg_identity_generate(NULL, &ident));
    uint8_t pk[32 * 3];
    OK(secagg_identity_public_key(ident, pk));
    for (int k = 1; k < 3; k++) {
        SecaggIdentity *other = NULL;
        OK(secagg_identity_generate(NULL, &other));
        OK(secagg_identity_public_key(other, pk + 32 * k));
        secagg_identity_free(other);
    }
    SecaggDpOptions opts;
    OK(secagg_dp_options_default(50.0, 1e-5, 1.0, 8, 24, 4, &opts));
    SecaggDpConfig *dp = NULL;
    OK(secagg_dp_config_new(&opts, &dp));
    uint8_t enc[256];
    size_t enc_len = 0;
    OK(secagg_params_encode(p, enc, sizeof enc, &enc_len));
    SecaggClient *c = NULL;
    OK(secagg_client_new(p, id, 1, NULL, NULL, NULL, &c));
    SecaggServer *s = NULL;
    OK(secagg_server_new(p, id, NULL, NULL, &s));
    uint8_t sealed[4096];
    size_t slen = 0;
    OK(secagg_client_export(c, KEY, NULL, sealed, sizeof sealed, &slen));
    const SecaggStatus N = SECAGG_STATUS_NULL_POINTER;
    EXPECT(secagg_params_new_harary(10, 3, 32, M, 4, b32, NULL), N);
    EXPECT(secagg_params_secagg_plus(100, 32, M, 0.05, 0.05, false, NULL), N);
    EXPECT(secagg_params_with_malicious(p, 0, NULL), N);
    EXPECT(secagg_params_decode(enc, enc_len, NULL), N);
    EXPECT(secagg_params_check_policy(NULL, 1, 1, false), N);
    EXPECT(secagg_params_with_dp(NULL, dp, &p), N);
    EXPECT(secagg_params_with_dp(p, NULL, &p), N);
    EXPECT(secagg_params_with_dp(p, dp, NULL), N);
    EXPECT(secagg_params_dp(NULL, &dp), N);
    EXPECT(secagg_params_dp(p, NULL), N);
    EXPECT(secagg_identity_generate(NULL, NULL), N);
    EXPECT(secagg_identity_from_secret(b32, NULL), N);
    EXPECT(secagg_identity_public_key(ident, NULL), N);
    EXPECT(secagg_identity_export_secret(ident, NULL), N);
    EXPECT(secagg_roster_new(pk, 3, NULL), N);
    EXPECT(secagg_client_phase(c, NULL), N);
    EXPECT(secagg_client_index(c, NULL), N);
    EXPECT(secagg_client_import(sealed, slen, KEY, id, 0, NULL), N);
    EXPECT(secagg_server_phase(s, NULL), N);
    EXPECT(secagg_server_new(p, id, NULL, NULL, NULL), N);
    EXPECT(secagg_server_export(s, KEY, NULL, sealed, sizeof sealed, NULL), N);
    EXPECT(secagg_server_recipients(NULL, NULL, 0, &slen), N);
    EXPECT(secagg_server_clients(NULL, SECAGG_CLIENT_LIST_PENDING, NULL, 0, &slen), N);
    EXPECT(secagg_server_message(NULL, 1, NULL, 0, &slen), N);
    EXPECT(secagg_server_sum(NULL, NULL, 0, &slen), N);
    EXPECT(secagg_server_misbehaved(NULL, NULL, 0, &slen), N);
    EXPECT(secagg_dp_options_default(50.0, 1e-5, 1.0, 8, 24, 4, NULL), N);
    EXPECT(secagg_dp_config_new(&opts, NULL), N);
    EXPECT(secagg_dp_config_options(dp, NULL), N);
    EXPECT(secagg_dp_config_padded_dim(dp, NULL), N);
    EXPECT(secagg_dp_config_encode(NULL, NULL, 0, &slen), N);
    EXPECT(secagg_dp_config_decode(enc, enc_len, NULL), N);
    double x[8] = {0};
    uint64_t out[8];
    double dout[8];
    SecaggPrivacyReport report;
    EXPECT(secagg_dp_encode(NULL, x, 8, b32, out, 8, &slen), N);
    EXPECT(secagg_dp_encode(dp, NULL, 8, b32, out, 8, &slen), N);
    EXPECT(secagg_dp_encode(dp, x, 8, b32, out, 8, NULL), N);
    EXPECT(secagg_dp_decode(NULL, out, 8, 4, b32, false, dout, 8, &slen, &report), N);
    EXPECT(secagg_dp_decode(dp, NULL, 8, 4, b32, false, dout, 8, &slen, &report), N);
    EXPECT(secagg_dp_decode(dp, out, 8, 4, NULL, false, dout, 8, &slen, &report), N);
    EXPECT(secagg_dp_decode(dp, out, 8, 4, b32, false, dout, 8, NULL, &report), N);
    secagg_server_free(s);
    secagg_client_free(c);
    secagg_dp_config_free(dp);
    secagg_identity_free(ident);
    secagg_params_free(p);
    printf("NULL in every position: ok\n");
}

/* ---------------------------------------------------------------------- */

/* An export under a nonce from a fresh source seeded with 5. */
static size_t sealed_client(const SecaggClient *c, uint8_t *buf, size_t cap) {
    SecaggRng *rng = NULL;
    OK(secagg_rng_new_seeded(5, &rng));
    size_t len = 0;
    OK(secagg_client_export(c, KEY, rng, buf, cap, &len));
    secagg_rng_free(rng);
    return len;
}

static size_t sealed_server(const SecaggServer *s, uint8_t *buf, size_t cap) {
    SecaggRng *rng = NULL;
    OK(secagg_rng_new_seeded(5, &rng));
    size_t len = 0;
    OK(secagg_server_export(s, KEY, rng, buf, cap, &len));
    secagg_rng_free(rng);
    return len;
}

/* Every handle of the round, exported, imported and exported again under
 * equal nonces: the same bytes (an import loses nothing the export holds). */
static void reexport_everyone(Round *r) {
    static uint8_t a[1 << 16], b[1 << 16];
    for (uint32_t i = 1; i <= r->n; i++) {
        if (r->clients[i] == NULL) {
            continue;
        }
        SecaggClientPhase ph;
        OK(secagg_client_phase(r->clients[i], &ph));
        size_t la = sealed_client(r->clients[i], a, sizeof a);
        SecaggClient *back = NULL;
        OK(secagg_client_import(a, la, KEY, r->round_id, (int32_t)ph, &back));
        size_t lb = sealed_client(back, b, sizeof b);
        ASSERT(la == lb && memcmp(a, b, la) == 0);
        secagg_client_free(back);
    }
    SecaggServerPhase sp;
    OK(secagg_server_phase(r->server, &sp));
    size_t la = sealed_server(r->server, a, sizeof a);
    SecaggServer *back = NULL;
    OK(secagg_server_import(a, la, KEY, r->round_id, (int32_t)sp, &back));
    size_t lb = sealed_server(back, b, sizeof b);
    ASSERT(la == lb && memcmp(a, b, la) == 0);
    secagg_server_free(back);
}

static void reexport_is_identical(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    Round r;
    round_start(&r, p, 3, 81, NULL);
    reexport_everyone(&r);
    collect(&r, 0);
    reexport_everyone(&r);
    OK(secagg_server_close_phase(r.server));
    for (int phase = 0; phase < 3; phase++) {
        reexport_everyone(&r);
        deliver(&r, phase);
        reexport_everyone(&r);
        collect(&r, 0);
        reexport_everyone(&r);
        OK(secagg_server_close_phase(r.server));
    }
    reexport_everyone(&r);
    round_free(&r);
    secagg_params_free(p);
    printf("re-export: ok (export, import, export under equal nonces gives the same bytes)\n");
}

/* ---------------------------------------------------------------------- */

/*
 * The server's message for a client is the one of the last phase close
 * (spec/ffi.md section 1), even when that client's message of the phase
 * before was the last one built: the KeyBroadcast read for client 3 just
 * before the ShareKeys close is not what it gets after it. The round then
 * completes with the sum of its inputs.
 */
static void message_of_the_last_close(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    Round r;
    round_start(&r, p, 3, 0x5A, NULL);
    collect_and_close(&r);
    size_t klen = 0;
    uint8_t *keys = server_bytes(r.server, 3, &klen);
    ASSERT(keys != NULL);
    deliver(&r, 0);
    collect_and_close(&r);
    size_t slen = 0;
    uint8_t *shares = server_bytes(r.server, 3, &slen);
    ASSERT(shares != NULL);
    ASSERT(slen != klen || memcmp(shares, keys, slen) != 0);
    free(keys);
    free(shares);
    for (int phase = 1; phase < 3; phase++) {
        deliver(&r, phase);
        collect_and_close(&r);
    }
    sum_is(r.server, 1 + 2 + 3, 3);
    round_free(&r);
    secagg_params_free(p);
    printf("message of the last close: ok\n");
}

int main(void) {
    two_call_protocol();
    dp_outputs();
    outputs_only_on_success();
    fault_index_always_written();
    receive_all_arguments();
    no_borrowing();
    after_the_round();
    undecodable_messages_leave_the_client_usable();
    seeded_source();
    null_in_every_position();
    reexport_is_identical();
    message_of_the_last_close();
    printf("%d checks passed\n", checks);
    return 0;
}
