/*
 * Diagnostics from the pure parsers (multiboot2, ACPI, command line, ...).
 * A parser never trusts its input; when it rejects or clips something it says
 * so through a diag, which the kernel prints and a host unit test records.
 */
#ifndef KEEL_DIAG_H
#define KEEL_DIAG_H

struct diag {
	void (*emit)(void *ctx, const char *line);
	void *ctx;
	unsigned count; /* problems reported so far */
};

void diag(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
