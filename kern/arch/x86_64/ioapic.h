/*
 * The IOAPICs the MADT lists. Every pin starts masked; a pin is routed to
 * this CPU's local APIC (fixed delivery, physical destination) with its own
 * vector, polarity and trigger mode when an env binds an interrupt
 * capability for it, and masked or unmasked as the binding says.
 */
#ifndef KEEL_X86_IOAPIC_H
#define KEEL_X86_IOAPIC_H

#include "types.h"

/* Map every IOAPIC of the MADT and mask all its pins. */
int ioapic_init(void);

/* How many GSIs the IOAPICs serve (0: none). */
u32 ioapic_gsi_count(void);

/* Route gsi to `vector` on this CPU, masked. level/active_low from the
 * MADT's flags. 0 or -ENOENT (no IOAPIC serves it). */
int ioapic_route(u32 gsi, u8 vector, bool level, bool active_low);
void ioapic_set_masked(u32 gsi, bool masked);

#endif
