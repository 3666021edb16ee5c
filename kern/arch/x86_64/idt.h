#ifndef KEEL_X86_IDT_H
#define KEEL_X86_IDT_H

void idt_init(void); /* fill the gates (once) */
void idt_load(void); /* load IDTR on this CPU */

#endif
