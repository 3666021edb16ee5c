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
		E(EBADSLOT) E(ETYPE) E(ERIGHTS) E(EVRANGE) E(EKHALF) E(ESLOT511) E(EPTPAGE) E(EGLOBAL)
		E(EUSER) E(EMEMTYPE) E(EREFS) E(ELEVEL) E(EINDEX) E(EBINDING) E(EMAPPED) E(EWINDOW) E(EBADTABLE) E(EDQUOT) E(EPIPE) E(ENOCPU)
#undef E
	default:
		return "E?";
	}
}
