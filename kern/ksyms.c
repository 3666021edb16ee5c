#include "ksyms.h"
#include "lib/string.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse one line [p, end): "<hex> <type> <name>". Returns false if malformed. */
static bool parse_line(const char *p, const char *end, struct ksym *s)
{
	u64 a = 0;
	int nd = 0;
	while (p < end && hexval(*p) >= 0) {
		if (nd == 16)
			return false;
		a = a << 4 | (u64)hexval(*p++);
		nd++;
	}
	if (nd == 0 || end - p < 4 || p[0] != ' ' || p[2] != ' ')
		return false;
	if (p[1] != 'T' && p[1] != 't')
		return false;
	p += 3;
	s->name = p;
	s->name_len = (size_t)(end - p);
	s->addr = a;
	return s->name_len > 0;
}

/* Calls fn on each well-formed symbol line until it returns true. */
static bool each_symbol(const char *text, size_t len, bool (*fn)(const struct ksym *, void *), void *arg)
{
	const char *end = text + len, *line = text;
	while (line < end) {
		const char *eol = line;
		while (eol < end && *eol != '\n')
			eol++;
		struct ksym s;
		if (parse_line(line, eol, &s) && fn(&s, arg))
			return true;
		line = eol + 1;
	}
	return false;
}

struct lookup {
	u64 addr;
	struct ksym best;
	bool found;
};

static bool lookup_one(const struct ksym *s, void *arg)
{
	struct lookup *l = arg;
	if (s->addr <= l->addr && (!l->found || s->addr >= l->best.addr)) {
		l->best = *s;
		l->found = true;
	}
	return false;
}

bool ksyms_lookup(const char *text, size_t len, u64 addr, struct ksym *out)
{
	struct lookup l = { .addr = addr };
	each_symbol(text, len, lookup_one, &l);
	if (l.found)
		*out = l.best;
	return l.found;
}

struct find {
	const char *name;
	size_t len;
	u64 addr;
};

static bool find_one(const struct ksym *s, void *arg)
{
	struct find *f = arg;
	if (s->name_len != f->len || memcmp(s->name, f->name, f->len) != 0)
		return false;
	f->addr = s->addr;
	return true;
}

bool ksyms_find(const char *text, size_t len, const char *name, u64 *addr)
{
	struct find f = { name, strlen(name), 0 };
	if (!each_symbol(text, len, find_one, &f))
		return false;
	*addr = f.addr;
	return true;
}
