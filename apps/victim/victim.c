/*
 * `victim [SEED [MIN_ROUNDS [PEERS]]]`: the env a hostile one must not touch.
 * Fills 1 MiB of its memory from a seeded PRNG, remembers the checksum, then
 * keeps computing -- re-checking the whole megabyte and a long dependent
 * computation each round -- until every other env of the boot has ended (it
 * watches their ENV capabilities' GONE flag) and it has done MIN_ROUNDS.
 * PEERS: how many other victims run beside it; they wait the same way, so it
 * stops once no more than that many others are alive.
 * Exits 0 only if nothing changed under it.
 */
#include "env.h"
#include "keel.h"
#include "rand.h"
#include "vm.h"

#define WORDS (1u << 17) /* 1 MiB */
static uint64_t mem[WORDS];

static uint64_t checksum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (uint32_t i = 0; i < WORDS; i++)
		h = (h ^ mem[i]) * 0x100000001b3ULL;
	return h;
}

/* A long dependent chain: any register disturbed changes its result. */
static uint64_t chain(uint64_t x, int n)
{
	for (int i = 0; i < n; i++)
		x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
	return x;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? keel_atou(argv[1]) : 1;
	uint64_t min_rounds = argc > 2 ? keel_atou(argv[2]) : 20;
	int peers = argc > 3 ? (int)keel_atou(argv[3]) : 0;
	struct keel_rand r;
	rand_seed(&r, seed);
	for (uint32_t i = 0; i < WORDS; i++)
		mem[i] = rand_next(&r);
	uint64_t sum = checksum(), expect = chain(seed, 100000);
	uint64_t rounds = 0, bad = 0;
	while (rounds < min_rounds || keel_envs_alive() > peers) {
		if (checksum() != sum || chain(seed, 100000) != expect)
			bad++;
		rounds++;
		sys_yield(); /* a round at a time: the others get the CPU back soon */
	}
	printf("victim env %ld: %llu rounds, memory checksum %#llx %s, computation %s\n", sys_env_id(),
	       (unsigned long long)rounds, (unsigned long long)sum, checksum() == sum ? "intact" : "CHANGED",
	       bad ? "DISTURBED" : "intact");
	return bad || checksum() != sum;
}
