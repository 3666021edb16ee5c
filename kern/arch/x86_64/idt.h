#ifndef KEEL_X86_IDT_H
#define KEEL_X86_IDT_H

#include "types.h"

void idt_init(void); /* fill the gates (once) */
void idt_load(void); /* load IDTR on this CPU */
/* Tests: the self event's gate with its assembly fast path, or straight to
 * the general entry (DEBUG_FAST_PATHS). */
void idt_self_event_fast(bool on);

#endif
