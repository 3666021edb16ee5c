/* The ACPI MADT path over a fake physical memory, hostile tables included. */
#include "acpi.h"
#include "check.h"
#include "keel/errno.h"

static unsigned char mem[0x10000];
static unsigned char rsdp[36];
static struct madt_info madt;

static const void *map(void *ctx, u64 pa, size_t len)
{
	(void)ctx;
	if (pa > sizeof mem || len > sizeof mem - pa)
		return NULL;
	return mem + pa;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static void fix_checksum(unsigned char *p, size_t len, size_t at)
{
	p[at] = 0;
	unsigned char s = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	p[at] = (unsigned char)-s;
}

static void sdt(uint32_t pa, const char *sig, uint32_t len)
{
	memcpy(mem + pa, sig, 4);
	put32(mem + pa + 4, len);
	fix_checksum(mem + pa, len, 9);
}

static uint32_t madt_len;

static void build_madt(void)
{
	unsigned char *t = mem + 0x3000;
	memset(t, 0, 0x400);
	put32(t + 36, 0xFEE00000);
	put32(t + 40, 1); /* PCAT_COMPAT */
	unsigned char e[] = {
		0, 8, 0, 0, 1, 0, 0, 0,                                /* LAPIC uid 0 id 0 enabled */
		0, 8, 1, 3, 0, 0, 0, 0,                                /* LAPIC uid 1 id 3 disabled */
		1, 12, 7, 0, 0, 0, 0xC0, 0xFE, 0, 0, 0, 0,             /* IOAPIC id 7 at 0xFEC00000 */
		2, 10, 0, 0, 2, 0, 0, 0, 0, 0,                         /* ISA IRQ 0 -> GSI 2 */
		2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0,                      /* ISA IRQ 9 level/high */
		2, 10, 1, 5, 5, 0, 0, 0, 0, 0,                         /* bus 1: ignored */
		4, 6, 0xFF, 5, 0, 1,                                   /* LAPIC NMI: skipped */
	};
	memcpy(t + 44, e, sizeof e);
	madt_len = 44 + sizeof e;
	sdt(0x3000, "APIC", madt_len);
}

static void build_v1(void)
{
	memset(mem, 0, sizeof mem);
	sdt(0x2000, "FACP", 36);
	build_madt();
	put32(mem + 0x1000 + 36, 0x2000);
	put32(mem + 0x1000 + 40, 0x3000);
	sdt(0x1000, "RSDT", 44);
	memset(rsdp, 0, sizeof rsdp);
	memcpy(rsdp, "RSD PTR ", 8);
	put32(rsdp + 16, 0x1000);
	fix_checksum(rsdp, 20, 8);
}

int main(void)
{
	struct diag_log l;

	build_v1();
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), 0);
	CHECK_EQ(madt.lapic_pa, 0xFEE00000);
	CHECK(madt.pcat_compat);
	CHECK_EQ(madt.ncpus, 2);
	CHECK(madt.cpu[0].enabled && !madt.cpu[1].enabled);
	CHECK_EQ(madt.cpu[1].apic_id, 3);
	CHECK_EQ(madt.nioapics, 1);
	CHECK_EQ(madt.ioapic[0].id, 7);
	CHECK_EQ(madt.ioapic[0].pa, 0xFEC00000);
	CHECK_EQ(madt.nisos, 2);
	CHECK(diag_has(&l, "bus 1 (not ISA) ignored"));
	u16 flags;
	CHECK_EQ(madt_isa_gsi(&madt, 0, &flags), 2);
	CHECK_EQ(madt_isa_gsi(&madt, 9, &flags), 9);
	CHECK_EQ(flags, 0x0D);
	CHECK_EQ(madt_isa_gsi(&madt, 4, &flags), 4);
	CHECK_EQ(flags, 0);

	/* ACPI 2.0: the XSDT is used; a bad extended checksum falls back. */
	put64(mem + 0x4000 + 36, 0x3000);
	sdt(0x4000, "XSDT", 44);
	rsdp[15] = 2;
	put32(rsdp + 20, 36);
	put64(rsdp + 24, 0x4000);
	fix_checksum(rsdp, 20, 8);
	fix_checksum(rsdp, 36, 32);
	CHECK_EQ(acpi_parse_madt(rsdp, 36, map, NULL, &madt, NULL), 0);
	CHECK_EQ(madt.ncpus, 2);
	memset(mem + 0x1000, 0, 64); /* the RSDT is gone: only the XSDT can work */
	CHECK_EQ(acpi_parse_madt(rsdp, 36, map, NULL, &madt, NULL), 0);
	rsdp[33] ^= 1; /* break the extended checksum */
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 36, map, NULL, &madt, &l.d), -EBADMSG);
	CHECK(diag_has(&l, "2.0 extension is bad"));

	/* Bad RSDP: signature, checksum, too short. */
	build_v1();
	rsdp[0] = 'X';
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);
	build_v1();
	rsdp[19] ^= 0xFF;
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);
	build_v1();
	CHECK_EQ(acpi_parse_madt(rsdp, 10, map, NULL, &madt, NULL), -EBADMSG);

	/* The root table: outside memory, bad checksum, absurd length. */
	build_v1();
	put32(rsdp + 16, 0xFFFF0);
	fix_checksum(rsdp, 20, 8);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);
	build_v1();
	mem[0x1000 + 20] ^= 1;
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);
	build_v1();
	put32(mem + 0x1004, 0x7FFFFFFF);
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), -EBADMSG);
	CHECK(diag_has(&l, "impossible length"));
	build_v1();
	put32(mem + 0x1004, 20);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);

	/* No MADT listed: -ENOENT. An entry pointing off the end is skipped. */
	build_v1();
	put32(mem + 0x1000 + 40, 0xFFFFFFF0);
	sdt(0x1000, "RSDT", 44);
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), -ENOENT);
	CHECK(diag_has(&l, "no MADT among 2 tables"));

	/* The MADT itself: bad checksum; too short. */
	build_v1();
	mem[0x3000 + 50] ^= 1;
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);
	build_v1();
	sdt(0x3000, "APIC", 40);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, NULL), -EBADMSG);

	/* MADT entries: zero length stops the walk (no infinite loop); an
	 * entry longer than the table stops it; short entries are skipped. */
	build_v1();
	mem[0x3000 + 44 + 8 + 1] = 0; /* second LAPIC entry: length 0 */
	sdt(0x3000, "APIC", madt_len);
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), 0);
	CHECK_EQ(madt.ncpus, 1);
	CHECK_EQ(madt.nioapics, 0);
	CHECK(diag_has(&l, "bad length 0"));
	build_v1();
	mem[0x3000 + 44 + 1] = 200;
	sdt(0x3000, "APIC", madt_len);
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), 0);
	CHECK_EQ(madt.ncpus, 0);
	CHECK(diag_has(&l, "bad length 200"));
	build_v1();
	mem[0x3000 + 44 + 16 + 1] = 6; /* IOAPIC entry cut to 6 bytes, then 6 bytes of junk */
	sdt(0x3000, "APIC", madt_len);
	diag_log_init(&l);
	acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d);
	CHECK_EQ(madt.nioapics, 0);
	CHECK(diag_has(&l, "IOAPIC entry too short"));

	/* Many CPUs: capped and reported. */
	build_v1();
	unsigned char *t = mem + 0x3000;
	uint32_t len = 44;
	for (int i = 0; i < ACPI_MAX_CPUS + 5; i++, len += 8) {
		unsigned char e[8] = { 0, 8, (unsigned char)i, (unsigned char)i, 1, 0, 0, 0 };
		memcpy(t + len, e, 8);
	}
	sdt(0x3000, "APIC", len);
	diag_log_init(&l);
	CHECK_EQ(acpi_parse_madt(rsdp, 20, map, NULL, &madt, &l.d), 0);
	CHECK_EQ(madt.ncpus, ACPI_MAX_CPUS);
	CHECK(diag_has(&l, "more than 64 CPUs"));
	return check_done("acpi");
}
