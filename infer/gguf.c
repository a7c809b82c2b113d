/* infer/gguf.c: the GGUF v2/v3 reader and the ggml tensor type table.
 *
 * Data flow: gguf_open() mmaps the file read-only, or with gguf_set_load_copy(true) reads it into
 * private anonymous memory (transparent huge pages asked for, then made read-only); gguf_open_memory()
 * borrows a caller buffer. Either way the rest of the reader sees one read-only byte range;
 * then one pass with a bounds-checked cursor walks the header, the n_kv key/values and the
 * n_tensors tensor infos. Nothing is dereferenced before the cursor has checked that the bytes
 * exist; every count is bounded by the bytes left before anything is allocated (each kv needs at
 * least 12 bytes, each tensor info at least 24, each string 8), so a hostile header cannot make us
 * allocate more than a small multiple of the file size. Then the data section is placed at the next
 * multiple of general.alignment and every tensor's [offset, offset + n_bytes) is checked to lie
 * inside it and to be aligned.
 *
 * Invariants after a successful open: the object is immutable (thread-safe to read); keys and
 * tensor names are NUL-terminated copies in the file's arena; kv->data and tensor->data point into
 * the mapping; arrays of strings have an offset index so gguf_arr_str() is O(1); lookups by key or
 * tensor name go through base's id tables (struct kb_idtab, FNV-1a of the name; keys and names are
 * unique: duplicates are rejected, as the reference implementation does).
 *
 * Layout (little-endian): see infer/gguf.h. Arrays nest (an ARRAY element is itself
 * {u32 type, u64 n, elements}); we accept nesting up to GGUF_MAX_DEPTH.
 * Tests: tests/infer/test_gguf.c (hostile table, truncation at every offset, shared files) and
 * fuzz/fuzz_gguf.c. */
#include "infer/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_DEPTH 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT (1u << 20)

/* ---- type table ---------------------------------------------------------------------------------- */

static const struct ggml_type_info type_table[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4},
    [GGML_TYPE_F16] = {"F16", 1, 2},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [GGML_TYPE_BF16] = {"BF16", 1, 2},
    [GGML_TYPE_MXFP4] = {"MXFP4", 32, 17},
};

/* Names of ggml types kbox recognises but does not compute with, for error messages only. */
static const char *unsupported_type_name(int type)
{
    switch (type) {
    case GGML_TYPE_Q2_K: return "Q2_K";
    case GGML_TYPE_Q3_K: return "Q3_K";
    case 16: return "IQ2_XXS";
    case 17: return "IQ2_XS";
    case 18: return "IQ3_XXS";
    case 19: return "IQ1_S";
    case 20: return "IQ4_NL";
    case 21: return "IQ3_S";
    case 22: return "IQ2_S";
    case 23: return "IQ4_XS";
    case 29: return "IQ1_M";
    case 34: return "TQ1_0";
    case 35: return "TQ2_0";
    default: return "unknown";
    }
}

const struct ggml_type_info *ggml_type_info(int type)
{
    if (type < 0 || type >= GGML_TYPE_COUNT)
        return NULL;
    return &type_table[type];
}

bool ggml_type_supported(int type)
{
    const struct ggml_type_info *ti = ggml_type_info(type);
    return ti && ti->name != NULL;
}

size_t ggml_row_bytes(int type, int64_t n)
{
    const struct ggml_type_info *ti = ggml_type_info(type);
    if (!ti || !ti->name || n < 0 || n % ti->block_elems != 0)
        return 0;
    uint64_t blocks = (uint64_t)n / (uint64_t)ti->block_elems;
    if (blocks > SIZE_MAX / ti->block_bytes)
        return 0;
    return (size_t)blocks * ti->block_bytes;
}

/* ---- the file object ------------------------------------------------------------------------------ */

struct gguf_file {
    const uint8_t *base;      /* mapping or caller buffer; file_bytes long */
    size_t file_bytes;
    bool mapped;              /* munmap on close */
    uint32_t version;         /* 2 or 3 */
    size_t alignment;         /* general.alignment or 32 */
    size_t data_offset;       /* start of the tensor data section */
    int n_kv;
    struct gguf_kv *kvs;      /* (n_kv); owned */
    const uint8_t ***str_idx; /* (n_kv); per string-array kv: (n) pointers at each u64 length; owned */
    int n_tensors;
    struct gguf_tensor *tensors; /* (n_tensors); owned */
    struct kb_idtab kv_ids;   /* key -> kvs index; owned */
    struct kb_idtab t_ids;    /* tensor name -> tensors index; owned */
    struct kb_arena arena;    /* key and name copies */
};

/* A bounds-checked little-endian cursor over [p, end). */
struct cur {
    const uint8_t *base, *p, *end;
};

static size_t cur_left(const struct cur *c)
{
    return (size_t)(c->end - c->p);
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p)
{
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static bool cur_u32(struct cur *c, uint32_t *v)
{
    if (cur_left(c) < 4)
        return false;
    *v = rd_u32(c->p);
    c->p += 4;
    return true;
}

static bool cur_u64(struct cur *c, uint64_t *v)
{
    if (cur_left(c) < 8)
        return false;
    *v = rd_u64(c->p);
    c->p += 8;
    return true;
}

/* A string: u64 length then bytes. */
static bool cur_str(struct cur *c, const char **s, uint64_t *n)
{
    uint64_t len;
    if (!cur_u64(c, &len) || len > cur_left(c))
        return false;
    *s = (const char *)c->p;
    *n = len;
    c->p += len;
    return true;
}

static size_t vtype_size(uint32_t t)
{
    switch (t) {
    case GGUF_VT_U8: case GGUF_VT_I8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_U16: case GGUF_VT_I16: return 2;
    case GGUF_VT_U32: case GGUF_VT_I32: case GGUF_VT_F32: return 4;
    case GGUF_VT_U64: case GGUF_VT_I64: case GGUF_VT_F64: return 8;
    default: return 0; /* STRING, ARRAY: variable */
    }
}

static const char *vtype_name(uint32_t t)
{
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t < KB_ARRAY_LEN(names) ? names[t] : "invalid";
}

/* Skips one value of type t (validating it). depth counts array nesting. */
static int skip_value(struct cur *c, uint32_t t, int depth, const char *key, struct kb_error *err)
{
    size_t sz = vtype_size(t);
    if (sz) {
        if (cur_left(c) < sz)
            return kb_error_set(err, KB_ECORRUPT, "gguf: value of '%s' runs past the end of the file", key);
        c->p += sz;
        return 0;
    }
    if (t == GGUF_VT_STRING) {
        const char *s;
        uint64_t n;
        if (!cur_str(c, &s, &n))
            return kb_error_set(err, KB_ECORRUPT, "gguf: string value of '%s' runs past the end of the file",
                                key);
        return 0;
    }
    if (t != GGUF_VT_ARRAY)
        return kb_error_set(err, KB_ECORRUPT, "gguf: key '%s' has invalid value type %u", key, t);
    if (depth >= GGUF_MAX_DEPTH)
        return kb_error_set(err, KB_ECORRUPT, "gguf: arrays nested deeper than %d in '%s'", GGUF_MAX_DEPTH,
                            key);
    uint32_t et;
    uint64_t n;
    if (!cur_u32(c, &et) || !cur_u64(c, &n))
        return kb_error_set(err, KB_ECORRUPT, "gguf: array header of '%s' runs past the end of the file", key);
    if (et >= GGUF_VT_COUNT)
        return kb_error_set(err, KB_ECORRUPT, "gguf: array '%s' has invalid element type %u", key, et);
    size_t esz = vtype_size(et);
    if (esz) {
        if (n > cur_left(c) / esz)
            return kb_error_set(err, KB_ECORRUPT,
                                "gguf: array '%s' of %llu %s elements runs past the end of the file", key,
                                (unsigned long long)n, vtype_name(et));
        c->p += (size_t)n * esz;
        return 0;
    }
    /* Variable-size elements: each takes at least 8 (string) or 12 (array) bytes. */
    if (n > cur_left(c) / 8)
        return kb_error_set(err, KB_ECORRUPT, "gguf: array '%s' of %llu %s elements runs past the end of the file",
                            key, (unsigned long long)n, vtype_name(et));
    for (uint64_t i = 0; i < n; i++) {
        int rc = skip_value(c, et, depth + 1, key, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* kb_idtab_eq_fn over the NUL-terminated names of the kvs and of the tensors. */
static bool kv_name_eq(const void *ctx, int32_t i, const void *name, size_t n)
{
    (void)n;
    return strcmp(((const struct gguf_file *)ctx)->kvs[i].key, name) == 0;
}

static bool t_name_eq(const void *ctx, int32_t i, const void *name, size_t n)
{
    (void)n;
    return strcmp(((const struct gguf_file *)ctx)->tensors[i].name, name) == 0;
}

/* The index filed under name in tab, or -1. */
static int name_find(const struct kb_idtab *tab, kb_idtab_eq_fn eq, const struct gguf_file *f,
                     const char *name)
{
    return kb_idtab_find(tab, kb_fnv1a32(KB_FNV1A32_INIT, name, strlen(name)), eq, f, name, 0);
}

static void name_put(struct kb_idtab *tab, kb_idtab_eq_fn eq, const struct gguf_file *f, const char *name,
                     int i)
{
    kb_idtab_add(tab, kb_fnv1a32(KB_FNV1A32_INIT, name, strlen(name)), i, eq, f, name, 0);
}

/* Copies a length-delimited name into the arena; rejects embedded NULs. */
static int copy_name(struct gguf_file *f, const char *s, uint64_t n, const char *what, char **out,
                     struct kb_error *err)
{
    if (memchr(s, 0, (size_t)n))
        return kb_error_set(err, KB_ECORRUPT, "gguf: %s contains a NUL byte", what);
    *out = kb_arena_strndup(&f->arena, s, (size_t)n);
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "gguf: out of memory copying a %s", what);
    return 0;
}

static int parse_kvs(struct gguf_file *f, struct cur *c, uint64_t n_kv, struct kb_error *err)
{
    /* Each kv needs at least 8 (key length) + 4 (type) bytes. */
    if (n_kv > cur_left(c) / 12 || n_kv > INT32_MAX / 4)
        return kb_error_set(err, KB_ECORRUPT, "gguf: header claims %llu key/values, more than the file can hold",
                            (unsigned long long)n_kv);
    f->n_kv = (int)n_kv;
    if (n_kv == 0)
        return 0;
    f->kvs = kb_try_calloc((size_t)n_kv, sizeof(*f->kvs));
    f->str_idx = kb_try_calloc((size_t)n_kv, sizeof(*f->str_idx));
    if (!f->kvs || !f->str_idx || kb_idtab_init(&f->kv_ids, (size_t)n_kv))
        return kb_error_set(err, KB_ENOMEM, "gguf: out of memory for %llu key/values", (unsigned long long)n_kv);
    for (int i = 0; i < f->n_kv; i++) {
        struct gguf_kv *kv = &f->kvs[i];
        const char *ks;
        uint64_t kn;
        uint32_t t;
        char *key;
        int rc;
        if (!cur_str(c, &ks, &kn))
            return kb_error_set(err, KB_ECORRUPT, "gguf: key %d runs past the end of the file", i);
        if ((rc = copy_name(f, ks, kn, "key", &key, err)))
            return rc;
        if (name_find(&f->kv_ids, kv_name_eq, f, key) >= 0)
            return kb_error_set(err, KB_ECORRUPT, "gguf: duplicate key '%s'", key);
        kv->key = key;
        if (!cur_u32(c, &t))
            return kb_error_set(err, KB_ECORRUPT, "gguf: type of '%s' runs past the end of the file", key);
        if (t >= GGUF_VT_COUNT)
            return kb_error_set(err, KB_ECORRUPT, "gguf: key '%s' has invalid value type %u", key, t);
        kv->type = (enum gguf_vtype)t;
        kv->n = 1;
        kv->arr_type = GGUF_VT_COUNT;
        if (t == GGUF_VT_ARRAY) {
            const uint8_t *start = c->p;
            if ((rc = skip_value(c, t, 0, key, err)))
                return rc;
            kv->arr_type = (enum gguf_vtype)rd_u32(start);
            kv->n = rd_u64(start + 4);
            kv->data = start + 12;
            if (kv->arr_type == GGUF_VT_STRING && kv->n > 0) {
                /* Already validated; build the per-element index. */
                const uint8_t **idx = kb_try_malloc((size_t)kv->n, sizeof(*idx));
                if (!idx)
                    return kb_error_set(err, KB_ENOMEM, "gguf: out of memory indexing '%s'", key);
                const uint8_t *p = kv->data;
                for (uint64_t j = 0; j < kv->n; j++) {
                    idx[j] = p;
                    p += 8 + rd_u64(p);
                }
                f->str_idx[i] = idx;
            }
        } else {
            kv->data = c->p;
            if ((rc = skip_value(c, t, 0, key, err)))
                return rc;
        }
        name_put(&f->kv_ids, kv_name_eq, f, key, i);
    }
    return 0;
}

static int parse_alignment(struct gguf_file *f, struct kb_error *err)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv)
        return 0;
    if (kv->type != GGUF_VT_U32)
        return kb_error_set(err, KB_ECORRUPT, "gguf: general.alignment has type %s, expected u32",
                            vtype_name(kv->type));
    uint32_t a = rd_u32(kv->data);
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return kb_error_set(err, KB_ECORRUPT, "gguf: general.alignment %u is not a power of two <= %u", a,
                            GGUF_MAX_ALIGNMENT);
    f->alignment = a;
    return 0;
}

static int parse_tensor_info(struct gguf_file *f, struct cur *c, int i, struct kb_error *err)
{
    struct gguf_tensor *t = &f->tensors[i];
    const char *ns;
    uint64_t nn;
    uint32_t n_dims, type;
    char *name;
    int rc;
    if (!cur_str(c, &ns, &nn))
        return kb_error_set(err, KB_ECORRUPT, "gguf: name of tensor %d runs past the end of the file", i);
    if ((rc = copy_name(f, ns, nn, "tensor name", &name, err)))
        return rc;
    if (name_find(&f->t_ids, t_name_eq, f, name) >= 0)
        return kb_error_set(err, KB_ECORRUPT, "gguf: duplicate tensor '%s'", name);
    t->name = name;
    if (!cur_u32(c, &n_dims))
        return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' runs past the end of the file", name);
    if (n_dims < 1 || n_dims > 4)
        return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' has %u dimensions (1..4 allowed)", name, n_dims);
    t->n_dims = (int)n_dims;
    uint64_t n_elems = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if (d < (int)n_dims && !cur_u64(c, &ne))
            return kb_error_set(err, KB_ECORRUPT, "gguf: dimensions of '%s' run past the end of the file", name);
        if (ne == 0 || ne > (uint64_t)INT64_MAX || n_elems > (uint64_t)INT64_MAX / ne)
            return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' has invalid or overflowing dimensions", name);
        n_elems *= ne;
        t->ne[d] = (int64_t)ne;
    }
    if (!cur_u32(c, &type) || !cur_u64(c, &t->offset))
        return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' runs past the end of the file", name);
    if (!ggml_type_supported((int)type))
        return kb_error_set(err, KB_EFORMAT, "gguf: tensor '%s' has unsupported type %s (%u)", name,
                            unsupported_type_name((int)type), type);
    t->type = (int)type;
    const struct ggml_type_info *ti = ggml_type_info(t->type);
    if (t->ne[0] % ti->block_elems != 0)
        return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' row of %lld is not a multiple of the %s block (%d)",
                            name, (long long)t->ne[0], ti->name, ti->block_elems);
    uint64_t rows = n_elems / (uint64_t)t->ne[0];
    size_t row_bytes = ggml_row_bytes(t->type, t->ne[0]);
    if (row_bytes == 0 || rows > SIZE_MAX / row_bytes)
        return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' size overflows", name);
    t->n_bytes = row_bytes * (size_t)rows;
    name_put(&f->t_ids, t_name_eq, f, name, i);
    return 0;
}

static int parse_tensors(struct gguf_file *f, struct cur *c, uint64_t n_tensors, struct kb_error *err)
{
    /* Each tensor info needs at least 8 (name) + 4 (n_dims) + 8 (ne0) + 4 (type) + 8 (offset). */
    if (n_tensors > cur_left(c) / 32 || n_tensors > INT32_MAX / 4)
        return kb_error_set(err, KB_ECORRUPT, "gguf: header claims %llu tensors, more than the file can hold",
                            (unsigned long long)n_tensors);
    f->n_tensors = (int)n_tensors;
    if (n_tensors > 0) {
        f->tensors = kb_try_calloc((size_t)n_tensors, sizeof(*f->tensors));
        if (!f->tensors || kb_idtab_init(&f->t_ids, (size_t)n_tensors))
            return kb_error_set(err, KB_ENOMEM, "gguf: out of memory for %llu tensors",
                                (unsigned long long)n_tensors);
    }
    for (int i = 0; i < f->n_tensors; i++) {
        int rc = parse_tensor_info(f, c, i, err);
        if (rc)
            return rc;
    }
    /* The data section starts at the next multiple of the alignment. */
    size_t pos = (size_t)(c->p - c->base);
    size_t pad = (f->alignment - pos % f->alignment) % f->alignment;
    f->data_offset = pos + pad;
    if (f->n_tensors == 0) {
        if (f->data_offset > f->file_bytes)
            f->data_offset = f->file_bytes; /* a vocab-only file may end without padding */
        return 0;
    }
    if (f->data_offset > f->file_bytes)
        return kb_error_set(err, KB_ECORRUPT, "gguf: file ends before its tensor data section");
    size_t data_bytes = f->file_bytes - f->data_offset;
    for (int i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment != 0)
            return kb_error_set(err, KB_ECORRUPT, "gguf: tensor '%s' offset %llu is not a multiple of the alignment %zu",
                                t->name, (unsigned long long)t->offset, f->alignment);
        if (t->offset > data_bytes || t->n_bytes > data_bytes - t->offset)
            return kb_error_set(err, KB_ECORRUPT,
                                "gguf: tensor '%s' data [%llu, +%zu) lies outside the data section (%zu bytes)",
                                t->name, (unsigned long long)t->offset, t->n_bytes, data_bytes);
        t->data = f->base + f->data_offset + t->offset;
    }
    return 0;
}

static int parse(struct gguf_file *f, struct kb_error *err)
{
    struct cur c = {f->base, f->base, f->base + f->file_bytes};
    uint32_t version;
    uint64_t n_tensors, n_kv;
    int rc;
    if (f->file_bytes < 4 || memcmp(f->base, "GGUF", 4) != 0)
        return kb_error_set(err, KB_EFORMAT, "gguf: bad magic (not a GGUF file)");
    c.p += 4;
    if (!cur_u32(&c, &version))
        return kb_error_set(err, KB_ECORRUPT, "gguf: file truncated in the header");
    if (version == 1)
        return kb_error_set(err, KB_EFORMAT, "gguf: version 1 files are not supported (only 2 and 3)");
    if ((version & 0xffff) == 0 && version != 0)
        return kb_error_set(err, KB_EFORMAT, "gguf: big-endian GGUF files are not supported");
    if (version != 2 && version != 3)
        return kb_error_set(err, KB_EFORMAT, "gguf: unsupported version %u (only 2 and 3)", version);
    f->version = version;
    if (!cur_u64(&c, &n_tensors) || !cur_u64(&c, &n_kv))
        return kb_error_set(err, KB_ECORRUPT, "gguf: file truncated in the header");
    if ((rc = parse_kvs(f, &c, n_kv, err)))
        return rc;
    if ((rc = parse_alignment(f, err)))
        return rc;
    return parse_tensors(f, &c, n_tensors, err);
}

static int open_common(struct gguf_file **out, struct gguf_file *f, struct kb_error *err)
{
    kb_arena_init(&f->arena, 64 * 1024, 0);
    int rc = parse(f, err);
    if (rc) {
        gguf_close(f);
        f = NULL;
    }
    *out = f;
    return rc;
}

int gguf_open_memory(struct gguf_file **out, const void *data, size_t n_bytes, struct kb_error *err)
{
    struct gguf_file *f = kb_xcalloc(1, sizeof(*f));
    *out = NULL;
    f->base = data;
    f->file_bytes = data ? n_bytes : 0;
    return open_common(out, f, err);
}

static atomic_bool load_copy;

void gguf_set_load_copy(bool copy)
{
    atomic_store(&load_copy, copy);
}

bool gguf_load_copy(void)
{
    return atomic_load(&load_copy);
}

/* The whole file in private anonymous memory, read-only once filled. On a VM whose host samples
 * and reclaims page-cache pages (DAMON), reads from a file mapping were measured 3x slower than
 * from anonymous memory (docs/BENCHMARKS.md, issue 20); this is the way around it, at the price of
 * the file's size in RAM that the kernel cannot drop. */
static int read_whole(int fd, size_t n, const char *path, void **out, struct kb_error *err)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return kb_error_set(err, KB_ENOMEM,
                            "cannot read '%s' into memory (%zu MB): %s; answer.load = mmap maps it instead",
                            path, n >> 20, strerror(errno));
    (void)madvise(p, n, MADV_HUGEPAGE); /* a hint; 4 KB pages work too */
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < ((size_t)64 << 20) ? n - done : ((size_t)64 << 20);
        ssize_t got = pread(fd, (char *)p + done, want, (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            int e = errno;
            munmap(p, n);
            return kb_error_set(err, KB_EIO, "cannot read '%s' at byte %zu: %s", path, done,
                                got < 0 ? strerror(e) : "the file became shorter");
        }
        done += (size_t)got;
    }
    (void)mprotect(p, n, PROT_READ);
    *out = p;
    return 0;
}

int gguf_open(struct gguf_file **out, const char *path, struct kb_error *err)
{
    int rc = 0;
    struct stat st;
    void *map = NULL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", path,
                            strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot stat '%s': %s", path, strerror(errno));
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 4) {
        rc = kb_error_set(err, KB_EFORMAT, "cannot open '%s': not a GGUF file", path);
        goto out_close_fd;
    }
    if (atomic_load(&load_copy)) {
        if ((rc = read_whole(fd, (size_t)st.st_size, path, &map, err)))
            goto out_close_fd;
    } else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        rc = kb_error_set(err, KB_EIO, "cannot map '%s': %s", path, strerror(errno));
        goto out_close_fd;
    }
    struct gguf_file *f = kb_xcalloc(1, sizeof(*f));
    f->base = map;
    f->file_bytes = (size_t)st.st_size;
    f->mapped = true;
    rc = open_common(out, f, err);
    if (rc)
        kb_error_prefix(err, "'%s'", path);
out_close_fd:
    close(fd);
    return rc;
}

void gguf_close(struct gguf_file *f)
{
    if (!f)
        return;
    if (f->str_idx)
        for (int i = 0; i < f->n_kv; i++)
            free(f->str_idx[i]);
    free(f->str_idx);
    free(f->kvs);
    kb_idtab_release(&f->kv_ids);
    free(f->tensors);
    kb_idtab_release(&f->t_ids);
    kb_arena_release(&f->arena);
    if (f->mapped)
        munmap((void *)f->base, f->file_bytes);
    free(f);
}

/* ---- accessors ------------------------------------------------------------------------------------ */

uint32_t gguf_version(const struct gguf_file *f)
{
    return f->version;
}

size_t gguf_alignment(const struct gguf_file *f)
{
    return f->alignment;
}

size_t gguf_file_bytes(const struct gguf_file *f)
{
    return f->file_bytes;
}

size_t gguf_data_offset(const struct gguf_file *f)
{
    return f->data_offset;
}

int gguf_n_kv(const struct gguf_file *f)
{
    return f->n_kv;
}

const struct gguf_kv *gguf_kv_at(const struct gguf_file *f, int i)
{
    return i >= 0 && i < f->n_kv ? &f->kvs[i] : NULL;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *f, const char *key)
{
    int i = name_find(&f->kv_ids, kv_name_eq, f, key);
    return i >= 0 ? &f->kvs[i] : NULL;
}

/* Reads a scalar integer value as signed 128-ish: returns false for non-integers. */
static bool kv_int(const struct gguf_kv *kv, bool *neg, uint64_t *mag)
{
    const uint8_t *p = kv->data;
    int64_t s;
    *neg = false;
    switch (kv->type) {
    case GGUF_VT_U8: case GGUF_VT_BOOL: *mag = p[0]; return kv->type == GGUF_VT_U8;
    case GGUF_VT_U16: *mag = (uint64_t)p[0] | (uint64_t)p[1] << 8; return true;
    case GGUF_VT_U32: *mag = rd_u32(p); return true;
    case GGUF_VT_U64: *mag = rd_u64(p); return true;
    case GGUF_VT_I8: s = (int8_t)p[0]; break;
    case GGUF_VT_I16: s = (int16_t)(uint16_t)((uint16_t)p[0] | (uint16_t)p[1] << 8); break;
    case GGUF_VT_I32: s = (int32_t)rd_u32(p); break;
    case GGUF_VT_I64: s = (int64_t)rd_u64(p); break;
    default: return false;
    }
    *neg = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

bool gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    bool neg;
    uint64_t mag;
    if (!kv || !kv_int(kv, &neg, &mag) || neg || mag > UINT32_MAX)
        return false;
    *out = (uint32_t)mag;
    return true;
}

bool gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    bool neg;
    uint64_t mag;
    if (!kv || !kv_int(kv, &neg, &mag))
        return false;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return false;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)mag;
    }
    return true;
}

bool gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv)
        return false;
    if (kv->type == GGUF_VT_F32) {
        uint32_t u = rd_u32(kv->data);
        memcpy(out, &u, 4);
        return true;
    }
    if (kv->type == GGUF_VT_F64) {
        uint64_t u = rd_u64(kv->data);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
        return true;
    }
    return false;
}

bool gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_BOOL)
        return false;
    *out = kv->data[0] != 0;
    return true;
}

bool gguf_get_str(const struct gguf_file *f, const char *key, const char **s, size_t *n)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_STRING)
        return false;
    *n = (size_t)rd_u64(kv->data);
    *s = (const char *)kv->data + 8;
    return true;
}

bool gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_vtype *type, uint64_t *n,
                  const void **data)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY)
        return false;
    *type = kv->arr_type;
    *n = kv->n;
    *data = kv->data;
    return true;
}

bool gguf_arr_str(const struct gguf_file *f, const char *key, uint64_t i, const char **s, size_t *n)
{
    const struct gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING || i >= kv->n)
        return false;
    const uint8_t *p = f->str_idx[kv - f->kvs][i];
    *n = (size_t)rd_u64(p);
    *s = (const char *)p + 8;
    return true;
}

int gguf_n_tensors(const struct gguf_file *f)
{
    return f->n_tensors;
}

const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, int i)
{
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
    int i = name_find(&f->t_ids, t_name_eq, f, name);
    return i >= 0 ? &f->tensors[i] : NULL;
}
