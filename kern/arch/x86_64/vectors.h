/* Interrupt vector assignment (docs/architecture.md keeps the table). */
#ifndef KEEL_X86_VECTORS_H
#define KEEL_X86_VECTORS_H

#include "keel/abi.h"

/* 0x00-0x1F: CPU exceptions */
#define VEC_DE 0
#define VEC_DB 1
#define VEC_NMI 2
#define VEC_BP 3
#define VEC_OF 4
#define VEC_BR 5
#define VEC_UD 6
#define VEC_NM 7
#define VEC_DF 8
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14
#define VEC_MF 16
#define VEC_AC 17
#define VEC_MC 18
#define VEC_XM 19
#define VEC_VE 20
#define VEC_CP 21
#define VEC_VC 29
#define VEC_SX 30

/* 0x20-0x2F: the legacy 8259 PICs, remapped here and fully masked; only
 * their spurious IRQ 7 / IRQ 15 can still arrive. */
#define VEC_PIC_BASE 0x20
#define VEC_PIC_SPURIOUS_MASTER (VEC_PIC_BASE + 7)
#define VEC_PIC_SPURIOUS_SLAVE (VEC_PIC_BASE + 15)

/* 0x30..0x6F: device interrupts, GSI n on vector 0x30 + n (IOAPIC). */
#define VEC_IRQ_BASE 0x30
#define VEC_IRQ_COUNT 64

/* The vectors Ring 3 raises are part of the ABI (keel/abi.h): defined there. */

/* 0xA0..0xBF (DPL 3): software vectors: delivered to a holder of their
 * capability, #GP (as the CPU would give) to anyone else. */
#define VEC_SOFT_BASE KEEL_VEC_SOFT_BASE
#define VEC_SOFT_COUNT KEEL_VEC_SOFT_COUNT

/* 0x80: syscalls by `int $0x80` (DPL 3): the same ABI as `syscall`, returning
 * through iretq; the entry used when a syscall must not use sysret paths. */
#define VEC_SYSCALL_INT KEEL_VEC_SYSCALL_INT

/* 0x81 (DPL 3): the benchmark's hardware floor -- a gate whose handler is a
 * lone iretq (entry.S floor_iretq). */
#define VEC_FLOOR_INT KEEL_VEC_FLOOR

/* 0x82 (DPL 3): raise KEEL_EV_SELF on oneself: an interrupt delivered back as
 * an upcall, the benchmark's interrupt round trip. */
#define VEC_SELF_EVENT KEEL_VEC_SELF

/* 0xF0: the local APIC timer (the kernel's timer queue). */
#define VEC_TIMER 0xF0
/* 0xF1: a cross-CPU call (smp_call): run the function another CPU posted. */
#define VEC_CALL 0xF1
/* 0xF2: a kick (smp_kick): enter the kernel and look again -- events for the
 * env running here, or work for an idle CPU. */
#define VEC_KICK 0xF2
/* 0xFE: local APIC error. */
#define VEC_LAPIC_ERROR 0xFE

/* Not a vector: marks a trap frame built by the `syscall` entry. */
#define VEC_SYSCALL 0x100

/* 0xFF: the local APIC's spurious vector (never EOI'd). */
#define VEC_LAPIC_SPURIOUS 0xFF

#endif
