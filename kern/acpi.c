#include "acpi.h"
#include "keel/errno.h"
#include "lib/string.h"

#define SDT_HEADER_LEN 36

static u32 rd32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;
	memcpy(&v, p, 8);
	return v;
}

bool acpi_checksum_ok(const void *p, size_t len)
{
	u8 sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += ((const u8 *)p)[i];
	return sum == 0;
}

/* Map a whole system description table at pa after checking its header. */
static const u8 *map_table(u64 pa, const char *want_sig, acpi_map_fn map, void *ctx, struct diag *d,
			   u32 *len_out)
{
	const u8 *h = map(ctx, pa, SDT_HEADER_LEN);
	if (!h) {
		diag(d, "acpi: cannot map table header at %#llx", (unsigned long long)pa);
		return NULL;
	}
	if (want_sig && memcmp(h, want_sig, 4) != 0)
		return NULL;
	u32 len = rd32(h + 4);
	if (len < SDT_HEADER_LEN || len > ACPI_MAX_TABLE_SIZE) {
		diag(d, "acpi: table %.4s at %#llx has impossible length %u", (const char *)h,
		     (unsigned long long)pa, len);
		return NULL;
	}
	const u8 *t = map(ctx, pa, len);
	if (!t) {
		diag(d, "acpi: cannot map %u bytes of table %.4s", len, (const char *)h);
		return NULL;
	}
	if (!acpi_checksum_ok(t, len)) {
		diag(d, "acpi: table %.4s at %#llx has a bad checksum", (const char *)t,
		     (unsigned long long)pa);
		return NULL;
	}
	*len_out = len;
	return t;
}

static void parse_entries(const u8 *t, u32 len, struct madt_info *m, struct diag *d)
{
	u32 off = 44;
	while (off + 2 <= len) {
		u8 type = t[off], elen = t[off + 1];
		if (elen < 2 || elen > len - off) {
			diag(d, "acpi: MADT entry type %u at %u has bad length %u, stopping", type, off, elen);
			return;
		}
		const u8 *e = t + off;
		switch (type) {
		case 0: /* processor local APIC */
			if (elen < 8) {
				diag(d, "acpi: MADT LAPIC entry too short (%u)", elen);
			} else if (m->ncpus == ACPI_MAX_CPUS) {
				diag(d, "acpi: more than %u CPUs, APIC id %u ignored", ACPI_MAX_CPUS, e[3]);
			} else {
				u32 flags = rd32(e + 4);
				m->cpu[m->ncpus].uid = e[2];
				m->cpu[m->ncpus].apic_id = e[3];
				m->cpu[m->ncpus].enabled = flags & 1;
				m->ncpus++;
			}
			break;
		case 1: /* IOAPIC */
			if (elen < 12) {
				diag(d, "acpi: MADT IOAPIC entry too short (%u)", elen);
			} else if (m->nioapics == ACPI_MAX_IOAPICS) {
				diag(d, "acpi: more than %u IOAPICs, id %u ignored", ACPI_MAX_IOAPICS, e[2]);
			} else {
				m->ioapic[m->nioapics].id = e[2];
				m->ioapic[m->nioapics].pa = rd32(e + 4);
				m->ioapic[m->nioapics].gsi_base = rd32(e + 8);
				m->nioapics++;
			}
			break;
		case 2: /* interrupt source override */
			if (elen < 10) {
				diag(d, "acpi: MADT override entry too short (%u)", elen);
			} else if (e[2] != 0) {
				diag(d, "acpi: MADT override for bus %u (not ISA) ignored", e[2]);
			} else if (m->nisos == ACPI_MAX_OVERRIDES) {
				diag(d, "acpi: more than %u overrides, IRQ %u ignored", ACPI_MAX_OVERRIDES, e[3]);
			} else {
				m->iso[m->nisos].source = e[3];
				m->iso[m->nisos].gsi = rd32(e + 4);
				m->iso[m->nisos].flags = (u16)(e[8] | e[9] << 8);
				m->nisos++;
			}
			break;
		case 5: /* local APIC address override */
			if (elen < 12)
				diag(d, "acpi: MADT LAPIC address override too short (%u)", elen);
			else
				m->lapic_pa = rd64(e + 4);
			break;
		default:
			break;
		}
		off += elen;
	}
	if (off != len)
		diag(d, "acpi: MADT has %u trailing bytes", len - off);
}

int acpi_parse_madt(const u8 *rsdp, size_t rsdp_len, acpi_map_fn map, void *ctx,
		    struct madt_info *out, struct diag *d)
{
	memset(out, 0, sizeof *out);
	if (rsdp_len < 20 || memcmp(rsdp, "RSD PTR ", 8) != 0) {
		diag(d, "acpi: no valid RSDP signature");
		return -EBADMSG;
	}
	if (!acpi_checksum_ok(rsdp, 20)) {
		diag(d, "acpi: RSDP checksum is bad");
		return -EBADMSG;
	}
	u8 rev = rsdp[15];
	u64 root_pa = rd32(rsdp + 16);
	unsigned esize = 4;
	const char *root_sig = "RSDT";
	if (rev >= 2 && rsdp_len >= 36) {
		u32 xlen = rd32(rsdp + 20);
		if (xlen < 36 || !acpi_checksum_ok(rsdp, 36)) {
			diag(d, "acpi: RSDP 2.0 extension is bad (length %u), using the RSDT", xlen);
		} else if (rd64(rsdp + 24)) {
			root_pa = rd64(rsdp + 24);
			esize = 8;
			root_sig = "XSDT";
		}
	}

	u32 rlen;
	const u8 *root = map_table(root_pa, root_sig, map, ctx, d, &rlen);
	if (!root) {
		diag(d, "acpi: no valid %s at %#llx", root_sig, (unsigned long long)root_pa);
		return -EBADMSG;
	}
	/* The root table lives in the caller's map window: copy the entry list
	 * out first, since mapping other tables may reuse that window. */
	u64 entries[64];
	u32 n = (rlen - SDT_HEADER_LEN) / esize;
	if (n > ARRAY_SIZE(entries)) {
		diag(d, "acpi: %s lists %u tables, reading the first %zu", root_sig, n, ARRAY_SIZE(entries));
		n = ARRAY_SIZE(entries);
	}
	for (u32 i = 0; i < n; i++) {
		const u8 *p = root + SDT_HEADER_LEN + (size_t)i * esize;
		entries[i] = esize == 8 ? rd64(p) : rd32(p);
	}

	for (u32 i = 0; i < n; i++) {
		u32 len;
		const u8 *h = map(ctx, entries[i], SDT_HEADER_LEN);
		if (!h || memcmp(h, "APIC", 4) != 0)
			continue;
		const u8 *t = map_table(entries[i], "APIC", map, ctx, d, &len);
		if (!t)
			return -EBADMSG;
		if (len < 44) {
			diag(d, "acpi: MADT too short (%u bytes)", len);
			return -EBADMSG;
		}
		out->lapic_pa = rd32(t + 36);
		out->pcat_compat = rd32(t + 40) & 1;
		parse_entries(t, len, out, d);
		return 0;
	}
	diag(d, "acpi: no MADT among %u tables", n);
	return -ENOENT;
}

u32 madt_isa_gsi(const struct madt_info *m, u8 isa_irq, u16 *flags)
{
	for (size_t i = 0; i < m->nisos; i++) {
		if (m->iso[i].source == isa_irq) {
			if (flags)
				*flags = m->iso[i].flags;
			return m->iso[i].gsi;
		}
	}
	if (flags)
		*flags = 0;
	return isa_irq;
}
