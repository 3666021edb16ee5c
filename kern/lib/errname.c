#include "lib/errname.h"
#include "keel/errno.h"

const char *errname(int err)
{
	switch (err < 0 ? -err : err) {
#define E(x) \
	case x:  \
		return #x;
		E(EPERM) E(ENOENT) E(EIO) E(E2BIG) E(ENOEXEC) E(EAGAIN) E(ENOMEM) E(EFAULT) E(EBUSY)
		E(EEXIST) E(EINVAL) E(ENOSPC) E(ERANGE) E(ENOSYS) E(EOVERFLOW) E(EBADMSG)
#undef E
	default:
		return "E?";
	}
}
