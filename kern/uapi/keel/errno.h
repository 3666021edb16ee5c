/*
 * Keel error codes. Kernel calls return 0 or a positive result on success and
 * the negative of one of these on failure; every failure has its own code so a
 * caller (and a test) can tell why. Shared by the kernel and libos/.
 */
#ifndef KEEL_UAPI_ERRNO_H
#define KEEL_UAPI_ERRNO_H

#define EPERM    1  /* operation not permitted to this caller */
#define ENOENT   2  /* no such object (module, env, symbol) */
#define EIO      5  /* device or firmware failure */
#define E2BIG    7  /* argument list or batch too long */
#define ENOEXEC  8  /* malformed executable */
#define EAGAIN  11  /* try again later */
#define ENOMEM  12  /* out of memory (or quota) */
#define EFAULT  14  /* bad user pointer */
#define EBUSY   16  /* resource in use */
#define EEXIST  17  /* already exists */
#define EINVAL  22  /* invalid argument */
#define ENOSPC  28  /* no space left in a fixed table */
#define ERANGE  34  /* value out of range */
#define ENOSYS  38  /* no such call */
#define EOVERFLOW 75 /* value too large for its type */
#define EBADMSG 74  /* malformed data (bad checksum, truncated table) */

#endif
