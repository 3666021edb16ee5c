/* fmt_snprintf against the C library's snprintf, the oracle. */
#include <sys/types.h>

#include "check.h"
#include "lib/fmt.h"

#define SAME(...)                                                                                  \
	do {                                                                                       \
		char mine[256], libc[256];                                                         \
		size_t n1 = fmt_snprintf(mine, sizeof mine, __VA_ARGS__);                          \
		int n2 = snprintf(libc, sizeof libc, __VA_ARGS__);                                 \
		CHECK_STR(mine, libc);                                                             \
		CHECK_EQ(n1, n2);                                                                  \
	} while (0)

int main(void)
{
	long long vals[] = { 0, 1, -1, 42, -42, 255, 65535, 2147483647LL, -2147483647LL - 1,
			     9223372036854775807LL, -9223372036854775807LL - 1 };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		long long v = vals[i];
		SAME("%d|%i|%u|%x|%X|%o", (int)v, (int)v, (unsigned)v, (unsigned)v, (unsigned)v, (unsigned)v);
		SAME("%lld|%llu|%llx|%#llx|%#llo", v, (unsigned long long)v, (unsigned long long)v,
		     (unsigned long long)v, (unsigned long long)v);
		SAME("[%5d|%-5d|%05d|%+d|% d|%.3d|%8.3d|%-8.3d]", (int)v, (int)v, (int)v, (int)v, (int)v, (int)v,
		     (int)v, (int)v);
		SAME("[%016llx|%#018llx|%-20llu|%.0d]", (unsigned long long)v, (unsigned long long)v,
		     (unsigned long long)v, (int)v);
		SAME("%hhd %hhu %hd %hu %zu %zd", (int)v, (int)v, (int)v, (int)v, (size_t)v, (ssize_t)v);
	}
	SAME("%s|%10s|%-10s|%.2s|%*s|%-*s|%.*s", "abc", "abc", "abc", "abc", 6, "ab", 6, "ab", 1, "xyz");
	SAME("%c%c%5c%-3c|", 'a', 'b', 'c', 'd');
	SAME("100%% %s", "done");
	SAME("%p", (void *)0x1234);
	SAME("%*d|%-*d", -5, 42, 3, 7);

	/* Truncation: always NUL-terminated, returns the full length. */
	char small[5];
	CHECK_EQ(fmt_snprintf(small, sizeof small, "%s", "abcdefgh"), 8);
	CHECK_STR(small, "abcd");
	CHECK_EQ(fmt_snprintf(NULL, 0, "%d", 12345), 5);
	char one[1] = { 'x' };
	CHECK_EQ(fmt_snprintf(one, 1, "hello"), 5);
	CHECK_EQ(one[0], 0);
	/* A conversion cut off by the end of the format is printed as is. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-overflow"
	char buf[32];
	fmt_snprintf(buf, sizeof buf, "abc%");
	CHECK_STR(buf, "abc%");
	fmt_snprintf(buf, sizeof buf, "abc%l");
	CHECK_STR(buf, "abc%l");
	fmt_snprintf(buf, sizeof buf, "%q");
	CHECK_STR(buf, "%q");
	fmt_snprintf(buf, sizeof buf, "%s", (char *)NULL);
	CHECK_STR(buf, "(null)");
#pragma GCC diagnostic pop
	/* An absurd width is clamped, not a hang or an overflow. */
	CHECK(fmt_snprintf(buf, sizeof buf, "%999999999d", 1) > 0);
	return check_done("fmt");
}
