/*
 * `com2 MODE [N]`: the second serial port driven from Ring 3 (tests/test_irq.py).
 *   echo N     the driver: IRQ 3 through an interrupt capability, ports
 *              0x2F8..0x2FF through a port capability; echoes N bytes back
 *              out of COM2, then prints their count and checksum
 *   noirq N    ports but no interrupt capability: the UART's interrupt is
 *              enabled, N bytes are read by polling, and no interrupt may
 *              reach this env
 *   noport     `in` and `out` on COM2 are #GP unless this env holds its port
 *              capability; on the kernel's COM1, exit port and PIC always
 * The kernel keeps COM1, its console.
 */
#include "keel.h"
#include "keel/exit.h"
#include "dev.h"
#include "ipc.h"
#include "vm.h"

#define COM2 0x2F8
#define RBR 0 /* receive buffer (read) */
#define THR 0 /* transmit holding (write) */
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define LSR_DR 0x01   /* data ready */
#define LSR_THRE 0x20 /* room to transmit */

/* portio.S: `in`/`out` through DX, with the faulting instruction's address. */
uint8_t probe_in(uint16_t port);
void probe_out(uint16_t port, uint8_t v);
extern char probe_in_insn[], probe_out_insn[];

static volatile uint64_t gp_count, gp_error, gp_rip, irq_events;
static uint64_t count, sum = 0xcbf29ce484222325ULL; /* FNV-1a of what was echoed */

static void on_event(struct keel_upcall_area *a, uint64_t ev, struct keel_context *ctx)
{
	if (ev & KEEL_EV_IRQ)
		irq_events++;
}

static int on_trap(struct keel_upcall_area *a, uint64_t vector, uint64_t error, uint64_t cr2, struct keel_context *ctx,
		   int slot)
{
	if (vector != 13 || (ctx->rip != (uint64_t)probe_in_insn && ctx->rip != (uint64_t)probe_out_insn))
		return 1;
	gp_count++;
	gp_error = error;
	gp_rip = ctx->rip;
	ctx->rip += 1; /* in/out through DX: one byte */
	return 0;
}

static void uart_init(void)
{
	outb(COM2 + IER, 0);
	outb(COM2 + LCR, 0x80); /* divisor latch: 115200 baud */
	outb(COM2 + 0, 1);
	outb(COM2 + 1, 0);
	outb(COM2 + LCR, 0x03); /* 8N1 */
	outb(COM2 + FCR, 0xC7); /* FIFOs on and cleared, 14-byte trigger */
	outb(COM2 + MCR, 0x0B); /* DTR, RTS, OUT2 (the interrupt line's gate) */
	while (inb(COM2 + LSR) & LSR_DR)
		(void)inb(COM2 + RBR);
	outb(COM2 + IER, 0x01); /* interrupt: received data available */
}

/* Read what the UART holds and echo it; how many bytes. */
static uint64_t drain(void)
{
	uint64_t n = 0;
	while (inb(COM2 + LSR) & LSR_DR) {
		uint8_t c = inb(COM2 + RBR);
		while (!(inb(COM2 + LSR) & LSR_THRE))
			;
		outb(COM2 + THR, c);
		sum = (sum ^ c) * 0x100000001b3ULL;
		count++;
		n++;
	}
	return n;
}

static int mode_echo(uint64_t want)
{
	struct keel_cap_info irq;
	long islot = vm_find_cap(0, KEEL_CAP_IRQ, NULL, 0, &irq);
	long pslot = keel_dev_cap(KEEL_CAP_IOPORT, COM2);
	if (islot < 0 || pslot < 0) {
		printf("com2 echo: FAILED: no interrupt (%s) or port (%s) capability\n", errname((int)islot),
		       errname((int)pslot));
		return 1;
	}
	keel_upcalls_init(on_event, on_trap);
	uart_init();
	long err = sys_irq_bind((uint32_t)islot);
	if (err) {
		printf("com2 echo: FAILED: bind: %s\n", errname((int)err));
		return 1;
	}
	printf("com2 echo: ready: GSI %llu bound, ports %#llx+%llu\n", (unsigned long long)irq.base,
	       (unsigned long long)COM2, 8ULL);
	uint64_t interrupts = 0, waits = 0;
	while (count < want) {
		uint64_t bits = keel_take(&keel_area->irq_pending);
		drain();
		if (bits) {
			/* Serviced: unmask, then look again -- what came in
			 * between is read now or raises the line anew. */
			interrupts++;
			sys_irq_ack((uint32_t)islot);
			drain();
			continue;
		}
		if (count < want) {
			waits++;
			sys_event_wait();
		}
	}
	printf("com2 echo: %llu bytes echoed, checksum %016llx; %llu interrupts, %llu waits, %llu IRQ events\n",
	       (unsigned long long)count, (unsigned long long)sum, (unsigned long long)interrupts,
	       (unsigned long long)waits, (unsigned long long)irq_events);
	outb(COM2 + IER, 0);
	return interrupts ? 0 : 1;
}

static int mode_noirq(uint64_t want)
{
	long pslot = keel_dev_cap(KEEL_CAP_IOPORT, COM2);
	long islot = vm_find_cap(0, KEEL_CAP_IRQ, NULL, 0, NULL);
	keel_upcalls_init(on_event, on_trap);
	long bind = sys_irq_bind((uint32_t)pslot); /* a port capability is not an interrupt's */
	if (pslot < 0 || islot != -ENOENT || bind != -ETYPE) {
		printf("com2 noirq: FAILED: port cap %ld, irq cap %ld, bind %s\n", pslot, islot, errname((int)bind));
		return 1;
	}
	uart_init(); /* the device raises IRQ 3 for every byte */
	printf("com2 noirq: ready: polling, the UART's interrupt enabled\n");
	while (count < want)
		drain();
	uint64_t polls = 0;
	for (; polls < 200; polls++)
		sys_yield(); /* time for a stray interrupt to arrive */
	printf("com2 noirq: %llu bytes by polling, checksum %016llx; %llu IRQ events, irq_pending %#llx\n",
	       (unsigned long long)count, (unsigned long long)sum, (unsigned long long)irq_events,
	       (unsigned long long)keel_area->irq_pending);
	outb(COM2 + IER, 0);
	return irq_events || keel_area->irq_pending;
}

static int mode_noport(void)
{
	keel_upcalls_init(on_event, on_trap);
	/* Held (grant=) or not, COM2's ports decide; the kernel's never open. */
	int have = keel_dev_cap(KEEL_CAP_IOPORT, COM2) >= 0;
	static const uint16_t ports[] = { COM2, COM2 + LSR, 0x3F8, KEEL_EXIT_PORT, 0x20 };
	int bad = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(ports); i++) {
		int want_gp = !(have && ports[i] >= COM2 && ports[i] < COM2 + 8);
		uint64_t before = gp_count;
		(void)probe_in(ports[i]);
		int in_gp = gp_count == before + 1 && gp_rip == (uint64_t)probe_in_insn && gp_error == 0;
		probe_out(ports[i], 0);
		int out_gp = gp_count == before + 1 + in_gp && gp_rip == (uint64_t)probe_out_insn && gp_error == 0;
		printf("com2 noport: port %#x: in %s, out %s\n", ports[i], in_gp ? "#GP" : "allowed",
		       out_gp ? "#GP" : "allowed");
		bad += (in_gp != want_gp) + (out_gp != want_gp);
	}
	printf("com2 noport: %llu #GP forwarded (COM2's ports %s); %s\n", (unsigned long long)gp_count,
	       have ? "held" : "not held", bad ? "FAILED" : "ok");
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "echo";
	uint64_t n = argc > 2 ? keel_atou(argv[2]) : 64;
	if (!strcmp(mode, "echo"))
		return mode_echo(n);
	if (!strcmp(mode, "noirq"))
		return mode_noirq(n);
	if (!strcmp(mode, "noport"))
		return mode_noport();
	printf("com2: unknown mode %s\n", mode);
	return 2;
}
