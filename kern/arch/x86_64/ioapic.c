#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/lapic.h"
#include "arch/x86_64/paging.h"
#include "console.h"
#include "keel/errno.h"
#include "kva.h"
#include "platform.h"

#define IOREGSEL 0x00
#define IOWIN 0x10
#define IOAPIC_VER 0x01
#define IOREDTBL(pin) (0x10 + 2 * (pin))

#define RTE_MASKED (1u << 16)
#define RTE_LEVEL (1u << 15)
#define RTE_ACTIVE_LOW (1u << 13)

static struct ioapic {
	volatile u32 *mmio;
	u32 gsi_base, pins;
} ioapics[ACPI_MAX_IOAPICS];
static size_t nioapics;

static u32 rd(struct ioapic *a, u32 reg)
{
	a->mmio[IOREGSEL / 4] = reg;
	return a->mmio[IOWIN / 4];
}

static void wr(struct ioapic *a, u32 reg, u32 v)
{
	a->mmio[IOREGSEL / 4] = reg;
	a->mmio[IOWIN / 4] = v;
}

static struct ioapic *serving(u32 gsi, u32 *pin)
{
	for (size_t i = 0; i < nioapics; i++)
		if (gsi >= ioapics[i].gsi_base && gsi - ioapics[i].gsi_base < ioapics[i].pins) {
			*pin = gsi - ioapics[i].gsi_base;
			return &ioapics[i];
		}
	return NULL;
}

int ioapic_init(void)
{
	if (!platform_have_madt)
		return 0;
	for (size_t i = 0; i < platform_madt.nioapics; i++) {
		struct ioapic *a = &ioapics[nioapics];
		a->mmio = kva_map_phys(platform_madt.ioapic[i].pa, 0x20, true, PTE_PCD | PTE_PWT);
		if (!a->mmio)
			return -ENOMEM;
		a->gsi_base = platform_madt.ioapic[i].gsi_base;
		a->pins = ((rd(a, IOAPIC_VER) >> 16) & 0xFF) + 1;
		for (u32 p = 0; p < a->pins; p++) {
			wr(a, IOREDTBL(p) + 1, 0);
			wr(a, IOREDTBL(p), RTE_MASKED);
		}
		kprintf("ioapic: id %u at %#x: GSIs %u..%u, all masked\n", platform_madt.ioapic[i].id,
			platform_madt.ioapic[i].pa, a->gsi_base, a->gsi_base + a->pins - 1);
		nioapics++;
	}
	return 0;
}

u32 ioapic_gsi_count(void)
{
	u32 n = 0;
	for (size_t i = 0; i < nioapics; i++)
		if (ioapics[i].gsi_base + ioapics[i].pins > n)
			n = ioapics[i].gsi_base + ioapics[i].pins;
	return n;
}

int ioapic_route(u32 gsi, u8 vector, bool level, bool active_low)
{
	u32 pin;
	struct ioapic *a = serving(gsi, &pin);
	if (!a)
		return -ENOENT;
	wr(a, IOREDTBL(pin), RTE_MASKED);
	wr(a, IOREDTBL(pin) + 1, lapic_id() << 24);
	wr(a, IOREDTBL(pin), RTE_MASKED | vector | (level ? RTE_LEVEL : 0) | (active_low ? RTE_ACTIVE_LOW : 0));
	return 0;
}

void ioapic_set_masked(u32 gsi, bool masked)
{
	u32 pin;
	struct ioapic *a = serving(gsi, &pin);
	if (!a)
		return;
	u32 lo = rd(a, IOREDTBL(pin));
	wr(a, IOREDTBL(pin), masked ? lo | RTE_MASKED : lo & ~RTE_MASKED);
}
