#include "platform.h"
#include "console.h"
#include "keel/errno.h"
#include "kva.h"

struct madt_info platform_madt;
bool platform_have_madt;

static void print_diag(void *ctx, const char *line)
{
	(void)ctx;
	kprintf("warning: %s\n", line);
}

/* ACPI tables sit in firmware-reserved RAM outside the direct map: map each
 * one read-only, write-back, into the KVA. */
static const void *acpi_map(void *ctx, u64 pa, size_t len)
{
	(void)ctx;
	return kva_map_phys(pa, len, false, 0);
}

int platform_init(const struct mb2_info *mb)
{
	struct diag d = { print_diag, NULL, 0 };
	if (!mb->rsdp_len) {
		kprintf("acpi: the boot loader passed no RSDP\n");
		return -ENOENT;
	}
	int err = acpi_parse_madt(mb->rsdp, mb->rsdp_len, acpi_map, NULL, &platform_madt, &d);
	if (err)
		return err;
	platform_have_madt = true;

	const struct madt_info *m = &platform_madt;
	kprintf("acpi: MADT: local APIC at %#llx, %zu CPU%s (APIC id", (unsigned long long)m->lapic_pa,
		m->ncpus, m->ncpus == 1 ? "" : "s");
	for (size_t i = 0; i < m->ncpus; i++)
		kprintf(" %u%s", m->cpu[i].apic_id, m->cpu[i].enabled ? "" : " (disabled)");
	kprintf("), 8259 PICs %s\n", m->pcat_compat ? "present" : "absent");
	for (size_t i = 0; i < m->nioapics; i++)
		kprintf("acpi: IOAPIC id %u at %#x, GSI base %u\n", m->ioapic[i].id, m->ioapic[i].pa,
			m->ioapic[i].gsi_base);
	for (size_t i = 0; i < m->nisos; i++)
		kprintf("acpi: ISA IRQ %u -> GSI %u (flags %#x)\n", m->iso[i].source, m->iso[i].gsi,
			m->iso[i].flags);
	return 0;
}
