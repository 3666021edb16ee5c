/*
 * The kernel command line's tunables -- quotas, the time slice, the watchdog,
 * the test-only uaccess window -- in one table (tunables.c), parsed in one
 * place. docs/testing.md lists them, with their ranges and defaults.
 */
#ifndef KEEL_TUNABLES_H
#define KEEL_TUNABLES_H

#include "cmdline.h"
#include "types.h"

/* The round-robin time slice in microseconds (timeslice_us=, default the
 * build's -Dtimeslice_us): main.c starts the scheduler with it. */
extern u64 timeslice_us;

/*
 * Set every tunable the command line names. A value outside its key's range
 * (or not a number) changes nothing and is reported, the same way for every
 * key:  warning: KEY=VALUE is not MIN..MAX, keeping DEFAULT
 * Then, if the command line named any, print every value in force on one
 * line: "tunables: KEY=VALUE ..."
 * Returns how many values were refused.
 */
unsigned tunables_apply(const struct cmdline *c);

#endif
