/* The two decisions on every return to Ring 3: sysretq or iretq, and what a
 * resumed context may contain. */
#include "check.h"
#include "context.h"

int main(void)
{
	/* sysretq only for syscall-saved contexts below the last user page. */
	CHECK(exit_via_sysret(true, 0x401000));
	CHECK(exit_via_sysret(true, 0x7FFFFFFFEFFF));
	CHECK(!exit_via_sysret(true, 0x7FFFFFFFF000));  /* the last page itself */
	CHECK(!exit_via_sysret(true, 0x7FFFFFFFFFFF));
	CHECK(!exit_via_sysret(true, 0x800000000000));  /* non-canonical */
	CHECK(!exit_via_sysret(true, 0xFFFF800000000000)); /* canonical, kernel half */
	CHECK(!exit_via_sysret(true, 0xFFFFFFFF80100000));
	CHECK(!exit_via_sysret(false, 0x401000));        /* interrupted: RCX/R11 are live */

	/* Sanitising: selectors forced, RFLAGS filtered, IF forced on. */
	struct trap_frame c = { 0 };
	c.cs = 0x08; /* a kernel selector */
	c.ss = 0x00;
	c.rflags = ~0ULL; /* everything, IOPL=3, NT, RF, VM, VIF, VIP included */
	c.rip = 0x401000;
	c.rsp = 0xdead000000000000ULL;
	CHECK_EQ(context_sanitize(&c, false), 0); /* a CPU-saved RSP may be anything */
	CHECK_EQ(c.cs, USER_CS);
	CHECK_EQ(c.ss, USER_SS);
	CHECK_EQ(c.rflags, 0x240DD5 | 0x200 | 0x2);
	CHECK_EQ(c.rflags & (3 << 12), 0); /* never IOPL */
	CHECK(c.rflags & 0x200);           /* never IF=0 */
	CHECK_EQ(context_sanitize(&c, true), -EFAULT); /* from user memory: RSP must be a user address */

	c.rflags = 0; /* IF=0 requested */
	c.rsp = 0x7000;
	CHECK_EQ(context_sanitize(&c, true), 0);
	CHECK_EQ(c.rflags, 0x202);
	c.rip = 0xFFFFFFFF80100000ULL;
	CHECK_EQ(context_sanitize(&c, false), -EFAULT);
	c.rip = 0x800000000000ULL;
	CHECK_EQ(context_sanitize(&c, false), -EFAULT);
	c.rip = 0x7FFFFFFFFFFFULL;
	CHECK_EQ(context_sanitize(&c, false), 0);
	return check_done("context");
}
