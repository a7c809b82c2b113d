/* infer/kernels/kern_avx512.c: AVX-512 (F/BW/VL, VNNI) kernels. Compiled with AVX-512 flags alone;
 * kern_init() only calls kern_avx512_fill() when the CPU has them. Each kernel has a reference twin
 * in kern_ref.c and is tested against it in tests/infer/test_kernels.c. */
#include "infer/kernels/kern_int.h"

void kern_avx512_fill(struct kern_ops *ops)
{
    (void)ops;
}
