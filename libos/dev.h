/*
 * libos devices: interrupt, port and software-vector capabilities
 * (docs/abi.md "Devices"). A driver finds its capabilities with
 * vm_find_cap(), binds its interrupt, drives the device with `in`/`out` from
 * Ring 3 through its port capability, and acknowledges each interrupt once
 * it has serviced the device.
 */
#ifndef LIBOS_DEV_H
#define LIBOS_DEV_H

#include "keel.h"

static inline long sys_irq_bind(uint32_t slot) { return keel_syscall3(SYS_IRQ_BIND, slot, 0, 0); }
static inline long sys_irq_ack(uint32_t slot) { return keel_syscall3(SYS_IRQ_ACK, slot, 0, 0); }

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

/* The slot of this env's capability of `type` (KEEL_CAP_IRQ, _IOPORT,
 * _SWVEC) whose base is `base`, or -ENOENT. */
long keel_dev_cap(uint32_t type, uint64_t base);

#endif
