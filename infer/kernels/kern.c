/* infer/kernels/kern.c: the kernel dispatch table and fp16/bf16 scalar conversion.
 *
 * kern_init() fills `kern` once: first the reference entries (kern_ref.c), then, unless
 * KBOX_FORCE_SCALAR=1 or force_scalar, the entries of every ISA file the CPU supports (AVX2+FMA+F16C,
 * then AVX-512 F/BW/VL(+VNNI)), each overwriting only what it implements. KBOX_ISA=avx2 stops at
 * AVX2 (tests use it to check the AVX2 kernels on an AVX-512 machine; KBOX_ISA=scalar is
 * KBOX_FORCE_SCALAR). It must run before any
 * thread uses the kernels; afterwards the table is read-only (STYLE.md 14). Concurrent first calls
 * are serialised by a mutex; the first caller's force_scalar wins.
 * Tests: tests/infer/test_kernels.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "infer/kernels/kern_int.h"

struct kern_ops kern;

static struct kern_ops ref_ops;
/* Initialisation may race when two models are opened at once; the mutex makes the first caller
 * fill the tables and the flags (release/acquire) publish them. */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool ref_ready, kern_ready;

static void fill_ref_locked(void)
{
    if (!atomic_load_explicit(&ref_ready, memory_order_relaxed)) {
        memset(&ref_ops, 0, sizeof(ref_ops));
        kern_ref_fill(&ref_ops);
        ref_ops.isa = "ref";
        atomic_store_explicit(&ref_ready, true, memory_order_release);
    }
}

const struct kern_ops *kern_ref_ops(void)
{
    if (!atomic_load_explicit(&ref_ready, memory_order_acquire)) {
        pthread_mutex_lock(&init_mu);
        fill_ref_locked();
        pthread_mutex_unlock(&init_mu);
    }
    return &ref_ops;
}

void kern_init(bool force_scalar)
{
    if (atomic_load_explicit(&kern_ready, memory_order_acquire))
        return;
    pthread_mutex_lock(&init_mu);
    if (atomic_load_explicit(&kern_ready, memory_order_relaxed)) {
        pthread_mutex_unlock(&init_mu);
        return;
    }
    fill_ref_locked();
    const char *env = getenv("KBOX_FORCE_SCALAR");
    if (env && env[0] && strcmp(env, "0") != 0)
        force_scalar = true;
    const char *isa = getenv("KBOX_ISA");
    bool cap_avx2 = isa && strcmp(isa, "avx2") == 0;
    if (isa && strcmp(isa, "scalar") == 0)
        force_scalar = true;
    kern = ref_ops;
    if (!force_scalar) {
        struct kb_cpu cpu;
        kb_cpu_detect(&cpu);
        if (cpu.avx2 && cpu.fma && cpu.f16c) {
            kern_avx2_fill(&kern);
            kern.isa = "avx2";
            if (!cap_avx2 && cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512vnni) {
                struct kern_ops below = kern;
                kern_avx512_fill(&kern);
                kern.isa = "avx512";
                /* the same rule one level up: AVX2 rows beside an AVX-512 vec_dot would not sum
                 * like it */
                for (int t = 0; t < GGML_TYPE_COUNT; t++)
                    if (kern.vec_dot_rows[t] == below.vec_dot_rows[t] && kern.vec_dot[t] != below.vec_dot[t])
                        kern.vec_dot_rows[t] = NULL;
            }
        }
    }
    /* a row kernel must sum like the vec_dot beside it: an ISA that replaced vec_dot without
     * bringing its own rows gets the vec_dot loop (NULL) */
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (kern.vec_dot_rows[t] == ref_ops.vec_dot_rows[t] && kern.vec_dot[t] != ref_ops.vec_dot[t])
            kern.vec_dot_rows[t] = NULL;
    atomic_store_explicit(&kern_ready, true, memory_order_release);
    pthread_mutex_unlock(&init_mu);
}

/* ---- fp16 / bf16 -------------------------------------------------------------------------------- */

float kern_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan (keep nan quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (ax < 0x33000000u) /* < 2^-25: rounds to zero */
            return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24: value = m * 2^(e-150); half unit 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax - 0x38000000u; /* rebias exponent 127 -> 15 (shifted by 13) */
    uint32_t q = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
        q++;
    return (uint16_t)(sign | q);
}

float kern_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
        return (uint16_t)((x >> 16) | 64);
    return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}
