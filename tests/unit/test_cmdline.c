#include "check.h"
#include "cmdline.h"

static struct cmdline c;

int main(void)
{
	struct diag_log l;

	diag_log_init(&l);
	CHECK_EQ(cmdline_parse(&c, "test=boot  quiet\tmem=\"a b\" k=v=w", 100, &l.d), 0);
	CHECK_EQ(c.n, 4);
	CHECK_STR(cmdline_get(&c, "test"), "boot");
	CHECK_STR(cmdline_get(&c, "quiet"), "");
	CHECK_STR(cmdline_get(&c, "mem"), "a b");
	CHECK_STR(cmdline_get(&c, "k"), "v=w");
	CHECK(cmdline_get(&c, "missing") == NULL);

	/* Last occurrence wins; GRUB-style backslash escapes. */
	cmdline_parse(&c, "a=1 a=2 q=\\\"x\\\\y", 100, NULL);
	CHECK_STR(cmdline_get(&c, "a"), "2");
	CHECK_STR(cmdline_get(&c, "q"), "\"x\\y");

	/* Only srclen bytes are read, even without a NUL. */
	char raw[8] = { 'a', '=', 'b', 'c', 'd', 'e', 'f', 'g' };
	cmdline_parse(&c, raw, 3, NULL);
	CHECK_STR(cmdline_get(&c, "a"), "b");

	/* Hostile: unterminated quote, empty key, too many words, overlong. */
	diag_log_init(&l);
	CHECK(cmdline_parse(&c, "x=\"open =v", 100, &l.d) >= 1);
	CHECK(diag_has(&l, "unterminated quote"));
	CHECK_STR(cmdline_get(&c, "x"), "open =v");
	diag_log_init(&l);
	cmdline_parse(&c, "=v ok", 100, &l.d);
	CHECK(diag_has(&l, "empty key"));
	CHECK_STR(cmdline_get(&c, "ok"), "");

	char many[1024] = "";
	for (int i = 0; i < 50; i++)
		sprintf(many + strlen(many), "w%d ", i);
	diag_log_init(&l);
	cmdline_parse(&c, many, sizeof many, &l.d);
	CHECK_EQ(c.n, CMDLINE_MAX_ARGS);
	CHECK(diag_has(&l, "more than 32 words, 'w32'"));

	/* 1000 one-letter words: the most buffer per input byte. */
	char dense[2001];
	for (int i = 0; i < 1000; i++) {
		dense[2 * i] = 'a';
		dense[2 * i + 1] = ' ';
	}
	dense[2000] = 0;
	diag_log_init(&l);
	cmdline_parse(&c, dense, sizeof dense, &l.d);
	CHECK(diag_has(&l, "only the first 511 are read"));

	char huge[4000];
	memset(huge, 'k', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	diag_log_init(&l);
	cmdline_parse(&c, huge, sizeof huge, &l.d);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(strlen(c.arg[0].key), CMDLINE_MAX - 1);

	cmdline_parse(&c, NULL, 10, NULL);
	CHECK_EQ(c.n, 0);
	cmdline_parse(&c, "   \t\n ", 10, NULL);
	CHECK_EQ(c.n, 0);

	u64 v;
	CHECK(parse_u64("12345", &v) && v == 12345);
	CHECK(parse_u64("0x1F", &v) && v == 31);
	CHECK(parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
	CHECK(!parse_u64("18446744073709551616", &v));
	CHECK(!parse_u64("0x10000000000000000", &v));
	CHECK(!parse_u64("", &v));
	CHECK(!parse_u64("0x", &v));
	CHECK(!parse_u64("12a", &v));
	CHECK(!parse_u64("-1", &v));
	CHECK(!parse_u64(NULL, &v));
	return check_done("cmdline");
}
