/*
 * String and memory functions, for the kernel and Ring 3 alike. Every kernel
 * entry clears DF (cld), and the SysV ABI has it clear at every call in
 * Ring 3, so the string instructions run forwards here.
 */
#include "lib/string.h"

/* Quadwords, then the tail: an 8-byte move per step is what counts on real
 * CPUs for the small structures the kernel copies, and under -icount each
 * step of a rep is one instruction. */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;
	__asm__ volatile("rep movsq\n\t"
			 "movq %[r], %%rcx\n\t"
			 "rep movsb"
			 : "+D"(d), "+S"(src), "+c"(q)
			 : [r] "r"(r)
			 : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d == s || n == 0)
		return dst;
	if (d < s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

/* Quadwords, then the tail, as memcpy: zeroing a frame is 512 steps. */
void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	size_t q = n / 8, r = n % 8;
	unsigned long long v = 0x0101010101010101ULL * (unsigned char)c;
	__asm__ volatile("rep stosq\n\t"
			 "movq %[r], %%rcx\n\t"
			 "rep stosb"
			 : "+D"(d), "+c"(q)
			 : "a"(v), [r] "r"(r)
			 : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}
