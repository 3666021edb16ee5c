/*
 * The kernel command line: space-separated `key=value` or `key` words;
 * a value may be double-quoted to hold spaces, and a backslash takes the next
 * character literally (GRUB passes `"` as `\"`). Pure; host-tested.
 *
 * Keel's keys (docs/testing.md lists them all):
 *   test=NAME        run the in-kernel boot test NAME instead of the demo
 *   fail=WHAT:N      make the Nth allocation of WHAT (frame, heap) fail
 *   quota_caps=N ... the tunables: one table, parsed in tunables.c
 */
#ifndef KEEL_CMDLINE_H
#define KEEL_CMDLINE_H

#include "types.h"
#include "lib/diag.h"

#define CMDLINE_MAX 512
#define CMDLINE_MAX_ARGS 32

struct cmdline {
	char buf[2 * CMDLINE_MAX]; /* words, NUL-separated: at most 2 bytes per input byte */
	struct {
		const char *key;
		const char *val; /* "" for a bare word */
	} arg[CMDLINE_MAX_ARGS];
	size_t n;
};

/* Parse src (at most srclen bytes, stops at NUL). Overlong input, too many
 * words and an unterminated quote are reported and what fits is kept.
 * Returns the number of problems reported. */
unsigned cmdline_parse(struct cmdline *c, const char *src, size_t srclen, struct diag *d);

/* The value of key (last occurrence wins), or NULL when absent. */
const char *cmdline_get(const struct cmdline *c, const char *key);

/* Parse a decimal or 0x-prefixed number; false unless the whole string is one
 * that fits in 64 bits. */
bool parse_u64(const char *s, u64 *out);

#endif
