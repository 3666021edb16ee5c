#include "frame_type.h"
#include "frame.h"
#include "heap.h"
#include "keel/errno.h"
#include "panic.h"

/*
 * Type and reference count per frame, one u32 each (0.1% of RAM), made at
 * boot so that the kernel's own bookkeeping never changes the free-frame
 * count tests compare: type in the low 4 bits, references above.
 */
static u32 *meta;
static u64 meta_n;

int frame_type_init(void)
{
	meta_n = kernel_frames.nframes;
	meta = kzalloc(meta_n * sizeof *meta);
	return meta ? 0 : -ENOMEM;
}

static u32 *of(paddr_t pa)
{
	u64 f = pa / PAGE_SIZE;
	return f < meta_n ? &meta[f] : NULL;
}

enum frame_type frame_type(paddr_t pa)
{
	u32 *m = of(pa);
	return m ? (enum frame_type)(*m & 15) : FRAME_UNTYPED;
}

u32 frame_refs(paddr_t pa)
{
	u32 *m = of(pa);
	return m ? *m >> 4 : 0;
}

bool frame_set_type(paddr_t pa, enum frame_type t)
{
	u32 *m = of(pa);
	if (!m)
		return false;
	*m = (*m & ~15u) | t;
	return true;
}

void frame_ref(paddr_t pa, int d)
{
	u32 *m = of(pa);
	ASSERT(m && (d > 0 || *m >> 4));
	*m += (u32)(d * 16);
}
