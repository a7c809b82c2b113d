# infer/sources_core.cmake: the engine core (GGUF reader, kernels, thread pool, matmul, synthetic
# GGUF writer). Included by infer/CMakeLists.txt.
list(APPEND KB_INFER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/gguf.c)
