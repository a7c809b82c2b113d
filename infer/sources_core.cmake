# infer/sources_core.cmake: the engine core (GGUF reader, kernels, thread pool, matmul, synthetic
# GGUF writer). Included by infer/CMakeLists.txt; ISA files also go to KB_INFER_ISA_* for flags.
list(APPEND KB_INFER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/gguf.c
  ${CMAKE_CURRENT_LIST_DIR}/pool.c
  ${CMAKE_CURRENT_LIST_DIR}/stream.c
  ${CMAKE_CURRENT_LIST_DIR}/matmul.c
  ${CMAKE_CURRENT_LIST_DIR}/synth.c
  ${CMAKE_CURRENT_LIST_DIR}/kernels/kern.c
  ${CMAKE_CURRENT_LIST_DIR}/kernels/kern_ref.c
  ${CMAKE_CURRENT_LIST_DIR}/kernels/kern_avx2.c
  ${CMAKE_CURRENT_LIST_DIR}/kernels/kern_avx512.c)
list(APPEND KB_INFER_ISA_AVX2 ${CMAKE_CURRENT_LIST_DIR}/kernels/kern_avx2.c)
list(APPEND KB_INFER_ISA_AVX512 ${CMAKE_CURRENT_LIST_DIR}/kernels/kern_avx512.c)
