/* infer/gguf.h (internal to infer/): the GGUF v2/v3 reader and the ggml tensor type table.
 *
 * A GGUF file is mmap'd read-only; gguf_open() parses and validates the header, every metadata
 * key/value (all value types, including nested arrays), and every tensor info, checking each
 * offset, size, count and dimension against the file before any use. After a successful open,
 * every pointer below points into the mapping (or into the reader's own arena for decoded names)
 * and stays valid until gguf_close(). A hostile or truncated file gives KB_ECORRUPT / KB_EFORMAT
 * with a message naming what was wrong; it never crashes. Thread-safe after open (read-only).
 *
 * On-disk layout (little-endian): magic "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv;
 * n_kv x {string key, u32 type, value}; n_tensors x {string name, u32 n_dims, u64 ne[n_dims],
 * u32 ggml_type, u64 offset}; padding to general.alignment (default 32); tensor data.
 * A string is u64 length + bytes (not NUL-terminated). Tests: tests/infer/test_gguf.c. */
#ifndef KB_INFER_GGUF_H
#define KB_INFER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Metadata value types, as stored in the file. */
enum gguf_vtype {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3, GGUF_VT_U32 = 4,
    GGUF_VT_I32 = 5, GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7, GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9,
    GGUF_VT_U64 = 10, GGUF_VT_I64 = 11, GGUF_VT_F64 = 12, GGUF_VT_COUNT
};

/* ggml tensor types, numbered as in the file. Only the ones kbox computes with are named. */
enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_BF16 = 30, GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40
};

/* Block geometry of a type: block_elems values are stored in block_bytes bytes. name is NULL for a
 * type kbox does not support (then block_elems is 0). */
struct ggml_type_info {
    const char *name;    /* "Q4_K" */
    int block_elems;     /* values per block: 1 for F32/F16/BF16, 32 for Q*_0/1, 256 for K-quants */
    size_t block_bytes;  /* bytes per block */
};
const struct ggml_type_info *ggml_type_info(int type); /* NULL for types outside the table */
bool ggml_type_supported(int type);
/* Bytes of a row of n values; 0 when n is not a multiple of the block size or type unsupported. */
size_t ggml_row_bytes(int type, int64_t n);

struct gguf_kv {
    const char *key;        /* NUL-terminated copy; owned by the file */
    enum gguf_vtype type;
    enum gguf_vtype arr_type; /* element type when type == ARRAY */
    uint64_t n;             /* element count for arrays, 1 otherwise */
    const uint8_t *data;    /* borrowed: points at the value in the mapping (for STRING: at the
                             * u64 length; for ARRAY: at the first element). NOT aligned: read
                             * elements with memcpy, never through an int32_t/float pointer */
};

struct gguf_tensor {
    const char *name;       /* NUL-terminated copy; owned by the file */
    int type;               /* enum ggml_type */
    int n_dims;             /* 1..4 */
    int64_t ne[4];          /* dimensions, ne[0] is the row length (contiguous); unused = 1 */
    uint64_t offset;        /* from the start of the data section */
    size_t n_bytes;         /* total bytes, validated against the file */
    const void *data;       /* borrowed: in the mapping */
};

struct gguf_file; /* opaque; read-only after open */

/* mmaps and validates path. Caller owns *out; close with gguf_close(). */
int gguf_open(struct gguf_file **out, const char *path, struct kb_error *err);
/* How later gguf_open() calls hold the file: false (the default) maps it; true reads it into private
 * memory (see gguf.c read_whole). Process-wide, set once at start-up (answer.load). */
void gguf_set_load_copy(bool copy);
bool gguf_load_copy(void);
/* Same over a caller buffer (fuzzing, tests); the buffer must outlive the file object. */
int gguf_open_memory(struct gguf_file **out, const void *data, size_t n_bytes, struct kb_error *err);
void gguf_close(struct gguf_file *f); /* NULL ok */

uint32_t gguf_version(const struct gguf_file *f);
size_t gguf_alignment(const struct gguf_file *f);
size_t gguf_file_bytes(const struct gguf_file *f);
size_t gguf_data_offset(const struct gguf_file *f); /* start of the tensor data section */

int gguf_n_kv(const struct gguf_file *f);
const struct gguf_kv *gguf_kv_at(const struct gguf_file *f, int i);
const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key); /* NULL if absent */

/* Typed getters: false when absent or of a type that cannot convert exactly (any integer type
 * converts to another if the value fits; F32/F64 convert to each other). */
bool gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
/* A string value: pointer into the mapping (not NUL-terminated) and its length. */
bool gguf_get_str(const struct gguf_file *f, const char *key, const char **s, size_t *n);
/* An array: element type, count, and a borrowed pointer to the first element (unaligned: memcpy
 * each element out; elements are little-endian). */
bool gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_vtype *type, uint64_t *n,
                  const void **data);
/* Element i of an array of strings (validated at open, so O(1) after an index is built). */
bool gguf_arr_str(const struct gguf_file *f, const char *key, uint64_t i, const char **s, size_t *n);

int gguf_n_tensors(const struct gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name); /* NULL if absent */

#endif
