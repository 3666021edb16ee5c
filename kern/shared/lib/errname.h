#ifndef KEEL_ERRNAME_H
#define KEEL_ERRNAME_H

/* "ENOMEM" for -ENOMEM (or ENOMEM); "E?" for unknown codes. */
const char *errname(int err);

#endif
