/* A masked periodic PIT that bounds QEMU's vCPU turns under -icount
 * (metronome.c). */
#ifndef KEEL_METRONOME_H
#define KEEL_METRONOME_H

#include "types.h"

extern u64 metronome_us; /* metronome_us=: its period; 0: off */
void metronome_start(void);

#endif
