/*
 * ACPI: from the RSDP (copied by the boot loader) through the RSDT/XSDT to the
 * MADT, which names the local APICs, the IOAPICs and the ISA interrupt source
 * overrides. Pure and defensive: every table's signature, length and checksum
 * is checked before use, every entry's length before it is read. Physical
 * memory is reached only through the caller's map function (the kernel maps a
 * window; a host test serves a buffer), which returns NULL for what it cannot
 * map.
 */
#ifndef KEEL_ACPI_H
#define KEEL_ACPI_H

#include "types.h"
#include "lib/diag.h"

#define ACPI_MAX_CPUS 64
#define ACPI_MAX_IOAPICS 8
#define ACPI_MAX_OVERRIDES 24
#define ACPI_MAX_TABLE_SIZE (1u << 20) /* a larger table is not believed */

typedef const void *(*acpi_map_fn)(void *ctx, u64 pa, size_t len);

struct madt_info {
	u64 lapic_pa;
	bool pcat_compat; /* 8259 PICs present (must be masked) */
	struct {
		u8 uid, apic_id;
		bool enabled;
	} cpu[ACPI_MAX_CPUS];
	size_t ncpus;
	struct {
		u8 id;
		u32 pa, gsi_base;
	} ioapic[ACPI_MAX_IOAPICS];
	size_t nioapics;
	/* ISA IRQ `source` arrives on GSI `gsi`; flags: MPS INTI polarity/trigger */
	struct {
		u8 source;
		u32 gsi;
		u16 flags;
	} iso[ACPI_MAX_OVERRIDES];
	size_t nisos;
};

/* Checksum of len bytes is zero? */
bool acpi_checksum_ok(const void *p, size_t len);

/*
 * Find and parse the MADT. rsdp/rsdp_len: the RSDP copy (20 or 36 bytes).
 * Returns 0, -ENOENT (no MADT), -EBADMSG (a table on the way is malformed),
 * -EFAULT (map failed). Bad entries inside the MADT are reported and skipped.
 */
int acpi_parse_madt(const u8 *rsdp, size_t rsdp_len, acpi_map_fn map, void *ctx,
		    struct madt_info *out, struct diag *d);

/* The GSI an ISA IRQ arrives on, after the overrides (identity otherwise). */
u32 madt_isa_gsi(const struct madt_info *m, u8 isa_irq, u16 *flags);

#endif
