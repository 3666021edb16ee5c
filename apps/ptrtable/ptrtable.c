/*
 * A program whose data holds absolute pointers -- a table of function and
 * string pointers -- so it works only if the kernel relocated it to where it
 * runs. Two instances must print different addresses and both be right.
 */
#include "keel.h"

static long add(long a, long b) { return a + b; }
static long mul(long a, long b) { return a * b; }
static long sub(long a, long b) { return a - b; }

struct op {
	const char *name;
	long (*fn)(long, long);
	long expect;
};

static const struct op table[] = {
	{ "add", add, 9 },
	{ "mul", mul, 18 },
	{ "sub", sub, 3 },
};
static const char *const greeting = "pointer table";

int main(int argc, char **argv)
{
	int bad = 0;
	uint64_t lo = keel_start_info->image_base, hi = lo + keel_start_info->image_size;
	printf("ptrtable env %ld: %s at %p, table at %p, add() at %p\n", sys_env_id(), greeting, (void *)greeting,
	       (const void *)table, (void *)table[0].fn);
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		uint64_t fp = (uint64_t)table[i].fn, np = (uint64_t)table[i].name;
		long r = table[i].fn(6, 3);
		int ok = r == table[i].expect && fp >= lo && fp < hi && np >= lo && np < hi;
		bad += !ok;
		printf("ptrtable env %ld: %s(6, 3) = %ld via %p: %s\n", sys_env_id(), table[i].name, r, (void *)fp,
		       ok ? "ok" : "WRONG");
	}
	printf("ptrtable env %ld: %s\n", sys_env_id(), bad ? "FAILED" : "all pointers right");
	return bad;
}
