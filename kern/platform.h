/* What the firmware says about the machine: the ACPI MADT (CPUs, local APIC,
 * IOAPICs, ISA interrupt overrides), read once at boot. */
#ifndef KEEL_PLATFORM_H
#define KEEL_PLATFORM_H

#include "acpi.h"
#include "mb2.h"

extern struct madt_info platform_madt;
extern bool platform_have_madt;

/* Parse the MADT from the RSDP the boot loader passed; print a summary.
 * A missing or malformed table is reported and returns an error. */
int platform_init(const struct mb2_info *mb);

#endif
