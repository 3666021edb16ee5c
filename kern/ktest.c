#include "ktest.h"
#include "console.h"
#include "keel/exit.h"
#include "lib/string.h"
#include "panic.h"

extern const struct ktest __ktests_start[], __ktests_end[];
static unsigned failures;
static const char *running;

const char *ktest_running(void) { return running; }

__noreturn void ktest_finish(bool ok)
{
	if (!ok || failures)
		failures++;
	kprintf("%s 1 %s\n", failures ? "not ok" : "ok", running);
	keel_exit(failures ? KEEL_EXIT_FAILURE : KEEL_EXIT_SUCCESS);
}

bool ktest_expect(bool ok, const char *expr, const char *file, int line, const char *fmt, ...)
{
	if (ok)
		return true;
	failures++;
	va_list ap;
	va_start(ap, fmt);
	kprintf("# FAIL %s:%d: expected %s: ", file, line, expr);
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
	return false;
}

void ktest_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("# ");
	kvprintf(fmt, ap);
	kprintf("\n");
	va_end(ap);
}

__noreturn void ktest_run(const char *name)
{
	kprintf("KTAP version 1\n1..1\n");
	for (const struct ktest *t = __ktests_start; t < __ktests_end; t++) {
		if (strcmp(t->name, name) != 0)
			continue;
		running = t->name;
		t->fn();
		ktest_finish(true);
	}
	kprintf("# no test named '%s'; the tests are:\n", name);
	for (const struct ktest *t = __ktests_start; t < __ktests_end; t++)
		kprintf("#   %s\n", t->name);
	kprintf("not ok 1 %s\n", name);
	keel_exit(KEEL_EXIT_FAILURE);
}
