# infer/sources_bert.cmake: text embeddings from GGUF encoders (infer/embed.h). The bert graph
# itself is arch_bert.c in sources_model.cmake; this part adds the thread-safe embedder around it.
list(APPEND KB_INFER_SOURCES ${CMAKE_CURRENT_LIST_DIR}/embed.c)
