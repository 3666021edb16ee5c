/* A minimal check harness for host unit tests: each test program runs its
 * checks, prints a summary and exits non-zero if any failed. */
#ifndef KEEL_CHECK_H
#define KEEL_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/diag.h"

static int check_failures, check_count;

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		check_count++;                                                                \
		if (!(cond)) {                                                                \
			check_failures++;                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                             \
	} while (0)

#define CHECK_EQ(a, b)                                                                         \
	do {                                                                                   \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
		check_count++;                                                                 \
		if (a_ != b_) {                                                                \
			check_failures++;                                                      \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%#llx != %#llx)\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);                           \
		}                                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		check_count++;                                                                     \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			check_failures++;                                                          \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s (\"%s\" != \"%s\")\n", \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		}                                                                                  \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

/* A diag that records what a parser reported. */
struct diag_log {
	struct diag d;
	char text[8192];
};

static void diag_log_emit(void *ctx, const char *line)
{
	struct diag_log *l = ctx;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof l->text - n, "%s\n", line);
}

static inline void diag_log_init(struct diag_log *l)
{
	memset(l, 0, sizeof *l);
	l->d.emit = diag_log_emit;
	l->d.ctx = l;
}

static inline int diag_has(const struct diag_log *l, const char *needle)
{
	return strstr(l->text, needle) != NULL;
}

#endif
