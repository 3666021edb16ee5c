#include <stdbool.h>
#include <stdint.h>

#include "lib/fmt.h"

struct spec {
	bool left, zero, plus, space, alt;
	int width, prec; /* prec < 0: none */
};

static void pad(fmt_sink sink, void *ctx, char c, int n, size_t *out)
{
	static const char spaces[] = "                ";
	static const char zeros[] = "0000000000000000";
	const char *src = c == '0' ? zeros : spaces;
	while (n > 0) {
		int k = n > 16 ? 16 : n;
		sink(ctx, src, (size_t)k);
		*out += (size_t)k;
		n -= k;
	}
}

static void emit_number(fmt_sink sink, void *ctx, const struct spec *sp, uint64_t v, bool neg,
			unsigned base, bool upper, const char *prefix, size_t *out)
{
	char digits[24];
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int nd = 0;
	while (v) {
		digits[nd++] = set[v % base];
		v /= base;
	}
	if (nd == 0 && sp->prec != 0)
		digits[nd++] = '0';

	char sign = neg ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
	int npre = (int)__builtin_strlen(prefix);
	int zeros = sp->prec > nd ? sp->prec - nd : 0;
	int len = nd + zeros + npre + (sign ? 1 : 0);
	int fill = sp->width > len ? sp->width - len : 0;

	if (!sp->left && !(sp->zero && sp->prec < 0))
		pad(sink, ctx, ' ', fill, out);
	if (sign) {
		sink(ctx, &sign, 1);
		(*out)++;
	}
	if (npre) {
		sink(ctx, prefix, (size_t)npre);
		*out += (size_t)npre;
	}
	if (!sp->left && sp->zero && sp->prec < 0)
		pad(sink, ctx, '0', fill, out);
	pad(sink, ctx, '0', zeros, out);
	for (int i = nd - 1; i >= 0; i--)
		sink(ctx, &digits[i], 1);
	*out += (size_t)nd;
	if (sp->left)
		pad(sink, ctx, ' ', fill, out);
}

static void emit_string(fmt_sink sink, void *ctx, const struct spec *sp, const char *s, size_t *out)
{
	if (!s)
		s = "(null)";
	size_t n = 0;
	while (s[n] && (sp->prec < 0 || n < (size_t)sp->prec))
		n++;
	int fill = sp->width > (int)n ? sp->width - (int)n : 0;
	if (!sp->left)
		pad(sink, ctx, ' ', fill, out);
	sink(ctx, s, n);
	*out += n;
	if (sp->left)
		pad(sink, ctx, ' ', fill, out);
}

static int parse_int(const char **pp)
{
	int v = 0;
	while (**pp >= '0' && **pp <= '9') {
		if (v < 100000)
			v = v * 10 + (**pp - '0');
		(*pp)++;
	}
	return v;
}

size_t fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap)
{
	size_t out = 0;
	const char *p = fmt;

	while (*p) {
		const char *lit = p;
		while (*p && *p != '%')
			p++;
		if (p > lit) {
			sink(ctx, lit, (size_t)(p - lit));
			out += (size_t)(p - lit);
		}
		if (!*p)
			break;
		const char *conv_start = p++;

		struct spec sp = { .prec = -1 };
		for (;; p++) {
			if (*p == '-')
				sp.left = true;
			else if (*p == '0')
				sp.zero = true;
			else if (*p == '+')
				sp.plus = true;
			else if (*p == ' ')
				sp.space = true;
			else if (*p == '#')
				sp.alt = true;
			else
				break;
		}
		if (*p == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = sp.width == INT32_MIN ? 0 : -sp.width;
			}
			p++;
		} else {
			sp.width = parse_int(&p);
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				sp.prec = va_arg(ap, int);
				p++;
			} else {
				sp.prec = parse_int(&p);
			}
		}
		int len = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long */
		if (*p == 'h') {
			len = -1;
			if (*++p == 'h') {
				len = -2;
				p++;
			}
		} else if (*p == 'l') {
			len = 1;
			if (*++p == 'l') {
				len = 2;
				p++;
			}
		} else if (*p == 'z' || *p == 't' || *p == 'j') {
			len = 2;
			p++;
		}

		char c = *p;
		if (!c) {
			sink(ctx, conv_start, (size_t)(p - conv_start));
			out += (size_t)(p - conv_start);
			break;
		}
		p++;
		switch (c) {
		case 'd':
		case 'i': {
			int64_t v = len >= 1 ? (len == 2 ? va_arg(ap, long long) : va_arg(ap, long)) : va_arg(ap, int);
			if (len == -1)
				v = (short)v;
			else if (len == -2)
				v = (signed char)v;
			uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
			emit_number(sink, ctx, &sp, mag, v < 0, 10, false, "", &out);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v = len >= 1 ? (len == 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned long))
					 : va_arg(ap, unsigned int);
			if (len == -1)
				v = (unsigned short)v;
			else if (len == -2)
				v = (unsigned char)v;
			unsigned base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
			const char *prefix = "";
			if (sp.alt && v != 0)
				prefix = c == 'x' ? "0x" : c == 'X' ? "0X" : c == 'o' ? "0" : "";
			emit_number(sink, ctx, &sp, v, false, base, c == 'X', prefix, &out);
			break;
		}
		case 'p': {
			uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void *);
			emit_number(sink, ctx, &sp, v, false, 16, false, "0x", &out);
			break;
		}
		case 's':
			emit_string(sink, ctx, &sp, va_arg(ap, const char *), &out);
			break;
		case 'c': {
			char ch = (char)va_arg(ap, int);
			char s[2] = { ch, 0 };
			struct spec one = sp;
			one.prec = 1;
			if (ch == 0) { /* a NUL character still counts as one */
				int fill = sp.width > 1 ? sp.width - 1 : 0;
				if (!sp.left)
					pad(sink, ctx, ' ', fill, &out);
				sink(ctx, s, 1);
				out++;
				if (sp.left)
					pad(sink, ctx, ' ', fill, &out);
			} else {
				emit_string(sink, ctx, &one, s, &out);
			}
			break;
		}
		case '%':
			sink(ctx, "%", 1);
			out++;
			break;
		default:
			sink(ctx, conv_start, (size_t)(p - conv_start));
			out += (size_t)(p - conv_start);
			break;
		}
	}
	return out;
}

size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = fmt_vformat(sink, ctx, fmt, ap);
	va_end(ap);
	return n;
}

struct buf_ctx {
	char *buf;
	size_t size, used;
};

static void buf_sink(void *vctx, const char *s, size_t n)
{
	struct buf_ctx *b = vctx;
	for (size_t i = 0; i < n; i++) {
		if (b->size && b->used + 1 < b->size)
			b->buf[b->used] = s[i];
		b->used++;
	}
}

size_t fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct buf_ctx b = { buf, size, 0 };
	size_t n = fmt_vformat(buf_sink, &b, fmt, ap);
	if (size)
		buf[b.used < size ? b.used : size - 1] = 0;
	return n;
}

size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
