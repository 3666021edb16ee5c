#ifndef KEEL_X86_PIC_H
#define KEEL_X86_PIC_H

#include "types.h"

void pic_init(void);
/* For vectors 0x27/0x2F: true if it was spurious (and has been handled). */
bool pic_handle_spurious(unsigned vector);

#endif
