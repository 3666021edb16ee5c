/*
 * How a Keel boot ends, as seen from the host.
 *
 * The kernel writes one of these bytes to QEMU's isa-debug-exit port
 * (-device isa-debug-exit,iobase=0xf4,iosize=0x04); QEMU then exits with
 * status (value << 1) | 1. The values are distinct and non-zero so that a host
 * tool can tell "the kernel said success" from "it panicked" from "QEMU died
 * for another reason" (status 0: e.g. a triple fault under -no-reboot).
 *
 * The test harness (boot/keelqemu.py) parses the #defines below; keep them
 * one per line in this form.
 */
#ifndef KEEL_UAPI_EXIT_H
#define KEEL_UAPI_EXIT_H

#define KEEL_EXIT_PORT    0xf4
#define KEEL_EXIT_SUCCESS 0x10 /* everything run reported ok: QEMU status 33 */
#define KEEL_EXIT_FAILURE 0x11 /* a test failed or boot stopped cleanly: 35 */
#define KEEL_EXIT_PANIC   0x12 /* kernel panic, fault or double fault: 37 */

#endif
