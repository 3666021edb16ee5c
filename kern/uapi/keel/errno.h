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

/* Capabilities and page tables: one code per rule (docs/abi.md). */
#define EBADSLOT 80 /* no capability in that slot */
#define ETYPE    81 /* a capability of the wrong type */
#define ERIGHTS  82 /* the capability lacks a right the operation needs */
#define EVRANGE  83 /* the address is outside the caller's virtual ranges */
#define EKHALF   84 /* the kernel half of the address space (PML4 slots 256..510) */
#define ESLOT511 85 /* PML4 slot 511: the kernel's own */
#define EPTPAGE  86 /* a page-table page cannot be mapped as data */
#define EGLOBAL  87 /* the G bit is refused */
#define EUSER    88 /* U cannot be cleared */
#define EMEMTYPE 89 /* only write-back memory may be mapped */
#define EREFS    90 /* still referenced (mapped, installed or derived from) */
#define ELEVEL   91 /* a page table of the wrong level */
#define EINDEX   92 /* an entry index out of range */
#define EBINDING 93 /* a page table bound to another virtual address */
#define EMAPPED  94 /* already mapped: one mapping per capability (derive another) */
#define EWINDOW  95 /* the read-only page-table window's slot */
#define EBADTABLE 96 /* SYS_MMU_UPDATE: no capability in the table slot */
#define ENOCPU   97 /* the env holds no capability for this CPU */
#define EPIPE    32 /* the other end of a protected control transfer is gone */
#define EDQUOT  122 /* a quota is exhausted */

#endif
