/*
 * The legacy 8259 PICs: remapped away from the exception vectors and fully
 * masked before interrupts are ever enabled (Keel uses the local APIC and
 * IOAPIC). A masked PIC can still deliver a spurious IRQ 7 or 15.
 */
#include "arch/x86_64/pic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/vectors.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_EOI 0x20
#define OCW3_READ_ISR 0x0B

void pic_init(void)
{
	outb(PIC1_CMD, 0x11); /* ICW1: init, ICW4 follows */
	io_wait();
	outb(PIC2_CMD, 0x11);
	io_wait();
	outb(PIC1_DATA, VEC_PIC_BASE); /* ICW2: vector base */
	io_wait();
	outb(PIC2_DATA, VEC_PIC_BASE + 8);
	io_wait();
	outb(PIC1_DATA, 4); /* ICW3: slave on IRQ 2 */
	io_wait();
	outb(PIC2_DATA, 2);
	io_wait();
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
	io_wait();
	outb(PIC2_DATA, 0x01);
	io_wait();
	outb(PIC1_DATA, 0xFF); /* mask everything */
	outb(PIC2_DATA, 0xFF);
}

static u8 pic_isr(u16 cmd)
{
	outb(cmd, OCW3_READ_ISR);
	return inb(cmd);
}

bool pic_handle_spurious(unsigned vector)
{
	if (vector == VEC_PIC_SPURIOUS_MASTER)
		return !(pic_isr(PIC1_CMD) & 0x80); /* genuine IRQ 7 would be in service */
	if (vector == VEC_PIC_SPURIOUS_SLAVE) {
		if (pic_isr(PIC2_CMD) & 0x80)
			return false;
		outb(PIC1_CMD, PIC_EOI); /* the master did see IRQ 2 */
		return true;
	}
	return false;
}
