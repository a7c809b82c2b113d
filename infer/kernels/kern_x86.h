/* infer/kernels/kern_x86.h: small x86 helpers shared by the AVX2 and AVX-512 kernel files (both are
 * compiled with at least AVX2, FMA and F16C). Only included by infer/kernels/kern_avx*.c. */
#ifndef KB_INFER_KERN_X86_H
#define KB_INFER_KERN_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* The sum of 8 float lanes, always in the same order (tiles and dots must agree bit for bit). */
static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K block, by shuffles of its
 * scales[12] (the 16-byte load also reads 4 bytes of the block's qs, which are masked away). */
static inline __m128i k4_scales_v(const uint8_t *s12)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s12);
    /* A: bytes 0..3, 8..11, 4..7, 8..11; B: zero, 0..3, zero, 4..7 */
    const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i lo = _mm_and_si128(a, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0));
    const __m128i hn = _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi32(0, 0, 0, 0x0f0f0f0f));
    /* the top two bits of bytes 0..7 become bits 4..5 (the 16-bit shift's spill is masked off) */
    const __m128i top = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30));
    return _mm_or_si128(_mm_or_si128(lo, hn), top);
}

/* k4_scales_v of two blocks at once: block a's 16 bytes in the low 128 bits, block b's in the high. */
static inline __m256i k4_scales_v2(const uint8_t *a12, const uint8_t *b12)
{
    const __m256i v = _mm256_loadu2_m128i((const __m128i *)b12, (const __m128i *)a12);
    const __m256i a = _mm256_shuffle_epi8(
        v, _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)));
    const __m256i b = _mm256_shuffle_epi8(
        v, _mm256_broadcastsi128_si256(_mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7)));
    const __m256i lo = _mm256_and_si256(a, _mm256_broadcastsi128_si256(_mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0)));
    const __m256i hn = _mm256_and_si256(_mm256_srli_epi16(a, 4), _mm256_broadcastsi128_si256(_mm_setr_epi32(0, 0, 0, 0x0f0f0f0f)));
    const __m256i top = _mm256_and_si256(_mm256_srli_epi16(b, 2), _mm256_set1_epi8(0x30));
    return _mm256_or_si256(_mm256_or_si256(lo, hn), top);
}

/* kern_e8m0_half (MXFP4's half scale 2^(e-128)) as a table of float bits, filled at compile time:
 * one load instead of rebuilding the float per block (measured faster in the AVX-512 dots). */
#define E8M0H(e) ((e) < 2 ? 0x00200000u << ((e) & 1) : (uint32_t)((e) - 1) << 23) /* (e & 1 == e there) */
#define E8M0H4(e) E8M0H(e), E8M0H((e) + 1), E8M0H((e) + 2), E8M0H((e) + 3)
#define E8M0H16(e) E8M0H4(e), E8M0H4((e) + 4), E8M0H4((e) + 8), E8M0H4((e) + 12)
#define E8M0H64(e) E8M0H16(e), E8M0H16((e) + 16), E8M0H16((e) + 32), E8M0H16((e) + 48)
static const uint32_t e8m0_half_bits[256] = {E8M0H64(0), E8M0H64(64), E8M0H64(128), E8M0H64(192)};

static inline float e8m0_half_tab(uint8_t e)
{
    float f;
    memcpy(&f, &e8m0_half_bits[e], 4);
    return f;
}

#endif
