/*
 * Interrupts as capabilities (docs/design.md "Interrupts as capabilities").
 *
 * Device interrupts: a KEEL_CAP_IRQ names a GSI. Its holder binds it
 * (SYS_IRQ_BIND): the IOAPIC pin is routed to vector 0x30 + GSI and
 * unmasked. When it fires, the kernel masks the pin, sends the LAPIC its EOI
 * at once, sets the GSI's bit in the holder's irq_pending and posts
 * KEEL_EV_IRQ; the holder services the device and acknowledges
 * (SYS_IRQ_ACK), which unmasks the pin.
 *
 * Software vectors: a KEEL_CAP_SWVEC names one of 0xA0..0xBF. `int $N` from
 * a holder raises KEEL_EV_SWVEC (bit N - 0xA0 of swvec_pending); from anyone
 * else it is the #GP the CPU would have raised for a DPL-0 gate. No EOI:
 * nothing of the LAPIC is involved.
 */
#ifndef KEEL_IRQ_H
#define KEEL_IRQ_H

#include "types.h"

struct cap;
struct env;
struct dispatcher;
struct trap_frame;

/* At boot: the IOAPIC, the IRQ and SWVEC capability types, and a waker for
 * the idle loop: a line bound, unmasked, its holder taking upcalls could
 * still post an event. */
int irq_init(void);

/* Capabilities, made at boot (grant.c): `isa` an ISA IRQ (through the MADT's
 * overrides) or else a GSI. The new cap's slot in e, or -errno. */
int irq_grant(struct env *e, u32 n, bool isa);
int swvec_grant(struct env *e, u32 vector);

i64 irq_bind(struct dispatcher *d, u64 slot);
i64 irq_ack(struct env *e, u64 slot);
/* A dispatcher was handed over (disp.c): the interrupts bound by it go to
 * the one that took its context. */
void irq_dispatcher_handed(struct dispatcher *from, struct dispatcher *to);

/* Vector 0x30 + gsi arrived (from Ring 3 or in the idle loop). */
void irq_interrupt(unsigned vector);
extern u64 irq_interrupts; /* device interrupts taken, all GSIs */

/* `int $N` from Ring 3 on a software vector: true if e holds it (the event
 * is posted); false: the caller raises #GP. */
bool swvec_raise(struct dispatcher *d, unsigned vector);



#endif
