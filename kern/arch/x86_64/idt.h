#ifndef KEEL_X86_IDT_H
#define KEEL_X86_IDT_H

/* entry.S's per-vector stubs: vector v's is at vector_stubs + IDT_STUB_SIZE * v. */
#define IDT_STUB_SIZE 16

void idt_init(void); /* fill the gates (once) */
void idt_load(void); /* load IDTR on this CPU */

#endif
