/* infer/kernels/kern_int.h: block layouts of the ggml quantized types, shared by the reference and
 * the per-ISA kernel files, and the hooks each ISA file exports to kern.c.
 *
 * Byte layouts (all little-endian, packed, as ggml defines them; "f16" is IEEE half):
 *   Q4_0  (32 values, 18 B): f16 d; u8 qs[16]         x = d * (nibble - 8); low nibbles = x[0..15]
 *   Q4_1  (32, 20 B):        f16 d, m; u8 qs[16]      x = d * nibble + m
 *   Q5_0  (32, 22 B):        f16 d; u8 qh[4]; qs[16]  5th bit of x[j] is bit j of qh; x = d*(q - 16)
 *   Q5_1  (32, 24 B):        f16 d, m; u8 qh[4]; qs[16]; x = d*q + m
 *   Q8_0  (32, 34 B):        f16 d; i8 qs[32]         x = d * q
 *   Q8_1  (32, 36 B):        f16 d, s; i8 qs[32]      s = d * sum(q)
 *   Q4_K  (256, 144 B):      f16 d, dmin; u8 scales[12] (8 x 6-bit scale + 8 x 6-bit min); u8 qs[128]
 *   Q5_K  (256, 176 B):      f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K  (256, 210 B):      u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d   x = d*scale*(q - 32)
 *   Q8_K  (256, 292 B):      f32 d; i8 qs[256]; i16 bsums[16] (sums of 16 consecutive qs)
 *   MXFP4 (32, 17 B):        u8 e (E8M0: 2^(e-127)); u8 qs[16]   x = 2^(e-128) * kern_fp4_lv[nibble]
 *                            (the OCP MX FP4 E2M1 values doubled to integers, hence the half scale;
 *                            nibbles placed like Q4_0's: low = x[0..15], high = x[16..31])
 * The K-quant values are grouped in 64-value halves: qs byte l of a 32-byte group holds value l
 * (low nibble) and value l + 32 (high nibble). Tests: tests/infer/test_kernels.c. */
#ifndef KB_INFER_KERN_INT_H
#define KB_INFER_KERN_INT_H

#include <stdint.h>
#include <string.h>

#include "infer/kern.h"

#define QK 32    /* values per block of the Q*_0/Q*_1 types */
#define QK_K 256 /* values per super-block of the K-quants */

struct blk_q4_0 { uint16_t d; uint8_t qs[QK / 2]; };
struct blk_q4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };
struct blk_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct blk_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct blk_q8_0 { uint16_t d; int8_t qs[QK]; };
struct blk_q8_1 { uint16_t d, s; int8_t qs[QK]; };
struct blk_q4_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
struct blk_q5_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct blk_q6_k { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
struct blk_q8_k { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
struct blk_mxfp4 { uint8_t e; uint8_t qs[QK / 2]; };

_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(struct blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(struct blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(struct blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(struct blk_q8_1) == 36, "q8_1");
_Static_assert(sizeof(struct blk_q4_k) == 144, "q4_k");
_Static_assert(sizeof(struct blk_q5_k) == 176, "q5_k");
_Static_assert(sizeof(struct blk_q6_k) == 210, "q6_k");
_Static_assert(sizeof(struct blk_q8_k) == 292, "q8_k");
_Static_assert(sizeof(struct blk_mxfp4) == 17, "mxfp4");

/* E2M1 (sign, 2-bit exponent, 1-bit mantissa) code -> twice its value: 0 0.5 1 1.5 2 3 4 6 and
 * their negatives, as exact small integers so the dot products stay integer. */
static const int8_t kern_fp4_lv[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* Half the E8M0 scale, 2^(e-128), built from the bits (e = 0 and 1 give the subnormals 2^-128 and
 * 2^-127; e = 255, NaN in the MX spec, reads as the finite 2^127, as in ggml, which rejects it only
 * when asked to validate tensor data). */
static inline float kern_e8m0_half(uint8_t e)
{
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K scales[12] array. */
static inline void kern_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Each fills the entries it implements and leaves the others untouched. */
void kern_ref_fill(struct kern_ops *ops);
void kern_avx2_fill(struct kern_ops *ops);
void kern_avx512_fill(struct kern_ops *ops);

#endif
