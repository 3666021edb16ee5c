/*
 * Multiboot2 boot information: a pure, defensive parser. It reads only inside
 * [mbi, mbi + avail), checks every tag's size, alignment and termination, and
 * reports (through a diag) each tag it rejects instead of trusting it.
 */
#ifndef KEEL_MB2_H
#define KEEL_MB2_H

#include "types.h"
#include "lib/diag.h"

#define MB2_BOOT_MAGIC 0x36D76289u

#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_BASIC_MEMINFO 4
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15
#define MB2_TAG_EFI32 11       /* EFI system table, 32-bit firmware */
#define MB2_TAG_EFI64 12       /* EFI system table, 64-bit firmware */
#define MB2_TAG_EFI_MMAP 17    /* the firmware's own memory map */
#define MB2_TAG_EFI_BS 18      /* boot services were NOT exited */
#define MB2_TAG_EFI32_IH 19    /* EFI image handle, 32-bit */
#define MB2_TAG_EFI64_IH 20    /* EFI image handle, 64-bit */

#define MB2_MEM_AVAILABLE 1
#define MB2_MEM_RESERVED 2
#define MB2_MEM_ACPI_RECLAIMABLE 3
#define MB2_MEM_NVS 4
#define MB2_MEM_BADRAM 5

#define MB2_MAX_MMAP 128
#define MB2_MAX_MODULES 64
#define MB2_MAX_INFO_SIZE (1u << 20) /* a larger total_size is not believed */

struct mb2_mmap_entry {
	u64 base, len;
	u32 type;
};

struct mb2_module {
	u32 start, end;      /* physical, [start, end) */
	const char *cmdline; /* NUL-terminated, inside the boot information */
};

/* The framebuffer GRUB set up (tag 8): only the direct-colour kind is kept. */
#define MB2_FB_INDEXED 0
#define MB2_FB_RGB 1
#define MB2_FB_EGA_TEXT 2
#define MB2_FB_MAX_SIDE 16384    /* pixels: a larger width or height is not believed */
#define MB2_FB_MAX_BYTES (1u << 30)
#define MB2_FB_ADDR_LIMIT (1ULL << 52) /* x86_64's physical address width at most */

struct mb2_framebuffer {
	u64 addr;                /* physical */
	u32 pitch, width, height; /* bytes per line; pixels */
	u8 bpp, type;
	u8 red_pos, red_size, green_pos, green_size, blue_pos, blue_size; /* MB2_FB_RGB */
};

/* What a UEFI loader (GRUB's EFI platform) adds; all zero under BIOS. Keel
 * calls nothing in the firmware: these only say what booted it. */
struct mb2_efi {
	bool seen;          /* any EFI tag at all */
	u8 systab_bits;     /* 32 or 64: which system table tag; 0: none */
	u64 systab;         /* the system table's physical address */
	u8 handle_bits;     /* 32 or 64: which image handle tag; 0: none */
	u64 image_handle;
	const u8 *mmap;     /* EFI memory descriptors, inside the boot information; NULL: none */
	u32 mmap_count, desc_size, desc_version;
	bool boot_services; /* tag 18: the loader left boot services running */
};

struct mb2_info {
	u32 total_size;
	const char *cmdline; /* NULL if absent */
	const char *loader;  /* NULL if absent */
	struct mb2_mmap_entry mmap[MB2_MAX_MMAP];
	size_t nmmap;
	struct mb2_module modules[MB2_MAX_MODULES];
	size_t nmodules;
	u8 rsdp[36];     /* copy of the RSDP GRUB found */
	size_t rsdp_len; /* 0: none; 20: ACPI 1.0; 36: ACPI 2.0+ */
	struct mb2_framebuffer fb;
	bool have_fb;    /* a framebuffer tag was passed (of any type: see fb.type) */
	struct mb2_efi efi;
	bool have_end_tag;
};

/*
 * Parse the boot information at mbi, of which avail bytes may be read.
 * Returns 0, or -EINVAL (misaligned) / -EBADMSG (total size impossible): then
 * nothing in *out is usable. Individual bad tags are skipped and reported.
 */
int mb2_parse(const void *mbi, size_t avail, struct mb2_info *out, struct diag *d);

#endif
