/*
 * Full rounds through the C ABI (semi-honest, malicious, DP) with dropouts
 * at two phases, checking the sum, then every error path reachable with bad
 * arguments: NULL, short buffers, wrong lengths, calls out of order.
 * Built by tests/c/run.sh with -std=c11 -Wall -Wextra -Werror and the
 * address and undefined-behaviour sanitizers, then run under valgrind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "secagg.h"

#define MAX_N 8
#define M 4

/* The client's pending message, in a fresh heap buffer (size query first). */
static uint8_t *client_message(const SecaggClient *c, size_t *len) {
    size_t need = 0;
    EXPECT(secagg_client_message(c, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *buf = malloc(need);
    ASSERT(buf != NULL);
    OK(secagg_client_message(c, buf, need, len));
    ASSERT(*len == need);
    return buf;
}

/* The server's message for client `to`, or NULL when it has none. */
static uint8_t *server_message(const SecaggServer *s, uint32_t to, size_t *len) {
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

/*
 * Every message of a round in order, each as sender, recipient, length and
 * bytes: two rounds are the same when their transcripts are byte-identical.
 */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} Transcript;

static void log_bytes(Transcript *t, const void *bytes, size_t len) {
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + len) {
            cap *= 2;
        }
        uint8_t *grown = realloc(t->data, cap);
        ASSERT(grown != NULL);
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
}

/* Appends one message (from client `from` to client `to`; 0 is the server). */
static void log_message(Transcript *t, uint32_t from, uint32_t to, const uint8_t *msg,
                        size_t len) {
    if (t == NULL) {
        return;
    }
    uint64_t head[3] = {from, to, len};
    log_bytes(t, head, sizeof head);
    log_bytes(t, msg, len);
}

/* Sends client i's pending message to the server. */
static void send_logged(SecaggServer *s, const SecaggClient *c, uint32_t i, Transcript *t) {
    size_t len = 0;
    uint8_t *msg = client_message(c, &len);
    log_message(t, i, 0, msg, len);
    uint32_t fault = 77;
    OK(secagg_server_receive(s, i, msg, len, &fault));
    ASSERT(fault == 0);
    SecaggOutcome outcome = SECAGG_OUTCOME_ABORTED;
    uint32_t who = 77;
    OK(secagg_server_outcome(s, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_NONE && who == 0);
    /* A byte-identical resend is a no-op. */
    OK(secagg_server_receive(s, i, msg, len, &fault));
    free(msg);
}

static void send(SecaggServer *s, const SecaggClient *c, uint32_t i) {
    send_logged(s, c, i, NULL);
}

typedef struct {
    uint32_t n;
    size_t m;
    const SecaggIdentity *const *identities; /* NULL in the semi-honest model */
    const SecaggRoster *roster;
    uint32_t drop_r1;   /* never sends ShareKeys (0: none) */
    uint32_t drop_late; /* sends its masked input, then vanishes (0: none) */
    int persist;        /* export, free and re-import everyone before each close */
    uint32_t garbage_r2; /* sends a truncated masked input, then its real one (0: none) */
    uint64_t seed;      /* a seeded source for every draw (0: the OS source) */
    Transcript *log;    /* records every message (NULL: none) */
} Round;

static const uint8_t STATE_KEY[32] = {0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9};

/* An export in a fresh heap buffer (size query, a short buffer, then the export). */
static uint8_t *client_export(const SecaggClient *c, size_t *len) {
    size_t need = 0;
    EXPECT(secagg_client_export(c, STATE_KEY, NULL, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *buf = malloc(need);
    ASSERT(buf != NULL);
    size_t short_len = 0;
    EXPECT(secagg_client_export(c, STATE_KEY, NULL, buf, need - 1, &short_len),
           SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(short_len == need);
    OK(secagg_client_export(c, STATE_KEY, NULL, buf, need, len));
    ASSERT(*len == need);
    return buf;
}

static uint8_t *server_export(const SecaggServer *s, size_t *len) {
    size_t need = 0;
    EXPECT(secagg_server_export(s, STATE_KEY, NULL, NULL, 0, &need), SECAGG_STATUS_SHORT_BUFFER);
    uint8_t *buf = malloc(need);
    ASSERT(buf != NULL);
    OK(secagg_server_export(s, STATE_KEY, NULL, buf, need, len));
    ASSERT(*len == need);
    return buf;
}

/*
 * Replaces the client by an import of its export (as a host that keeps no
 * process between messages), after checking that another phase or another
 * round is refused.
 */
static void cycle_client(SecaggClient **c, const uint8_t *round_id) {
    SecaggClientPhase ph;
    OK(secagg_client_phase(*c, &ph));
    size_t len = 0;
    uint8_t *sealed = client_export(*c, &len);
    secagg_client_free(*c);
    *c = NULL;
    SecaggClient *back = NULL;
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, round_id, ((int)ph + 1) % 6, &back),
           SECAGG_STATUS_STATE_PHASE);
    uint8_t other[32];
    memcpy(other, round_id, 32);
    other[31] ^= 1;
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, other, (int)ph, &back),
           SECAGG_STATUS_STATE_ROUND);
    ASSERT(back == NULL);
    OK(secagg_client_import(sealed, len, STATE_KEY, round_id, (int)ph, &back));
    SecaggClientPhase again;
    OK(secagg_client_phase(back, &again));
    ASSERT(again == ph);
    free(sealed);
    *c = back;
}

static void cycle_server(SecaggServer **s, const uint8_t *round_id) {
    SecaggServerPhase ph;
    OK(secagg_server_phase(*s, &ph));
    size_t len = 0;
    uint8_t *sealed = server_export(*s, &len);
    secagg_server_free(*s);
    *s = NULL;
    SecaggServer *back = NULL;
    EXPECT(secagg_server_import(sealed, len, STATE_KEY, round_id, ((int)ph + 1) % 6, &back),
           SECAGG_STATUS_STATE_PHASE);
    /* A server's export is not a client's. */
    SecaggClient *wrong = NULL;
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, round_id, 0, &wrong),
           SECAGG_STATUS_STATE_ROLE);
    ASSERT(back == NULL && wrong == NULL);
    OK(secagg_server_import(sealed, len, STATE_KEY, round_id, (int)ph, &back));
    SecaggServerPhase again;
    OK(secagg_server_phase(back, &again));
    ASSERT(again == ph);
    free(sealed);
    *s = back;
}

/* Before a phase close: every client and the server go through an export. */
static void persist_all(const Round *r, SecaggServer **server, SecaggClient **clients,
                        const uint8_t *round_id) {
    if (!r->persist) {
        return;
    }
    for (uint32_t i = 1; i <= r->n; i++) {
        cycle_client(&clients[i], round_id);
    }
    cycle_server(server, round_id);
}

/*
 * Runs one round of `r` with `inputs[i - 1]` (m elements each); writes the
 * sum to `sum` and returns the number of survivors.
 */
static size_t run_round(const SecaggParams *params, const Round *r, const uint64_t *inputs,
                        uint64_t *sum) {
    uint8_t round_id[32];
    memset(round_id, 0x42, sizeof round_id);
    SecaggRng *rng = NULL; /* NULL: the operating system's source */
    if (r->seed != 0) {
        OK(secagg_rng_new_seeded(r->seed, &rng));
    }
    SecaggServer *server = NULL;
    OK(secagg_server_new(params, round_id, r->roster, rng, &server));
    SecaggClient *clients[MAX_N + 1] = {0};
    int alive[MAX_N + 1] = {0};

    /* R0 */
    for (uint32_t i = 1; i <= r->n; i++) {
        const SecaggIdentity *id = r->identities ? r->identities[i - 1] : NULL;
        OK(secagg_client_new(params, round_id, i, id, r->roster, rng, &clients[i]));
        SecaggClientPhase ph;
        OK(secagg_client_phase(clients[i], &ph));
        ASSERT(ph == SECAGG_CLIENT_PHASE_AWAITING_KEYS);
        send_logged(server, clients[i], i, r->log);
        alive[i] = 1;
    }
    persist_all(r, &server, clients, round_id);
    OK(secagg_server_close_phase(server));

    /* R1: drop_r1 receives the broadcast but never answers. */
    for (uint32_t i = 1; i <= r->n; i++) {
        size_t len = 0;
        uint8_t *msg = server_message(server, i, &len);
        ASSERT(msg != NULL);
        log_message(r->log, 0, i, msg, len);
        if (i == r->drop_r1) {
            alive[i] = 0;
            free(msg);
            continue;
        }
        uint32_t fault = 77;
        OK(secagg_client_receive_keys(clients[i], msg, len, rng, &fault));
        ASSERT(fault == 0);
        free(msg);
        send_logged(server, clients[i], i, r->log);
    }
    persist_all(r, &server, clients, round_id);
    OK(secagg_server_close_phase(server));

    /* R2 */
    for (uint32_t i = 1; i <= r->n; i++) {
        size_t len = 0;
        uint8_t *msg = server_message(server, i, &len);
        ASSERT((msg != NULL) == (alive[i] != 0));
        if (!alive[i]) {
            continue;
        }
        log_message(r->log, 0, i, msg, len);
        uint32_t fault = 0;
        OK(secagg_client_receive_shares(clients[i], msg, len, inputs + (i - 1) * r->m, r->m,
                                        &fault));
        free(msg);
        if (i == r->garbage_r2) {
            /* A truncated masked input: the server excludes the sender (its
             * input is not in the sum) and ignores its real one after. */
            size_t mlen = 0;
            uint8_t *real = client_message(clients[i], &mlen);
            SecaggOutcome outcome = SECAGG_OUTCOME_NONE;
            uint32_t who = 0;
            EXPECT(secagg_server_receive(server, i, real, mlen - 1, &fault),
                   SECAGG_STATUS_CLIENT_MALFORMED);
            ASSERT(fault == i);
            OK(secagg_server_outcome(server, &outcome, &who));
            ASSERT(outcome == SECAGG_OUTCOME_EXCLUDED && who == i);
            EXPECT(secagg_server_receive(server, i, real, mlen, &fault),
                   SECAGG_STATUS_CLIENT_NOT_IN_PHASE);
            ASSERT(fault == i);
            OK(secagg_server_outcome(server, &outcome, NULL));
            ASSERT(outcome == SECAGG_OUTCOME_IGNORED);
            EXPECT(secagg_server_outcome(server, NULL, &who), SECAGG_STATUS_NULL_POINTER);
            EXPECT(secagg_server_outcome(NULL, &outcome, &who), SECAGG_STATUS_NULL_POINTER);
            free(real);
            alive[i] = 0;
            continue;
        }
        send_logged(server, clients[i], i, r->log);
        if (i == r->drop_late) {
            alive[i] = 0;
        }
    }
    persist_all(r, &server, clients, round_id);
    OK(secagg_server_close_phase(server));

    SecaggServerPhase phase;
    OK(secagg_server_phase(server, &phase));
    if (r->identities != NULL) {
        ASSERT(phase == SECAGG_SERVER_PHASE_CONSISTENCY);
        for (uint32_t i = 1; i <= r->n; i++) {
            size_t len = 0;
            uint8_t *msg = server_message(server, i, &len);
            if (msg == NULL || !alive[i]) {
                free(msg);
                continue;
            }
            log_message(r->log, 0, i, msg, len);
            uint32_t fault = 0;
            OK(secagg_client_receive_consistency(clients[i], msg, len, &fault));
            free(msg);
            send_logged(server, clients[i], i, r->log);
        }
        persist_all(r, &server, clients, round_id);
        OK(secagg_server_close_phase(server));
        OK(secagg_server_phase(server, &phase));
    }
    ASSERT(phase == SECAGG_SERVER_PHASE_UNMASK);

    /* R3 */
    for (uint32_t i = 1; i <= r->n; i++) {
        size_t len = 0;
        uint8_t *msg = server_message(server, i, &len);
        if (msg == NULL || !alive[i]) {
            free(msg);
            continue;
        }
        log_message(r->log, 0, i, msg, len);
        uint32_t fault = 0;
        OK(secagg_client_receive_unmask(clients[i], msg, len, &fault));
        /* The same request again gets the same answer. */
        OK(secagg_client_receive_unmask(clients[i], msg, len, &fault));
        free(msg);
        send_logged(server, clients[i], i, r->log);
    }
    EXPECT(secagg_server_sum(server, sum, r->m, &(size_t){0}), SECAGG_STATUS_OUT_OF_ORDER);
    persist_all(r, &server, clients, round_id);
    OK(secagg_server_close_phase(server));
    SecaggOutcome outcome = SECAGG_OUTCOME_ABORTED;
    OK(secagg_server_outcome(server, &outcome, NULL));
    ASSERT(outcome == SECAGG_OUTCOME_NONE);
    OK(secagg_server_phase(server, &phase));
    ASSERT(phase == SECAGG_SERVER_PHASE_OVER);

    size_t len = 0;
    EXPECT(secagg_server_sum(server, sum, r->m - 1, &len), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(len == r->m);
    OK(secagg_server_sum(server, sum, r->m, &len));
    ASSERT(len == r->m);
    log_message(r->log, 0, 0, (const uint8_t *)sum, r->m * sizeof *sum);
    uint32_t survivors[MAX_N];
    size_t count = 0;
    OK(secagg_server_clients(server, SECAGG_CLIENT_LIST_SURVIVORS, survivors, MAX_N, &count));
    for (size_t k = 0; k < count; k++) {
        ASSERT(survivors[k] != r->drop_r1 && survivors[k] != r->garbage_r2);
    }
    SecaggFault faults[MAX_N];
    size_t nfaults = 99;
    OK(secagg_server_misbehaved(server, faults, MAX_N, &nfaults));
    if (r->garbage_r2 != 0) {
        ASSERT(nfaults == 1 && faults[0].index == r->garbage_r2 &&
               faults[0].code == SECAGG_STATUS_CLIENT_MALFORMED);
    } else {
        ASSERT(nfaults == 0);
    }
    /* After the round: out of order. */
    EXPECT(secagg_server_close_phase(server), SECAGG_STATUS_MISUSE_ROUND_OVER);
    if (r->persist) {
        /* A finished round imports as OVER; its result is not in the export. */
        cycle_server(&server, round_id);
        uint64_t none[M];
        EXPECT(secagg_server_sum(server, none, M, &len), SECAGG_STATUS_OUT_OF_ORDER);
        for (uint32_t i = 1; i <= r->n; i++) {
            cycle_client(&clients[i], round_id);
        }
    }

    for (uint32_t i = 1; i <= r->n; i++) {
        secagg_client_free(clients[i]);
    }
    secagg_server_free(server);
    secagg_rng_free(rng);
    return count;
}

/*
 * Issue 9, Done-when 3 at the ABI: `r` ran (seeded, into `plain`); the
 * same round with every client and the server exported, freed and
 * re-imported before every phase close sends exactly the same messages
 * (every byte, both directions, and the sum). Exports draw their nonces
 * from the OS, so the seeded stream is the same in both runs. Another seed
 * gives another transcript, so the comparison is not vacuous. Frees the
 * three transcripts.
 */
static void same_round_when_persisted(const SecaggParams *params, const Round *r,
                                      const uint64_t *inputs, Transcript *plain,
                                      Transcript *sealed, Transcript *other) {
    uint64_t sum[MAX_N * M];
    Round persisted = *r;
    persisted.persist = 1;
    persisted.log = sealed;
    size_t survivors = run_round(params, &persisted, inputs, sum);
    ASSERT(survivors > 0);
    ASSERT(plain->len > 1000);
    ASSERT(sealed->len == plain->len && memcmp(sealed->data, plain->data, plain->len) == 0);
    Round reseeded = *r;
    reseeded.seed = r->seed + 1000;
    reseeded.log = other;
    run_round(params, &reseeded, inputs, sum);
    ASSERT(other->len != plain->len || memcmp(other->data, plain->data, plain->len) != 0);
    free(plain->data);
    free(sealed->data);
    free(other->data);
}

static void semi_honest_round(void) {
    SecaggParams *params = NULL;
    OK(secagg_params_new(5, 3, 32, M, &params));
    uint64_t inputs[5 * M];
    for (size_t k = 0; k < 5 * M; k++) {
        inputs[k] = (k / M + 1) * 1000 + k % M;
    }
    Transcript plain = {0}, sealed = {0}, other = {0};
    Round r = {.n = 5, .m = M, .drop_r1 = 2, .drop_late = 4, .seed = 11, .log = &plain};
    uint64_t sum[M];
    size_t survivors = run_round(params, &r, inputs, sum);
    ASSERT(survivors == 4);
    same_round_when_persisted(params, &r, inputs, &plain, &sealed, &other);
    /* The operating system's source (production): the same sum. */
    Round os = r;
    os.seed = 0;
    os.log = NULL;
    uint64_t sum2[M];
    ASSERT(run_round(params, &os, inputs, sum2) == 4);
    ASSERT(memcmp(sum, sum2, sizeof sum) == 0);
    /* Clients 1, 3, 4, 5 sent masked inputs (4 dropped after, masks removed). */
    for (size_t j = 0; j < M; j++) {
        uint64_t want = 0;
        for (uint32_t i = 1; i <= 5; i++) {
            if (i != 2) {
                want += inputs[(i - 1) * M + j];
            }
        }
        ASSERT(sum[j] == want);
    }
    secagg_params_free(params);
    printf("semi-honest round: ok (sum of 4 survivors, drops after R0 and after R2)\n");
}

static void malicious_round(void) {
    enum { N = 8 };
    SecaggParams *base = NULL, *params = NULL;
    OK(secagg_params_new(N, 5, 32, M, &base));
    EXPECT(secagg_params_with_malicious(base, 3, &params), SECAGG_STATUS_PARAMS_NOT_UNIQUE);
    ASSERT(params == NULL);
    OK(secagg_params_with_malicious(base, 1, &params));
    bool malicious = false;
    uint32_t degree = 0;
    OK(secagg_params_info(params, NULL, NULL, NULL, NULL, &degree, &malicious));
    ASSERT(malicious && degree == N - 1);

    SecaggIdentity *ids[N];
    uint8_t keys[N * 32];
    for (int i = 0; i < N; i++) {
        OK(secagg_identity_generate(NULL, &ids[i]));
        OK(secagg_identity_public_key(ids[i], keys + 32 * i));
    }
    /* An identity survives export and re-import. */
    uint8_t secret[32], pk[32];
    OK(secagg_identity_export_secret(ids[0], secret));
    SecaggIdentity *again = NULL;
    OK(secagg_identity_from_secret(secret, &again));
    OK(secagg_identity_public_key(again, pk));
    ASSERT(memcmp(pk, keys, 32) == 0);
    memset(secret, 0, sizeof secret);
    secagg_identity_free(again);

    SecaggRoster *roster = NULL;
    /* A repeated key is refused. */
    uint8_t twice[64];
    memcpy(twice, keys, 32);
    memcpy(twice + 32, keys, 32);
    EXPECT(secagg_roster_new(twice, 2, &roster), SECAGG_STATUS_MISUSE_ROSTER);
    OK(secagg_roster_new(keys, N, &roster));
    ASSERT(secagg_roster_len(roster) == N);

    uint64_t inputs[N * M];
    for (size_t k = 0; k < N * M; k++) {
        inputs[k] = (uint64_t)(k * 7 + 1) << 20;
    }
    Round r = {.n = N,
               .m = M,
               .identities = (const SecaggIdentity *const *)ids,
               .roster = roster,
               .drop_r1 = 3,
               .drop_late = 6,
               .seed = 12};
    Transcript plain = {0}, sealed = {0}, other = {0};
    r.log = &plain;
    uint64_t sum[M];
    size_t survivors = run_round(params, &r, inputs, sum);
    ASSERT(survivors == N - 1);
    same_round_when_persisted(params, &r, inputs, &plain, &sealed, &other);
    for (size_t j = 0; j < M; j++) {
        uint64_t want = 0;
        for (uint32_t i = 1; i <= N; i++) {
            if (i != 3) {
                want += inputs[(i - 1) * M + j];
            }
        }
        ASSERT(sum[j] == (want & 0xffffffffu));
    }

    /* The malicious model needs identity and roster; the semi-honest none. */
    uint8_t round_id[32] = {1};
    SecaggClient *c = NULL;
    EXPECT(secagg_client_new(params, round_id, 1, NULL, NULL, NULL, &c), SECAGG_STATUS_MISUSE_IDENTITY);
    EXPECT(secagg_client_new(params, round_id, 1, ids[0], NULL, NULL, &c), SECAGG_STATUS_MISUSE_IDENTITY);
    EXPECT(secagg_client_new(params, round_id, 2, ids[0], roster, NULL, &c),
           SECAGG_STATUS_MISUSE_IDENTITY);
    EXPECT(secagg_client_new(base, round_id, 1, ids[0], roster, NULL, &c), SECAGG_STATUS_MISUSE_IDENTITY);
    SecaggServer *s = NULL;
    EXPECT(secagg_server_new(params, round_id, NULL, NULL, &s), SECAGG_STATUS_MISUSE_IDENTITY);
    EXPECT(secagg_server_new(base, round_id, roster, NULL, &s), SECAGG_STATUS_MISUSE_IDENTITY);
    ASSERT(c == NULL && s == NULL);
    EXPECT(secagg_params_check_policy(base, 3, 4, true), SECAGG_STATUS_PARAMS_POLICY);
    OK(secagg_params_check_policy(params, 3, 4, true));

    for (int i = 0; i < N; i++) {
        secagg_identity_free(ids[i]);
    }
    secagg_roster_free(roster);
    secagg_params_free(params);
    secagg_params_free(base);
    printf("malicious round: ok (drops after R0 and after R2, consistency)\n");
}

static void dp_round(void) {
    enum { N = 5, DIM = 8 };
    SecaggDpOptions opts;
    EXPECT(secagg_dp_options_default(0.0, 1e-5, 1.0, DIM, 24, N, &opts), SECAGG_STATUS_DP_EPSILON);
    OK(secagg_dp_options_default(50.0, 1e-5, 1.0, DIM, 24, N, &opts));
    ASSERT(opts.clients == N && opts.min_honest == N && opts.rounds == 1);
    opts.mechanism = 7;
    SecaggDpConfig *dp = NULL;
    EXPECT(secagg_dp_config_new(&opts, &dp), SECAGG_STATUS_INVALID_ARGUMENT);
    opts.mechanism = 0;
    OK(secagg_dp_config_new(&opts, &dp));
    size_t d = 0;
    OK(secagg_dp_config_padded_dim(dp, &d));
    ASSERT(d == DIM);

    SecaggParams *base = NULL, *params = NULL;
    OK(secagg_params_new(N, 3, 24, (uint32_t)d, &base));
    OK(secagg_params_with_dp(base, dp, &params));
    SecaggDpConfig *carried = NULL;
    EXPECT(secagg_params_dp(base, &carried), SECAGG_STATUS_NOT_FOUND);
    OK(secagg_params_dp(params, &carried));
    SecaggDpOptions back;
    OK(secagg_dp_config_options(carried, &back));
    ASSERT(back.epsilon == 50.0 && back.dim == DIM);
    secagg_dp_config_free(carried);

    uint8_t seed[32];
    memset(seed, 9, sizeof seed);
    double x[N][DIM];
    uint64_t encoded[N * DIM];
    double exact[DIM] = {0};
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < DIM; j++) {
            x[i][j] = 0.1 * (double)(j % 3) - 0.05 * (double)i;
            if (i != 1) {
                exact[j] += x[i][j];
            }
        }
        size_t len = 0;
        EXPECT(secagg_dp_encode(dp, x[i], DIM, seed, encoded, 1, &len), SECAGG_STATUS_SHORT_BUFFER);
        ASSERT(len == d);
        EXPECT(secagg_dp_encode(dp, x[i], DIM - 1, seed, encoded + i * DIM, d, &len),
               SECAGG_STATUS_DP_INPUT_LENGTH);
        OK(secagg_dp_encode(dp, x[i], DIM, seed, encoded + i * DIM, d, &len));
    }
    Round r = {.n = N, .m = d, .drop_r1 = 2, .drop_late = 5};
    uint64_t sum[DIM];
    size_t survivors = run_round(params, &r, encoded, sum);
    ASSERT(survivors == N - 1);
    double out[DIM];
    size_t len = 0;
    SecaggPrivacyReport report;
    OK(secagg_dp_decode(dp, sum, d, survivors, seed, false, out, DIM, &len, &report));
    ASSERT(len == DIM && report.survivors == survivors && report.epsilon == 50.0);
    ASSERT(report.epsilon_reached > 50.0); /* fewer honest survivors than calibrated for */
    /* The noise at epsilon 50 has a standard deviation near 0.1 per
     * coordinate here: the root-mean-square error stays well below 0.3. */
    double sq = 0;
    for (int j = 0; j < DIM; j++) {
        sq += (out[j] - exact[j]) * (out[j] - exact[j]);
    }
    ASSERT(sqrt(sq / DIM) < 0.3);
    EXPECT(secagg_dp_decode(dp, sum, d - 1, survivors, seed, false, out, DIM, &len, &report),
           SECAGG_STATUS_DP_INPUT_LENGTH);
    EXPECT(secagg_dp_decode(dp, sum, d, 0, seed, true, out, DIM, &len, &report),
           SECAGG_STATUS_DP_NO_CONTRIBUTORS);

    /* The configuration's encoding round-trips; garbage is refused. */
    uint8_t enc[128];
    OK(secagg_dp_config_encode(dp, enc, sizeof enc, &len));
    SecaggDpConfig *decoded = NULL;
    OK(secagg_dp_config_decode(enc, len, &decoded));
    secagg_dp_config_free(decoded);
    EXPECT(secagg_dp_config_decode(enc, len - 1, &decoded), SECAGG_STATUS_DP_DECODE);

    secagg_params_free(params);
    secagg_params_free(base);
    secagg_dp_config_free(dp);
    printf("DP round: ok (decoded sum within RMS 0.3 of the exact sum)\n");
}

/* The mask PRG chosen through the ABI: carried by the encoding, and a
 * round under AES-128-CTR sums exactly like one under ChaCha20. */
static void aes_round(void) {
    SecaggParams *base = NULL, *aes = NULL, *decoded = NULL;
    OK(secagg_params_new(5, 3, 32, M, &base));
    SecaggPrg prg = SECAGG_PRG_AES128_CTR;
    OK(secagg_params_prg(base, &prg));
    ASSERT(prg == SECAGG_PRG_CHACHA20);
    EXPECT(secagg_params_with_prg(base, 2, &aes), SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_params_with_prg(base, -1, &aes), SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_params_with_prg(NULL, SECAGG_PRG_AES128_CTR, &aes), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_with_prg(base, SECAGG_PRG_AES128_CTR, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_prg(base, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_prg(NULL, &prg), SECAGG_STATUS_NULL_POINTER);
    ASSERT(aes == NULL);
    OK(secagg_params_with_prg(base, SECAGG_PRG_AES128_CTR, &aes));
    OK(secagg_params_prg(aes, &prg));
    ASSERT(prg == SECAGG_PRG_AES128_CTR);

    /* The encoding carries the choice: it differs, and decodes to AES. */
    uint8_t a[512], b[512];
    size_t la = 0, lb = 0;
    OK(secagg_params_encode(base, a, sizeof a, &la));
    OK(secagg_params_encode(aes, b, sizeof b, &lb));
    ASSERT(la != lb || memcmp(a, b, la) != 0);
    OK(secagg_params_decode(b, lb, &decoded));
    prg = SECAGG_PRG_CHACHA20;
    OK(secagg_params_prg(decoded, &prg));
    ASSERT(prg == SECAGG_PRG_AES128_CTR);
    SecaggParams *back = NULL;
    OK(secagg_params_with_prg(decoded, SECAGG_PRG_CHACHA20, &back));
    OK(secagg_params_encode(back, b, sizeof b, &lb));
    ASSERT(la == lb && memcmp(a, b, la) == 0);
    secagg_params_free(back);

    uint64_t inputs[5 * M];
    for (size_t k = 0; k < 5 * M; k++) {
        inputs[k] = 0xfffffff0u - (uint64_t)k * 977;
    }
    Transcript with_aes = {0}, with_chacha = {0};
    Round r = {.n = 5, .m = M, .drop_r1 = 2, .drop_late = 4, .seed = 21, .log = &with_aes};
    uint64_t sum_aes[M], sum_chacha[M];
    ASSERT(run_round(decoded, &r, inputs, sum_aes) == 4);
    r.log = &with_chacha;
    ASSERT(run_round(base, &r, inputs, sum_chacha) == 4);
    for (size_t j = 0; j < M; j++) {
        uint64_t want = 0;
        for (uint32_t i = 1; i <= 5; i++) {
            if (i != 2) {
                want += inputs[(i - 1) * M + j];
            }
        }
        ASSERT(sum_aes[j] == (want & 0xffffffffu) && sum_chacha[j] == sum_aes[j]);
    }
    /* Same seed, same keys: only the masks differ, so the transcripts do. */
    ASSERT(with_aes.len == with_chacha.len &&
           memcmp(with_aes.data, with_chacha.data, with_aes.len) != 0);
    free(with_aes.data);
    free(with_chacha.data);
    secagg_params_free(decoded);
    secagg_params_free(aes);
    secagg_params_free(base);
    printf("AES-128-CTR round: ok (the encoding carries the PRG, the sum is exact)\n");
}

/* A garbage masked input: the client is excluded, its later message ignored
 * (secagg_server_outcome), and the round still sums the other inputs. */
static void outcome_round(void) {
    SecaggParams *params = NULL;
    OK(secagg_params_new(4, 3, 32, M, &params));
    uint64_t inputs[4 * M];
    for (size_t k = 0; k < 4 * M; k++) {
        inputs[k] = (k / M + 1) * 100 + k % M;
    }
    SecaggServer *fresh = NULL;
    uint8_t round_id[32] = {3};
    OK(secagg_server_new(params, round_id, NULL, NULL, &fresh));
    SecaggOutcome outcome = SECAGG_OUTCOME_ABORTED;
    uint32_t who = 9;
    OK(secagg_server_outcome(fresh, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_NONE && who == 0);
    /* A stranger's message is ignored: nothing recorded. */
    uint32_t fault = 0;
    EXPECT(secagg_server_receive(fresh, 9, round_id, 4, &fault), SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);
    ASSERT(fault == 9);
    OK(secagg_server_outcome(fresh, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_IGNORED && who == 9);
    /* A NULL message is the caller's error, not a client's. */
    EXPECT(secagg_server_receive(fresh, 1, NULL, 4, &fault), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_server_outcome(fresh, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_NONE && who == 0);
    secagg_server_free(fresh);

    Round r = {.n = 4, .m = M, .garbage_r2 = 3};
    uint64_t sum[M];
    ASSERT(run_round(params, &r, inputs, sum) == 3);
    for (size_t j = 0; j < M; j++) {
        ASSERT(sum[j] == inputs[j] + inputs[M + j] + inputs[3 * M + j]);
    }
    secagg_params_free(params);
    printf("client fault outcomes: ok (excluded, then ignored; the others' sum)\n");
}

/*
 * A dealer whose encrypted shares none of its holders can open: each holder
 * complains in its masked input, too few good shares of the dealer remain to
 * unmask it, and the R2 close ends the round naming the dealer with
 * SECAGG_OUTCOME_ABORTED; the phase after is over, and a later close says so.
 */
static void aborted_round(void) {
    const uint32_t n = 4, bad = 2;
    SecaggParams *params = NULL;
    OK(secagg_params_new(n, 3, 32, M, &params)); /* complete graph, t = 3 */
    uint8_t round_id[32] = {5};
    SecaggRng *rng = NULL;
    OK(secagg_rng_new_seeded(11, &rng));
    SecaggServer *server = NULL;
    OK(secagg_server_new(params, round_id, NULL, rng, &server));
    SecaggClient *clients[5] = {0};
    for (uint32_t i = 1; i <= n; i++) {
        OK(secagg_client_new(params, round_id, i, NULL, NULL, rng, &clients[i]));
        send(server, clients[i], i);
    }
    OK(secagg_server_close_phase(server));
    for (uint32_t i = 1; i <= n; i++) {
        size_t len = 0;
        uint8_t *msg = server_message(server, i, &len);
        ASSERT(msg != NULL);
        uint32_t fault = 77;
        OK(secagg_client_receive_keys(clients[i], msg, len, rng, &fault));
        free(msg);
        if (i != bad) {
            send(server, clients[i], i);
            continue;
        }
        /* ShareKeys ends with count x (u32 receiver, 80-byte ciphertext)
         * (spec/wire-format.md section 5): flip the last tag byte of each of
         * the n - 1 ciphertexts. The server cannot see it. */
        uint8_t *share_keys = client_message(clients[i], &len);
        for (uint32_t e = 0; e < n - 1; e++) {
            share_keys[len - 1 - e * 84] ^= 1;
        }
        OK(secagg_server_receive(server, i, share_keys, len, &fault));
        ASSERT(fault == 0);
        free(share_keys);
    }
    OK(secagg_server_close_phase(server));
    uint64_t input[M] = {1, 2, 3, 4};
    for (uint32_t i = 1; i <= n; i++) {
        size_t len = 0;
        uint8_t *msg = server_message(server, i, &len);
        ASSERT(msg != NULL);
        uint32_t fault = 77;
        OK(secagg_client_receive_shares(clients[i], msg, len, input, M, &fault));
        free(msg);
        send(server, clients[i], i);
    }
    EXPECT(secagg_server_close_phase(server), SECAGG_STATUS_CLIENT_UNDECRYPTABLE);
    SecaggOutcome outcome = SECAGG_OUTCOME_NONE;
    uint32_t who = 0;
    OK(secagg_server_outcome(server, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_ABORTED && who == bad);
    EXPECT(secagg_server_close_phase(server), SECAGG_STATUS_MISUSE_ROUND_OVER);
    OK(secagg_server_outcome(server, &outcome, &who));
    ASSERT(outcome == SECAGG_OUTCOME_NONE && who == 0);
    for (uint32_t i = 1; i <= n; i++) {
        secagg_client_free(clients[i]);
    }
    secagg_server_free(server);
    secagg_rng_free(rng);
    secagg_params_free(params);
    printf("aborted round: ok (the dealer no holder could open is named, ABORTED)\n");
}

/*
 * Hands one batch to `all` with secagg_server_receive_all and the same
 * messages to `one` with secagg_server_receive in turn: every message's
 * status, fault index and outcome agree (written to `statuses`), and so
 * does secagg_server_outcome after the batch.
 */
#define MAX_BATCH 16
static void receive_both(SecaggServer *one, SecaggServer *all, size_t count,
                         const uint32_t *senders, const uint8_t *const *messages,
                         const size_t *lens, SecaggStatus *statuses) {
    ASSERT(count <= MAX_BATCH);
    uint32_t faults[MAX_BATCH];
    SecaggOutcome outcomes[MAX_BATCH];
    OK(secagg_server_receive_all(all, count, senders, messages, lens, statuses, faults,
                                 outcomes));
    SecaggOutcome outcome = SECAGG_OUTCOME_ABORTED;
    uint32_t who = 77;
    for (size_t k = 0; k < count; k++) {
        uint32_t fault = 77;
        SecaggStatus st = secagg_server_receive(one, senders[k], messages[k], lens[k], &fault);
        OK(secagg_server_outcome(one, &outcome, &who));
        ASSERT(st == statuses[k]);
        ASSERT(fault == faults[k]);
        ASSERT(outcome == outcomes[k]);
        ASSERT(st == SECAGG_STATUS_OK ? who == 0 : who == senders[k]);
    }
    SecaggOutcome last = SECAGG_OUTCOME_ABORTED;
    OK(secagg_server_outcome(all, &last, &who));
    ASSERT(last == outcome);
}

/* Closes the phase on both servers: the same recipients, byte for byte the
 * same messages. */
static void close_both(SecaggServer *one, SecaggServer *all, uint32_t n) {
    OK(secagg_server_close_phase(one));
    OK(secagg_server_close_phase(all));
    for (uint32_t i = 1; i <= n; i++) {
        size_t la = 0, lb = 0;
        uint8_t *a = server_message(one, i, &la);
        uint8_t *b = server_message(all, i, &lb);
        ASSERT((a == NULL) == (b == NULL));
        ASSERT(a == NULL || (la == lb && memcmp(a, b, la) == 0));
        free(a);
        free(b);
    }
}

/*
 * secagg_server_receive_all against secagg_server_receive in turn, over a
 * whole round with two servers from one seed: each phase's replies go to
 * one server in a batch and to the other one by one, with a stranger and a
 * resend at R0, a truncated ShareKeys before the sender's real one at R1
 * (excluded, then ignored: its input is not in the sum) and garbage before
 * a real unmask response at R3 (excluded, then ignored: its input stays).
 * Every status, fault index and outcome, every message the servers send
 * and the final sum agree; the sum is the inputs of clients 1, 3, 4, 5.
 */
static void batch_round(void) {
    const uint32_t n = 5;
    SecaggParams *params = NULL;
    OK(secagg_params_new(n, 3, 32, M, &params));
    uint8_t round_id[32] = {6};
    SecaggRng *rng_one = NULL, *rng_all = NULL, *rng = NULL;
    OK(secagg_rng_new_seeded(31, &rng_one));
    OK(secagg_rng_new_seeded(31, &rng_all));
    OK(secagg_rng_new_seeded(32, &rng));
    SecaggServer *one = NULL, *all = NULL;
    OK(secagg_server_new(params, round_id, NULL, rng_one, &one));
    OK(secagg_server_new(params, round_id, NULL, rng_all, &all));
    SecaggClient *clients[MAX_N + 1] = {0};
    uint64_t inputs[(MAX_N + 1) * M];
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        inputs[k] = (k / M) * 1000 + k % M;
    }
    static const uint8_t junk[5] = {0xFF, 0xFE, 0xFD, 0xFC, 0xFB};
    /* A caller's error takes nothing (the round below would differ) and
     * writes nothing; an empty batch needs no arrays. */
    const uint32_t two[2] = {1, 2};
    const uint8_t *holed[2] = {junk, NULL};
    const size_t lens2[2] = {sizeof junk, 1};
    SecaggStatus untouched[2] = {SECAGG_STATUS_PANIC, SECAGG_STATUS_PANIC};
    EXPECT(secagg_server_receive_all(all, 2, two, holed, lens2, untouched, NULL, NULL),
           SECAGG_STATUS_NULL_POINTER);
    ASSERT(untouched[0] == SECAGG_STATUS_PANIC && untouched[1] == SECAGG_STATUS_PANIC);
    EXPECT(secagg_server_receive_all(all, 2, two, NULL, lens2, untouched, NULL, NULL),
           SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_receive_all(all, 2, two, holed, lens2, NULL, NULL, NULL),
           SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_receive_all(NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL),
           SECAGG_STATUS_NULL_POINTER);
    OK(secagg_server_receive_all(all, 0, NULL, NULL, NULL, NULL, NULL, NULL));
    uint32_t senders[MAX_BATCH];
    const uint8_t *messages[MAX_BATCH];
    size_t lens[MAX_BATCH];
    uint8_t *owned[MAX_BATCH];
    SecaggStatus st[MAX_BATCH];

    for (int phase = 0; phase < 4; phase++) {
        size_t count = 0, nowned = 0;
        for (uint32_t i = 1; i <= n; i++) {
            size_t len = 0;
            uint32_t fault = 0;
            if (phase == 0) {
                OK(secagg_client_new(params, round_id, i, NULL, NULL, rng, &clients[i]));
            } else {
                uint8_t *msg = server_message(all, i, &len);
                if (msg == NULL) {
                    continue; /* excluded */
                }
                if (phase == 1) {
                    OK(secagg_client_receive_keys(clients[i], msg, len, rng, &fault));
                } else if (phase == 2) {
                    OK(secagg_client_receive_shares(clients[i], msg, len, inputs + i * M, M,
                                                    &fault));
                } else {
                    OK(secagg_client_receive_unmask(clients[i], msg, len, &fault));
                }
                free(msg);
            }
            uint8_t *mine = client_message(clients[i], &len);
            owned[nowned++] = mine;
            if (phase == 1 && i == 2) {
                /* Its ShareKeys truncated, before the real one. */
                senders[count] = i, messages[count] = mine, lens[count++] = len - 1;
            }
            if (phase == 3 && i == 5) {
                senders[count] = i, messages[count] = junk, lens[count++] = sizeof junk;
            }
            senders[count] = i, messages[count] = mine, lens[count++] = len;
        }
        if (phase == 0) {
            /* A stranger, and client 1's keys again (a no-op). */
            senders[count] = 9, messages[count] = junk, lens[count++] = sizeof junk;
            senders[count] = 1, messages[count] = messages[0], lens[count++] = lens[0];
        }
        receive_both(one, all, count, senders, messages, lens, st);
        for (size_t k = 0; k < count; k++) {
            int bad = (phase == 0 && senders[k] == 9) ||
                      (phase == 1 && senders[k] == 2) ||
                      (phase == 3 && senders[k] == 5);
            ASSERT((st[k] == SECAGG_STATUS_OK) == !bad);
        }
        if (phase == 0) {
            ASSERT(st[n] == SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);
        } else if (phase == 1) {
            ASSERT(st[1] == SECAGG_STATUS_CLIENT_MALFORMED);
            ASSERT(st[2] == SECAGG_STATUS_CLIENT_NOT_IN_PHASE);
        } else if (phase == 3) {
            ASSERT(st[count - 2] == SECAGG_STATUS_CLIENT_MALFORMED);
            ASSERT(st[count - 1] == SECAGG_STATUS_CLIENT_NOT_IN_PHASE);
        }
        for (size_t k = 0; k < nowned; k++) {
            free(owned[k]);
        }
        close_both(one, all, n);
    }
    uint64_t sum_one[M], sum_all[M];
    size_t len = 0;
    OK(secagg_server_sum(one, sum_one, M, &len));
    ASSERT(len == M);
    OK(secagg_server_sum(all, sum_all, M, &len));
    ASSERT(len == M);
    for (size_t j = 0; j < M; j++) {
        ASSERT(sum_all[j] == sum_one[j]);
        ASSERT(sum_all[j] == inputs[M + j] + inputs[3 * M + j] + inputs[4 * M + j] +
                                 inputs[5 * M + j]);
    }
    for (uint32_t i = 1; i <= n; i++) {
        secagg_client_free(clients[i]);
    }
    secagg_server_free(one);
    secagg_server_free(all);
    secagg_rng_free(rng);
    secagg_rng_free(rng_one);
    secagg_rng_free(rng_all);
    secagg_params_free(params);
    printf("receive_all batches: ok (statuses, outcomes, messages and sum as one by one)\n");
}

static void error_paths(void) {
    uint8_t round_id[32] = {7};
    uint8_t buf[4096];
    size_t len = 0;
    uint32_t fault = 0;

    /* Messages for every code; unknown codes get a generic one. */
    for (int code = -2; code < 200; code++) {
        const char *m = secagg_status_message(code);
        ASSERT(m != NULL && m[0] != '\0');
    }
    ASSERT(strcmp(secagg_status_message(SECAGG_STATUS_OK), "success") == 0);
    ASSERT(secagg_version() != NULL);

    /* Parameters. */
    SecaggParams *p = NULL;
    EXPECT(secagg_params_new(4, 3, 32, M, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_new(1, 3, 32, M, &p), SECAGG_STATUS_PARAMS_CLIENT_COUNT);
    EXPECT(secagg_params_new(4, 1, 32, M, &p), SECAGG_STATUS_PARAMS_THRESHOLD);
    EXPECT(secagg_params_new(4, 3, 65, M, &p), SECAGG_STATUS_PARAMS_BITS);
    EXPECT(secagg_params_new_harary(10, 3, 32, M, 3, round_id, &p), SECAGG_STATUS_PARAMS_DEGREE);
    EXPECT(secagg_params_new_harary(10, 3, 32, M, 4, NULL, &p), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_secagg_plus(100, 32, M, 1.5, 0.1, false, &p),
           SECAGG_STATUS_PARAMS_FRACTION);
    ASSERT(p == NULL);
    OK(secagg_params_secagg_plus(100, 32, M, 0.05, 0.05, false, &p));
    uint32_t n = 0;
    bool mal = true;
    OK(secagg_params_info(p, &n, NULL, NULL, NULL, NULL, &mal));
    ASSERT(n == 100 && !mal);
    secagg_params_free(p);
    /* The model asked for: malicious SecAgg+ parameters. */
    OK(secagg_params_secagg_plus(100, 32, M, 0.05, 0.05, true, &p));
    OK(secagg_params_info(p, &n, NULL, NULL, NULL, NULL, &mal));
    ASSERT(n == 100 && mal);
    secagg_params_free(p);
    OK(secagg_params_new(4, 3, 8, M, &p));
    EXPECT(secagg_params_info(NULL, &n, NULL, NULL, NULL, NULL, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_encode(p, buf, 2, &len), SECAGG_STATUS_SHORT_BUFFER);
    size_t plen = len;
    EXPECT(secagg_params_encode(p, buf, sizeof buf, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_encode(p, NULL, sizeof buf, &len), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_params_encode(p, buf, sizeof buf, &len));
    ASSERT(len == plen);
    SecaggParams *q = NULL;
    OK(secagg_params_decode(buf, len, &q));
    secagg_params_free(q);
    q = NULL;
    EXPECT(secagg_params_decode(buf, len - 1, &q), SECAGG_STATUS_DECODE_TRUNCATED);
    buf[len] = 0;
    EXPECT(secagg_params_decode(buf, len + 1, &q), SECAGG_STATUS_DECODE_TRAILING_BYTES);
    EXPECT(secagg_params_decode(NULL, 5, &q), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_params_decode(NULL, 0, &q), SECAGG_STATUS_DECODE_TRUNCATED);
    ASSERT(q == NULL);

    /* Identities and rosters. */
    EXPECT(secagg_identity_generate(NULL, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_identity_public_key(NULL, buf), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_identity_export_secret(NULL, buf), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_identity_from_secret(NULL, NULL), SECAGG_STATUS_NULL_POINTER);
    SecaggRoster *ro = NULL;
    EXPECT(secagg_roster_new(NULL, 2, &ro), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_roster_new(buf, SIZE_MAX, &ro), SECAGG_STATUS_INVALID_ARGUMENT);
    ASSERT(secagg_roster_len(NULL) == 0);
    uint8_t zeros[64] = {0};
    EXPECT(secagg_roster_new(zeros, 2, &ro), SECAGG_STATUS_MISUSE_ROSTER);

    /* Client: bad index, NULLs, out-of-order calls, bad input. */
    SecaggClient *c = NULL;
    EXPECT(secagg_client_new(p, round_id, 0, NULL, NULL, NULL, &c), SECAGG_STATUS_MISUSE_CLIENT_INDEX);
    EXPECT(secagg_client_new(p, round_id, 5, NULL, NULL, NULL, &c), SECAGG_STATUS_MISUSE_CLIENT_INDEX);
    EXPECT(secagg_client_new(NULL, round_id, 1, NULL, NULL, NULL, &c), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_new(p, NULL, 1, NULL, NULL, NULL, &c), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_new(p, round_id, 1, NULL, NULL, NULL, NULL), SECAGG_STATUS_NULL_POINTER);
    ASSERT(c == NULL);
    EXPECT(secagg_client_phase(NULL, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_message(NULL, buf, sizeof buf, &len), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_receive_keys(NULL, buf, 1, NULL, &fault), SECAGG_STATUS_NULL_POINTER);

    SecaggServer *s = NULL;
    EXPECT(secagg_server_new(p, NULL, NULL, NULL, &s), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_server_new(p, round_id, NULL, NULL, &s));
    SecaggClient *cs[5] = {0};
    for (uint32_t i = 1; i <= 4; i++) {
        OK(secagg_client_new(p, round_id, i, NULL, NULL, NULL, &cs[i]));
    }
    c = cs[1];
    EXPECT(secagg_client_message(c, buf, 3, &len), SECAGG_STATUS_SHORT_BUFFER);
    size_t adv_len = len;
    OK(secagg_client_message(c, buf, sizeof buf, &len));
    ASSERT(len == adv_len);
    /* Calls out of order on a client awaiting keys. */
    EXPECT(secagg_client_receive_shares(c, buf, len, NULL, 0, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_client_receive_consistency(c, buf, len, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_client_receive_unmask(c, buf, len, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_client_receive_keys(c, NULL, 3, NULL, &fault), SECAGG_STATUS_NULL_POINTER);

    /* Server intake: truncated, stranger, wrong phase. */
    EXPECT(secagg_server_receive(s, 1, buf, len - 1, &fault), SECAGG_STATUS_CLIENT_MALFORMED);
    ASSERT(fault == 1);
    EXPECT(secagg_server_receive(s, 99, buf, len, &fault), SECAGG_STATUS_CLIENT_UNKNOWN_SENDER);
    ASSERT(fault == 99);
    EXPECT(secagg_server_receive(NULL, 1, buf, len, &fault), SECAGG_STATUS_NULL_POINTER);
    ASSERT(fault == 0);
    EXPECT(secagg_server_receive(s, 2, NULL, 10, &fault), SECAGG_STATUS_NULL_POINTER);
    for (uint32_t i = 2; i <= 3; i++) {
        send(s, cs[i], i);
    }
    /* A different second message from client 2 is a duplicate. */
    OK(secagg_client_message(cs[3], buf, sizeof buf, &len));
    EXPECT(secagg_server_receive(s, 2, buf, len, &fault), SECAGG_STATUS_CLIENT_DUPLICATE);
    ASSERT(fault == 2);
    EXPECT(secagg_server_message(s, 2, buf, sizeof buf, &len), SECAGG_STATUS_NOT_FOUND);
    EXPECT(secagg_server_sum(s, NULL, 0, &len), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_server_misbehaved(s, NULL, 0, &len), SECAGG_STATUS_OUT_OF_ORDER);
    EXPECT(secagg_server_clients(s, 42, NULL, 0, &len), SECAGG_STATUS_INVALID_ARGUMENT);
    uint32_t list[8];
    OK(secagg_server_clients(s, SECAGG_CLIENT_LIST_EXCLUDED, list, 8, &len));
    ASSERT(len >= 1 && list[0] == 1);
    OK(secagg_server_clients(s, SECAGG_CLIENT_LIST_PENDING, list, 8, &len));
    ASSERT(len == 1 && list[0] == 4);
    EXPECT(secagg_server_clients(s, SECAGG_CLIENT_LIST_PENDING, list, 0, &len),
           SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(len == 1);
    uint8_t session[32];
    OK(secagg_server_session(s, session));
    EXPECT(secagg_server_session(s, NULL), SECAGG_STATUS_NULL_POINTER);
    /* At most two of four is below t = 3: the round aborts. */
    EXPECT(secagg_server_close_phase(s), SECAGG_STATUS_NOT_ENOUGH_SURVIVORS);
    SecaggServerPhase phase;
    OK(secagg_server_phase(s, &phase));
    ASSERT(phase == SECAGG_SERVER_PHASE_OVER);
    EXPECT(secagg_server_receive(s, 3, buf, len, &fault), SECAGG_STATUS_MISUSE_ROUND_OVER);
    EXPECT(secagg_server_close_phase(NULL), SECAGG_STATUS_NULL_POINTER);
    secagg_server_free(s);

    /* A client refuses a garbage broadcast and stays usable; a wrong input
     * length or range is refused before any state change. */
    OK(secagg_server_new(p, round_id, NULL, NULL, &s));
    for (uint32_t i = 1; i <= 4; i++) {
        send(s, cs[i], i);
    }
    OK(secagg_server_close_phase(s));
    uint8_t *msg = server_message(s, 1, &len);
    EXPECT(secagg_client_receive_keys(c, msg, len - 1, NULL, &fault), SECAGG_STATUS_SERVER_MALFORMED);
    OK(secagg_client_receive_keys(c, msg, len, NULL, &fault));
    free(msg);
    EXPECT(secagg_client_receive_keys(c, buf, 1, NULL, &fault), SECAGG_STATUS_OUT_OF_ORDER);
    SecaggClientPhase cph;
    OK(secagg_client_phase(c, &cph));
    ASSERT(cph == SECAGG_CLIENT_PHASE_AWAITING_SHARES);
    /* A client whose keys are not in the broadcast refuses it, spent. */
    SecaggClient *stranger = NULL;
    OK(secagg_client_new(p, round_id, 2, NULL, NULL, NULL, &stranger));
    msg = server_message(s, 2, &len);
    EXPECT(secagg_client_receive_keys(stranger, msg, len, NULL, &fault),
           SECAGG_STATUS_SERVER_MISSING_OWN_KEYS);
    EXPECT(secagg_client_receive_keys(stranger, msg, len, NULL, &fault),
           SECAGG_STATUS_MISUSE_ROUND_OVER);
    free(msg);
    secagg_client_free(stranger);
    for (uint32_t i = 1; i <= 4; i++) {
        if (i != 1) {
            msg = server_message(s, i, &len);
            OK(secagg_client_receive_keys(cs[i], msg, len, NULL, &fault));
            free(msg);
        }
        send(s, cs[i], i);
    }
    OK(secagg_server_close_phase(s));
    msg = server_message(s, 1, &len);
    uint64_t in[M] = {1, 2, 3, 4};
    EXPECT(secagg_client_receive_shares(c, msg, len, in, M - 1, &fault),
           SECAGG_STATUS_MISUSE_INPUT_LENGTH);
    in[2] = 256; /* b = 8 */
    EXPECT(secagg_client_receive_shares(c, msg, len, in, M, &fault),
           SECAGG_STATUS_MISUSE_INPUT_RANGE);
    EXPECT(secagg_client_receive_shares(c, msg, len, NULL, M, &fault), SECAGG_STATUS_NULL_POINTER);
    in[2] = 3;
    OK(secagg_client_receive_shares(c, msg, len, in, M, &fault));
    free(msg);
    /* Semi-honest: no consistency round. */
    EXPECT(secagg_client_receive_consistency(c, buf, 10, &fault), SECAGG_STATUS_MISUSE_IDENTITY);
    EXPECT(secagg_client_receive_unmask(c, buf, 3, &fault), SECAGG_STATUS_SERVER_MALFORMED);

    for (uint32_t i = 1; i <= 4; i++) {
        secagg_client_free(cs[i]);
    }
    secagg_server_free(s);
    secagg_params_free(p);

    /* Freeing NULL is a no-op for every handle. */
    secagg_params_free(NULL);
    secagg_identity_free(NULL);
    secagg_roster_free(NULL);
    secagg_client_free(NULL);
    secagg_server_free(NULL);
    secagg_dp_config_free(NULL);
    printf("error paths: ok\n");
}

/* A seeded source (tests and conformance vectors only) is deterministic. */
static void seeded_source(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    SecaggRng *r1 = NULL, *r2 = NULL;
    EXPECT(secagg_rng_new_seeded(5, NULL), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_rng_new_seeded(5, &r1));
    OK(secagg_rng_new_seeded(5, &r2));
    uint8_t a[32], b[32];
    EXPECT(secagg_rng_fill(NULL, a, 32), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_rng_fill(r1, NULL, 32), SECAGG_STATUS_NULL_POINTER);
    OK(secagg_rng_fill(r1, a, 32));
    OK(secagg_rng_fill(r2, b, 32));
    ASSERT(memcmp(a, b, 32) == 0);
    SecaggClient *c1 = NULL, *c2 = NULL;
    OK(secagg_client_new(p, a, 1, NULL, NULL, r1, &c1));
    OK(secagg_client_new(p, b, 1, NULL, NULL, r2, &c2));
    size_t l1 = 0, l2 = 0;
    uint8_t *x1 = client_message(c1, &l1), *x2 = client_message(c2, &l2);
    ASSERT(l1 == l2 && memcmp(x1, x2, l1) == 0);
    free(x1);
    free(x2);
    secagg_client_free(c1);
    secagg_client_free(c2);
    secagg_rng_free(r1);
    secagg_rng_free(r2);
    secagg_rng_free(NULL);
    secagg_params_free(p);
    printf("seeded source: ok\n");
}

/* Refusals of the state functions: NULLs, bad codes, altered bytes, wrong key. */
static void state_errors(void) {
    SecaggParams *p = NULL;
    OK(secagg_params_new(3, 2, 32, M, &p));
    uint8_t round_id[32] = {9};
    SecaggClient *c = NULL;
    SecaggServer *s = NULL;
    OK(secagg_client_new(p, round_id, 1, NULL, NULL, NULL, &c));
    OK(secagg_server_new(p, round_id, NULL, NULL, &s));
    size_t len = 0, slen = 0;
    uint8_t *sealed = client_export(c, &len);
    uint8_t *ssealed = server_export(s, &slen);
    uint8_t buf[4096];
    size_t out_len = 7;

    EXPECT(secagg_client_export(NULL, STATE_KEY, NULL, buf, sizeof buf, &out_len),
           SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_export(c, NULL, NULL, buf, sizeof buf, &out_len), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_export(c, STATE_KEY, NULL, buf, sizeof buf, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_export(c, STATE_KEY, NULL, NULL, len, &out_len), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_export(NULL, STATE_KEY, NULL, buf, sizeof buf, &out_len),
           SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_export(s, NULL, NULL, buf, sizeof buf, &out_len), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_export(s, STATE_KEY, NULL, buf, slen - 1, &out_len), SECAGG_STATUS_SHORT_BUFFER);
    ASSERT(out_len == slen);
    /* A seeded source gives the nonce: two exports from equal sources are equal. */
    SecaggRng *r1 = NULL, *r2 = NULL;
    OK(secagg_rng_new_seeded(3, &r1));
    OK(secagg_rng_new_seeded(3, &r2));
    uint8_t a[4096], b[4096];
    size_t la = 0, lb = 0;
    OK(secagg_client_export(c, STATE_KEY, r1, a, sizeof a, &la));
    OK(secagg_client_export(c, STATE_KEY, r2, b, sizeof b, &lb));
    ASSERT(la == len && lb == len && memcmp(a, b, len) == 0);
    secagg_rng_free(r1);
    secagg_rng_free(r2);

    SecaggClient *back = NULL;
    SecaggServer *sback = NULL;
    EXPECT(secagg_client_import(NULL, len, STATE_KEY, round_id, 0, &back), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_import(sealed, len, NULL, round_id, 0, &back), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, NULL, 0, &back), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, round_id, 0, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, round_id, 6, &back),
           SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_client_import(sealed, len, STATE_KEY, round_id, -1, &back),
           SECAGG_STATUS_INVALID_ARGUMENT);
    EXPECT(secagg_server_import(NULL, slen, STATE_KEY, round_id, 0, &sback), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_import(ssealed, slen, NULL, round_id, 0, &sback), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_import(ssealed, slen, STATE_KEY, NULL, 0, &sback), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_import(ssealed, slen, STATE_KEY, round_id, 0, NULL), SECAGG_STATUS_NULL_POINTER);
    EXPECT(secagg_server_import(ssealed, slen, STATE_KEY, round_id, 6, &sback),
           SECAGG_STATUS_INVALID_ARGUMENT);

    /* Truncated: every strict prefix is refused (a STATE_* code). */
    for (size_t k = 0; k < len; k++) {
        SecaggStatus st = secagg_client_import(sealed, k, STATE_KEY, round_id, 0, &back);
        checks++;
        ASSERT(st == SECAGG_STATUS_STATE_MALFORMED || st == SECAGG_STATUS_STATE_AUTHENTICATION);
    }
    EXPECT(secagg_client_import(sealed, len - 1, STATE_KEY, round_id, 0, &back),
           SECAGG_STATUS_STATE_AUTHENTICATION);
    EXPECT(secagg_client_import(sealed, 3, STATE_KEY, round_id, 0, &back), SECAGG_STATUS_STATE_MALFORMED);
    EXPECT(secagg_server_import(ssealed, slen - 1, STATE_KEY, round_id, 0, &sback),
           SECAGG_STATUS_STATE_AUTHENTICATION);
    /* A flipped bit in the sealed body or its tag. */
    memcpy(a, sealed, len);
    a[len - 1] ^= 0x01;
    EXPECT(secagg_client_import(a, len, STATE_KEY, round_id, 0, &back), SECAGG_STATUS_STATE_AUTHENTICATION);
    memcpy(a, sealed, len);
    a[len / 2] ^= 0x80;
    EXPECT(secagg_client_import(a, len, STATE_KEY, round_id, 0, &back), SECAGG_STATUS_STATE_AUTHENTICATION);
    /* The format version byte. */
    memcpy(a, sealed, len);
    a[4] ^= 0x40;
    EXPECT(secagg_client_import(a, len, STATE_KEY, round_id, 0, &back), SECAGG_STATUS_STATE_VERSION);
    /* Another key. */
    uint8_t wrong_key[32];
    memcpy(wrong_key, STATE_KEY, 32);
    wrong_key[0] ^= 1;
    EXPECT(secagg_client_import(sealed, len, wrong_key, round_id, 0, &back),
           SECAGG_STATUS_STATE_AUTHENTICATION);
    EXPECT(secagg_server_import(ssealed, slen, wrong_key, round_id, 0, &sback),
           SECAGG_STATUS_STATE_AUTHENTICATION);
    /* A client's export is not a server's; the other round. */
    EXPECT(secagg_server_import(sealed, len, STATE_KEY, round_id, 0, &sback), SECAGG_STATUS_STATE_ROLE);
    round_id[0] ^= 1;
    EXPECT(secagg_server_import(ssealed, slen, STATE_KEY, round_id, 0, &sback), SECAGG_STATUS_STATE_ROUND);
    round_id[0] ^= 1;
    ASSERT(back == NULL && sback == NULL);
    /* And the untouched ones import. */
    OK(secagg_client_import(sealed, len, STATE_KEY, round_id, 0, &back));
    OK(secagg_server_import(ssealed, slen, STATE_KEY, round_id, 0, &sback));
    /* An imported client has no message until its next receive. */
    size_t mlen = 99;
    OK(secagg_client_message(back, NULL, 0, &mlen));
    ASSERT(mlen == 0);

    free(sealed);
    free(ssealed);
    secagg_client_free(back);
    secagg_server_free(sback);
    secagg_client_free(c);
    secagg_server_free(s);
    secagg_params_free(p);
    printf("state export and import: ok (refusals, NULL and short buffers)\n");
}

int main(void) {
    semi_honest_round();
    malicious_round();
    dp_round();
    aes_round();
    outcome_round();
    aborted_round();
    batch_round();
    error_paths();
    seeded_source();
    state_errors();
    printf("%d checks passed\n", checks);
    printf("10 passed, 0 failed\n");
    return 0;
}
