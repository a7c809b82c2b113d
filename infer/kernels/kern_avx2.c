/* infer/kernels/kern_avx2.c: AVX2+FMA+F16C kernels (placeholder until the SIMD kernels land). */
#include "infer/kernels/kern_int.h"

void kern_avx2_fill(struct kern_ops *ops)
{
    (void)ops;
}
