#include <stdarg.h>

#include "lib/diag.h"
#include "lib/fmt.h"

void diag(struct diag *d, const char *fmt, ...)
{
	if (!d)
		return;
	d->count++;
	if (!d->emit)
		return;
	char line[192];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	d->emit(d->ctx, line);
}
