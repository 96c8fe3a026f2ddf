/* ULEB128 for lengths below 2^14, as migration/xbzrle.c needs them (written for this benchmark). */
#ifndef LIVEMIG_SHIM_CUTILS_H
#define LIVEMIG_SHIM_CUTILS_H
#include <stdint.h>

static inline int uleb128_encode_small(uint8_t *out, uint32_t n)
{
    if (n < 0x80) {
        out[0] = (uint8_t)n;
        return 1;
    }
    out[0] = (uint8_t)(n | 0x80);
    out[1] = (uint8_t)(n >> 7);
    return 2;
}

static inline int uleb128_decode_small(const uint8_t *in, uint32_t *n)
{
    if (!(in[0] & 0x80)) {
        *n = in[0];
        return 1;
    }
    if (in[1] & 0x80) {
        return -1; /* more than two bytes: not a small length */
    }
    *n = (uint32_t)(in[0] & 0x7f) | ((uint32_t)in[1] << 7);
    return 2;
}
#endif
