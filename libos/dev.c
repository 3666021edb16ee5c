/* libos devices: see dev.h. */
#include "dev.h"
#include "vm.h"

static int base_is(const struct keel_cap_info *c, uint64_t base) { return c->base == base; }

long keel_dev_cap(uint32_t type, uint64_t base) { return vm_find_cap(0, type, base_is, base, NULL); }
