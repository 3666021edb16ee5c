/*
 * The trace sites (trace.h): built as 5-byte NOPs, each inside the text with
 * its recording code; switched on, each is exactly `jmp rel32` to that code;
 * switched off, the NOP again -- read back from the live text here.
 * (tests/test_trace.py also checks the NOPs in the built image, from
 * outside, and the events a switched-on boot records.)
 */
#include "image.h"
#include "ktest.h"
#include "lib/string.h"
#include "trace.h"

extern const struct trace_site __trace_sites_start[], __trace_sites_end[];

static u64 sites_in(int state)
{
	u64 n = 0;
	for (u64 i = 0; i < trace_site_count(); i++)
		n += trace_site_state(i) == state;
	return n;
}

KTEST(trace_sites_are_nops_until_switched_on)
{
	u64 n = trace_site_count();
	KEXPECT(n >= 12, "sites: %llu", (unsigned long long)n);
	for (const struct trace_site *s = __trace_sites_start; s < __trace_sites_end; s++)
		KEXPECT(s->at >= (u64)__text_start && s->at + 5 <= (u64)__text_end && s->target >= (u64)__text_start &&
				s->target < (u64)__text_end && s->target != s->at + 5,
			"site %#llx -> %#llx", (unsigned long long)s->at, (unsigned long long)s->target);
	KEXPECT(!trace_is_on() && sites_in(1) == n, "off at boot: %llu of %llu NOPs", (unsigned long long)sites_in(1),
		(unsigned long long)n);
	trace_switch(true); /* no rings: a site that runs records nothing */
	u64 jumps = sites_in(2);
	const u8 *first = (const u8 *)__trace_sites_start[0].at;
	ktest_log("on: %llu of %llu sites jump; the first at %#llx: %02x %02x %02x %02x %02x", (unsigned long long)jumps,
		  (unsigned long long)n, (unsigned long long)__trace_sites_start[0].at, first[0], first[1], first[2],
		  first[3], first[4]);
	trace_switch(false);
	KEXPECT(jumps == n, "on: %llu of %llu jump", (unsigned long long)jumps, (unsigned long long)n);
	KEXPECT(sites_in(1) == n, "off again: %llu of %llu NOPs", (unsigned long long)sites_in(1),
		(unsigned long long)n);
	ktest_log("off: %llu of %llu sites are `nopl 0(%%rax,%%rax,1)` again", (unsigned long long)sites_in(1),
		  (unsigned long long)n);
}
