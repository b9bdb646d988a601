/*
 * The checks of the C ABI tests (round.c, review.c): EXPECT a status, OK,
 * ASSERT a condition; each counts in `checks` and stops the program with
 * the file, line and expression on the first failure.
 */
#ifndef SECAGG_TESTS_CHECK_H
#define SECAGG_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "secagg.h"

static int checks = 0;

#define EXPECT(expr, want)                                                              \
    do {                                                                                \
        SecaggStatus s_ = (expr);                                                       \
        checks++;                                                                       \
        if (s_ != (want)) {                                                             \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__,      \
                    __LINE__, #expr, (int)s_, secagg_status_message((int)s_), (int)(want)); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)
#define OK(expr) EXPECT(expr, SECAGG_STATUS_OK)
#define ASSERT(cond)                                                                    \
    do {                                                                                \
        checks++;                                                                       \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#endif
