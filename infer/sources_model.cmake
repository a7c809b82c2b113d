# infer/sources_model.cmake: the model side of the engine (shared layers, architectures, sessions,
# generation, MoE router). Included by infer/CMakeLists.txt.
list(APPEND KB_INFER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/model.c
  ${CMAKE_CURRENT_LIST_DIR}/layers.c
  ${CMAKE_CURRENT_LIST_DIR}/layers_moe.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_llama.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_deepseek2.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_bert.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_gptoss.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_qwen3next.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_glm4moe.c
  ${CMAKE_CURRENT_LIST_DIR}/arch_deepseek32.c
  ${CMAKE_CURRENT_LIST_DIR}/moe.c
  ${CMAKE_CURRENT_LIST_DIR}/session.c
  ${CMAKE_CURRENT_LIST_DIR}/generate.c)
