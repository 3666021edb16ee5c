/* The sched app's demos (one file each) and what they share. */
#ifndef SCHED_DEMO_H
#define SCHED_DEMO_H

#include "keel.h"
#include "rand.h"
#include "sched.h"
#include "lib/errname.h"

int demo_fair(const struct sched_policy *p, int argc, char **argv);  /* fair.c: rr, stride */
int demo_prio(int argc, char **argv);                                  /* prio.c */
int demo_edf(int argc, char **argv);                                   /* edf.c */
int demo_switch(int argc, char **argv);                                /* switch.c */
int demo_broken(int argc, char **argv);                                /* broken.c */
int demo_trace(int argc, char **argv);                                 /* workload.c */
int demo_rt(const struct sched_policy *p, int argc, char **argv);    /* rt.c: gedf, pedf */
int demo_shinjuku(int argc, char **argv);                              /* shinjuku.c */
int demo_caladan(int argc, char **argv);                               /* caladan.c */
int demo_soak(int argc, char **argv);                                  /* caladan.c: its best-effort env */
extern int demo_quiet; /* the showcase: no trace dumps */

/* A CPU-bound worker's loop: bursts of `burn` instructions until *stop. */
struct spinner {
	volatile int *stop;
	uint64_t burn;
	volatile uint64_t loops;
	uint64_t cpu_ns;
};
void *spin_until_stopped(void *arg);

static inline uint64_t arg_or(int argc, char **argv, int i, uint64_t dflt)
{
	return argc > i ? keel_atou(argv[i]) : dflt;
}

#endif
