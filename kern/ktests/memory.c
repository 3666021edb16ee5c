/* Boot tests of the frame allocator, the direct map and the heap. */
#include "console.h"
#include "failpoint.h"
#include "frame.h"
#include "heap.h"
#include "ktest.h"
#include "lib/string.h"

#define HIGH_FRAMES 256

/* Frames above 4 GiB are handed out and reachable through the direct map. */
KTEST(frames_above_4g)
{
	static paddr_t got[HIGH_FRAMES];
	u64 before = frames_free();
	size_t n = 0;
	for (; n < HIGH_FRAMES; n++) {
		got[n] = frame_alloc_in(GiB(4), UINT64_MAX);
		if (!got[n])
			break;
	}
	KEXPECT(n == HIGH_FRAMES, "%zu of %d frames above 4 GiB", n, HIGH_FRAMES);
	/* And the highest RAM frame there is. */
	u64 top = kernel_frames.nframes * PAGE_SIZE;
	paddr_t last = frame_alloc_in(top - MiB(64), top);
	KEXPECT(last >= GiB(4), "a frame in the top 64 MiB (below %#llx): got %#llx", (unsigned long long)top,
		(unsigned long long)last);

	for (size_t i = 0; i < n; i++) {
		u64 *p = pa_to_va(got[i]);
		for (size_t k = 0; k < PAGE_SIZE / 8; k++)
			p[k] = got[i] ^ (k * 0x9E3779B97F4A7C15ULL);
	}
	if (last) {
		u64 *p = pa_to_va(last);
		p[0] = 0x1234;
		p[511] = last;
	}
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		u64 *p = pa_to_va(got[i]);
		for (size_t k = 0; k < PAGE_SIZE / 8; k++)
			bad += p[k] != (got[i] ^ (k * 0x9E3779B97F4A7C15ULL));
	}
	KEXPECT(bad == 0, "%zu words read back wrong", bad);
	if (last)
		KEXPECT(((u64 *)pa_to_va(last))[511] == last, "top frame readback");
	ktest_log("touched %zu frames from %#llx to %#llx and the frame at %#llx", n,
		  n ? (unsigned long long)got[0] : 0ULL, n ? (unsigned long long)got[n - 1] : 0ULL,
		  (unsigned long long)last);

	for (size_t i = 0; i < n; i++)
		frame_free(got[i]);
	if (last)
		frame_free(last);
	KEXPECT(frames_free() == before, "free frames back to %llu, got %llu", (unsigned long long)before,
		(unsigned long long)frames_free());
}

/* kmalloc/kfree across every size class and a large run; stats return. */
KTEST(heap_roundtrip)
{
	static void *p[200];
	struct heap_stats s0, s1;
	heap_stats(&s0);
	u64 frames0 = frames_free();
	size_t sizes[] = { 1, 8, 16, 17, 100, 512, 1000, 1024, 1025, 5000, 70000 };
	size_t k = 0;
	for (int round = 0; round < 18; round++)
		for (size_t i = 0; i < ARRAY_SIZE(sizes) && k < ARRAY_SIZE(p); i++) {
			p[k] = kmalloc(sizes[i]);
			if (!KEXPECT(p[k], "kmalloc(%zu)", sizes[i]))
				continue;
			KEXPECT((uptr)p[k] % 16 == 0, "16-byte alignment of %p", p[k]);
			memset(p[k], (int)k, sizes[i]);
			k++;
		}
	for (size_t i = 0; i < k; i++)
		kfree(p[i]);
	heap_stats(&s1);
	KEXPECT(s1.live_objects == s0.live_objects, "live objects %llu -> %llu",
		(unsigned long long)s0.live_objects, (unsigned long long)s1.live_objects);
	KEXPECT(s1.live_bytes == s0.live_bytes, "live bytes back");
	KEXPECT(frames_free() == frames0, "heap kept %lld frames", (long long)(frames0 - frames_free()));
}

/* Debug builds: an object that merely holds the poison is freed like any
 * other; one freed twice is a panic ("double free"). Does not return. */
KTEST(heap_double_free)
{
	void *keep = kmalloc(100), *a = kmalloc(100), *b = kmalloc(100);
	if (!KEXPECT(keep && a && b, "three objects"))
		return;
	memset(b, 0x6b, 100); /* looks freed, is not */
	kfree(b);
	kprintf("ktest: an object holding the poison was freed\n");
	kfree(a);
	kfree(a); /* (keep holds the page: a's slot is on its free list) */
	KEXPECT(false, "a double free went unnoticed");
}

/* The 17th kmalloc from now fails; the caller sees NULL, nothing else breaks. */
KTEST(heap_failure_is_reported)
{
	static void *p[64];
	size_t nulls = 0;
	failpoint_arm(FAIL_HEAP, 17);
	for (size_t i = 0; i < ARRAY_SIZE(p); i++) {
		p[i] = kmalloc(48);
		if (!p[i]) {
			nulls++;
			ktest_log("kmalloc #%zu returned NULL (injected)", i + 1);
		}
	}
	KEXPECT(nulls == 1, "exactly one injected failure, saw %zu", nulls);
	for (size_t i = 0; i < ARRAY_SIZE(p); i++)
		kfree(p[i]);
}

/* The 17th frame allocation from now fails and the allocator stays intact. */
KTEST(frame_failure_is_reported)
{
	static paddr_t f[64];
	u64 before = frames_free();
	size_t zeros = 0;
	failpoint_arm(FAIL_FRAME, 17);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if ((f[i] = frame_alloc()) == 0) {
			zeros++;
			ktest_log("frame_alloc #%zu returned 0 (injected)", i + 1);
		}
	KEXPECT(zeros == 1, "exactly one injected failure, saw %zu", zeros);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (f[i])
			frame_free(f[i]);
	KEXPECT(frames_free() == before, "free frames restored");
}
