#include "cmdline.h"
#include "lib/string.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

unsigned cmdline_parse(struct cmdline *c, const char *src, size_t srclen, struct diag *d)
{
	unsigned before = d ? d->count : 0;
	c->n = 0;
	size_t len = src ? strnlen(src, srclen) : 0;
	if (len >= CMDLINE_MAX) {
		diag(d, "cmdline: %zu bytes, only the first %u are read", len, CMDLINE_MAX - 1);
		len = CMDLINE_MAX - 1;
	}

	/* Copy word by word into buf, removing quotes and NUL-terminating. */
	size_t i = 0, o = 0;
	while (i < len) {
		while (i < len && is_space(src[i]))
			i++;
		if (i == len)
			break;
		char *word = &c->buf[o];
		char *eq = NULL;
		bool quoted = false;
		while (i < len && (quoted || !is_space(src[i]))) {
			char ch = src[i++];
			if (ch == '\\' && i < len) { /* GRUB escapes " and \ this way */
				c->buf[o++] = src[i++];
				continue;
			}
			if (ch == '"') {
				quoted = !quoted;
				continue;
			}
			if (ch == '=' && !eq && !quoted) {
				c->buf[o++] = 0;
				eq = &c->buf[o];
				continue;
			}
			c->buf[o++] = ch;
		}
		c->buf[o++] = 0;
		if (quoted)
			diag(d, "cmdline: unterminated quote in '%s'", word);
		if (!*word) {
			diag(d, "cmdline: a word with an empty key is ignored");
			continue;
		}
		if (c->n == CMDLINE_MAX_ARGS) {
			diag(d, "cmdline: more than %u words, '%s' and after ignored", CMDLINE_MAX_ARGS, word);
			break;
		}
		c->arg[c->n].key = word;
		c->arg[c->n].val = eq ? eq : &c->buf[o - 1];
		c->n++;
	}
	return d ? d->count - before : 0;
}

const char *cmdline_get(const struct cmdline *c, const char *key)
{
	for (size_t i = c->n; i-- > 0;)
		if (strcmp(c->arg[i].key, key) == 0)
			return c->arg[i].val;
	return NULL;
}

bool parse_u64(const char *s, u64 *out)
{
	unsigned base = 10;
	if (!s || !*s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return false;
	}
	u64 v = 0;
	for (; *s; s++) {
		unsigned dgt;
		if (*s >= '0' && *s <= '9')
			dgt = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			dgt = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			dgt = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - dgt) / base)
			return false;
		v = v * base + dgt;
	}
	*out = v;
	return true;
}
