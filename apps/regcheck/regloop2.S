/* A second copy of the register torture loop, with its own data: regcheck2_loop
 * and regcheck2_expected (regloop.S), for a second dispatcher checking at once. */
#define REGLOOP regcheck2
#include "regloop.S"
