#include "check.h"
#include "ksyms.h"

static const char text[] = "ffffffff80100000 T _start\n"
			   "ffffffff80100020 t helper\n"
			   "garbage line\n"
			   "ffffffff80100040 D data_not_text\n"
			   "zzzz T bad_hex\n"
			   "ffffffff80100080 T kmain\n"
			   "ffffffff801000c0 T\n"
			   "11112222333344445 T too_long_address\n"
			   "ffffffff80100100 T last";

int main(void)
{
	struct ksym s;
	size_t len = sizeof text - 1;
	CHECK(!ksyms_lookup(text, len, 0xffffffff800fffffULL, &s));
	CHECK(ksyms_lookup(text, len, 0xffffffff80100000ULL, &s));
	CHECK(s.name_len == 6 && memcmp(s.name, "_start", 6) == 0);
	CHECK(ksyms_lookup(text, len, 0xffffffff80100050ULL, &s));
	CHECK(s.name_len == 6 && memcmp(s.name, "helper", 6) == 0); /* D symbols are skipped */
	CHECK(ksyms_lookup(text, len, 0xffffffff801000ffULL, &s));
	CHECK(s.name_len == 5 && memcmp(s.name, "kmain", 5) == 0);
	CHECK(ksyms_lookup(text, len, 0xffffffffffffffffULL, &s));
	CHECK(s.name_len == 4 && memcmp(s.name, "last", 4) == 0); /* no trailing newline */
	u64 a;
	CHECK(ksyms_find(text, len, "kmain", &a) && a == 0xffffffff80100080ULL);
	CHECK(!ksyms_find(text, len, "kmai", &a));
	CHECK(!ksyms_find(text, len, "data_not_text", &a));
	CHECK(!ksyms_lookup("", 0, 1, &s));
	return check_done("ksyms");
}
