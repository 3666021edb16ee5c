/*
 * CPU-bound, never yields: `spin LABEL [ROUNDS]`. Each round is a fixed amount
 * of arithmetic; the round reports show two spinners advancing together only
 * if the kernel preempts them.
 */
#include "keel.h"

static uint64_t work(uint64_t x, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

int main(int argc, char **argv)
{
	const char *label = argc > 1 ? argv[1] : "?";
	unsigned rounds = argc > 2 ? (unsigned)keel_atou(argv[2]) : 8;
	uint64_t x = (uint64_t)sys_env_id();
	for (unsigned r = 1; r <= rounds; r++) {
		x = work(x, 3000000);
		printf("spin %s: round %u/%u (env %ld)\n", label, r, rounds, sys_env_id());
	}
	return x == 0; /* x is never 0 here; keeps the work observable */
}
