/* The little of QEMU's osdep.h that migration/xbzrle.c uses, for scripts/bench-xbzrle-qemu.sh. */
#ifndef LIVEMIG_SHIM_OSDEP_H
#define LIVEMIG_SHIM_OSDEP_H
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define g_assert(cond) assert(cond)
#endif
