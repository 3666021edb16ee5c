/* The local APIC (xAPIC, memory-mapped): EOI, spurious vector, one-shot timer. */
#ifndef KEEL_X86_LAPIC_H
#define KEEL_X86_LAPIC_H

#include "types.h"

/* Map and enable this CPU's local APIC (spurious vector 0xFF, timer masked). */
int lapic_init(paddr_t pa);
/* Enable this CPU's LAPIC as lapic_init did the boot CPU's (an AP's). */
void lapic_enable(void);

/* Send an IPI (the ICR's low word: vector, delivery mode, level) to a CPU
 * by its APIC id; false if the LAPIC never reports it sent. */
#define ICR_INIT 0x00004500u    /* INIT, level assert */
#define ICR_STARTUP 0x00004600u /* start-up; | the vector: the page number below 1 MiB */
#define ICR_NMI_OTHERS 0x000C4400u /* NMI, level assert, to every CPU but this one (shorthand) */
bool lapic_send_ipi(u32 apic_id, u32 icr_lo);
void lapic_eoi(void);
u32 lapic_id(void);

/* One-shot timer: fire the timer vector after `ticks` timer ticks (>= 1);
 * stop it. Each is one register write once the timer is running. */
void lapic_timer_oneshot(u32 ticks);
void lapic_timer_stop(void);
u32 lapic_timer_current(void);

/* Timer ticks per second, measured against the PIT at boot. */
extern u64 lapic_timer_hz;

/* Measure the LAPIC timer and TSC rates against PIT channel 2 over `ms`. */
void lapic_calibrate(unsigned ms, u64 *tsc_hz);

#endif
