/* index/vectors.c: the FAISS glue (the only file that includes FAISS): an in-memory vector cache whose
 * ids are chunk row ids, and its sidecar file `vectors.faiss` beside kbox.db.
 *
 * Data flow: store.c adds the vectors of committed chunks (vec_add), removes deleted ones
 * (vec_remove), searches (vec_search), and saves/loads the sidecar. SQLite is the source of truth;
 * this cache can always be rebuilt from the embeddings table.
 *
 * Index kinds (faiss_index_factory, METRIC_INNER_PRODUCT, vectors are L2-normalised so scores are
 * cosines): "IDMap2,Flat" (exact; the default), and above index.ann_threshold either
 * "IVF<sqrt n>,Flat" (index.ann=ivf: nprobe 24, ids kept natively, trained by store.c on a sample of
 * vec_train_size points) or "IDMap2,HNSW32" (index.ann=hnsw: better recall, slow to build without a
 * SIMD FAISS; efSearch 128). HNSW cannot remove vectors, so there removals become tombstones that
 * search skips (over-fetching by their count) until store.c rebuilds.
 * Speed notes for Debian's FAISS 1.7.3 (generic build, scalar loops): searches run single-threaded
 * (an OpenMP team per one-vector query costs more than it saves on 2 cores) and through FAISS's BLAS
 * path (OpenBLAS is SIMD), see vec_tune().
 *
 * Invariants: `ids` holds the live ids sorted ascending (= FAISS ids minus tombstones); not thread-safe,
 * store.c's mutex guards every call. FAISS errors are copied from faiss_get_last_error() at once.
 *
 * Sidecar layout (little-endian):
 *   0   char[8]  magic "KBOXVEC1"
 *   8   u32      format version (2)
 *   12  u32      dim
 *   16  u64      count: live vectors
 *   24  u64      payload_bytes
 *   32  u32      kind (0 flat, 1 hnsw, 2 ivf)
 *   36  u32      reserved (0)
 *   40  char[64] embedder id, NUL padded
 *   104 u8[32]   SHA-256 of the sorted ids as LE int64
 *   136 u64      payload checksum (vec_payload_hash: 4-lane multiply-xorshift over LE u64 words;
 *                SHA-256 of 200 MB took a second), then 24 zero bytes
 *   168 payload: faiss_write_index() bytes
 * It is written to path.tmp, fsync'd and renamed, so a crash leaves the old file or the new one; a
 * file that disagrees with SQLite (a crash after a commit but before a save) is rebuilt by store.c.
 * Tests: tests/index/test_vectors.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include "index/index_int.h"

/* OpenMP is FAISS's runtime (linked through kb_faiss). One query at a time gains nothing from a
 * thread team, and on a 2-core box the team's spin-waiting costs more than the scan itself, so the
 * searching thread runs FAISS single-threaded. Declared here rather than through <omp.h>, which not
 * every compiler ships. */
extern void omp_set_num_threads(int n);
extern int omp_get_num_procs(void);

#define VEC_MAGIC "KBOXVEC1"
#define VEC_VERSION 2u
#define VEC_HEADER_BYTES 168
#define VEC_EMBEDDER_ID_BYTES 64
#define VEC_HNSW_M "IDMap2,HNSW32"
#define VEC_HNSW_EF_SEARCH 128
#define VEC_BLAS_DB_BLOCK 16384
/* Lists an IVF search visits: VEC_IVF_NPROBE (index_int.h). At 100k 512-d vectors (316 lists) each
 * probe costs about 0.2 ms (Debian's FAISS scans lists with scalar loops); bench_index_hnsw recall@10
 * against exact was .21 at 16, .29 at 24, .35 at 32, and bench_index's hybrid p50 5.9, 7.4-8.2, 9.0
 * ms: 24 keeps it under 10 ms. */
/* IVF training sample, in points. FAISS's k-means warns below 39 points per list; at 100k 512-d
 * synthetic vectors (bench_index_hnsw, nprobe 16) recall@10 was .183 with 39 per list, .204 with 64,
 * .222 with 253 (training 1.1, 1.9 and 6.2 s). The cap bounds k-means time and memory (512 MB of
 * 512-d floats). */
#define VEC_IVF_TRAIN_PER_LIST 64
#define VEC_IVF_TRAIN_MIN 20000
#define VEC_IVF_TRAIN_MAX 262144

struct vec_index {
    FaissIndex *index;   /* IDMap2 over Flat or HNSW; owned */
    int dim;
    enum vec_kind kind;
    char embedder_id[VEC_EMBEDDER_ID_BYTES];
    int64_t *ids;        /* sorted live ids; owned */
    int64_t n_ids, cap_ids;
    int64_t *tomb;       /* sorted tombstoned ids (HNSW only); owned */
    int64_t n_tomb, cap_tomb;
    bool dirty;
};

static int vec_faiss_err(struct kb_error *err, const char *what)
{
    const char *m = faiss_get_last_error();
    return kb_error_set(err, KB_EINTERNAL, "faiss %s failed: %s", what, m ? m : "unknown error");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool vec_sorted_has(const int64_t *a, int64_t n, int64_t id)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == id;
}

void vec_ids_digest(const int64_t *ids, int64_t n, uint8_t out[32])
{
    struct kb_sha256 s;
    kb_sha256_init(&s);
    for (int64_t i = 0; i < n; i++) {
        uint8_t le[8];
        uint64_t u = (uint64_t)ids[i];
        for (int b = 0; b < 8; b++)
            le[b] = (uint8_t)(u >> (8 * b));
        kb_sha256_update(&s, le, 8);
    }
    kb_sha256_final(&s, out);
}

/* A fast non-cryptographic checksum of the payload: detects torn or corrupted files, not attacks. */
static uint64_t vec_payload_hash(const uint8_t *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h[4] = {k, k ^ 1, k ^ 2, k ^ 3}, r;
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++) {
            uint64_t w;
            memcpy(&w, p + i + 8 * l, 8); /* little-endian hosts only (x86-64, arm64) */
            h[l] = (h[l] ^ w) * 0xff51afd7ed558ccdull;
            h[l] ^= h[l] >> 32;
        }
    r = (uint64_t)n * k;
    for (int l = 0; l < 4; l++)
        r = (r ^ h[l]) * 0xc4ceb9fe1a85ec53ull, r ^= r >> 29;
    r = kb_fnv1a64(r, p + i, n - i); /* the tail bytes */
    return r ^ (r >> 31);
}

static void vec_tune(struct vec_index *v)
{
    FaissParameterSpace *ps = NULL;
    /* FAISS's own scan loop is scalar in Debian's generic build and starts an OpenMP team per query;
     * its BLAS path (OpenBLAS sgemm, SIMD) is several times faster even for one query. These are
     * FAISS-wide settings, idempotent, and kbox is the only FAISS user in the process. */
    faiss_set_distance_compute_blas_threshold(1);
    faiss_set_distance_compute_blas_database_bs(VEC_BLAS_DB_BLOCK);
    if (v->kind == VEC_IVF) {
        vec_set_nprobe(v, VEC_IVF_NPROBE);
        return;
    }
    if (v->kind != VEC_HNSW || faiss_ParameterSpace_new(&ps) != 0)
        return;
    if (faiss_ParameterSpace_set_index_parameter(ps, v->index, "efSearch", VEC_HNSW_EF_SEARCH) != 0)
        kb_warn("vectors: cannot set efSearch: %s", faiss_get_last_error());
    faiss_ParameterSpace_free(ps);
}

/* Inverted lists for n vectors: about sqrt(n) (k-means training cost grows with lists x sample, and
 * Debian's FAISS has no SIMD), and at least 39 training points per list. */
static int vec_ivf_nlist(int64_t n)
{
    int64_t k = (int64_t)sqrt((double)n);
    k = KB_MIN(k, n / 39);
    return (int)KB_MAX(1, KB_MIN(k, 65536));
}

int64_t vec_train_size(const struct vec_index *v, int64_t n)
{
    FaissIndexIVF *ivf = v->kind == VEC_IVF ? faiss_IndexIVF_cast(v->index) : NULL;
    int64_t want;
    if (!ivf || faiss_Index_is_trained(v->index))
        return 0;
    want = KB_MAX(VEC_IVF_TRAIN_MIN, VEC_IVF_TRAIN_PER_LIST * (int64_t)faiss_IndexIVF_nlist(ivf));
    return KB_MIN(KB_MIN(want, VEC_IVF_TRAIN_MAX), n);
}

void vec_set_nprobe(struct vec_index *v, int nprobe)
{
    FaissIndexIVF *ivf = v->kind == VEC_IVF ? faiss_IndexIVF_cast(v->index) : NULL;
    if (ivf)
        faiss_IndexIVF_set_nprobe(ivf, (size_t)KB_MAX(1, KB_MIN(nprobe, (int)faiss_IndexIVF_nlist(ivf))));
}

int vec_new(struct vec_index **out, int dim, const char *embedder_id, enum vec_kind kind, int64_t n_expected,
            struct kb_error *err)
{
    struct vec_index *v;
    char desc[64];
    *out = NULL;
    if (dim <= 0 || dim > 65536)
        return kb_error_set(err, KB_EINVAL, "vector dimension %d out of range", dim);
    v = kb_xcalloc(1, sizeof(*v));
    v->dim = dim;
    v->kind = kind;
    kb_strlcpy(v->embedder_id, embedder_id ? embedder_id : "", sizeof(v->embedder_id));
    if (kind == VEC_IVF)
        snprintf(desc, sizeof(desc), "IVF%d,Flat", vec_ivf_nlist(n_expected));
    else
        kb_strlcpy(desc, kind == VEC_HNSW ? VEC_HNSW_M : "IDMap2,Flat", sizeof(desc));
    if (faiss_index_factory(&v->index, dim, desc, METRIC_INNER_PRODUCT) != 0) {
        int rc = vec_faiss_err(err, "index_factory");
        free(v);
        return rc;
    }
    vec_tune(v);
    *out = v;
    return 0;
}

void vec_free(struct vec_index *v)
{
    if (!v)
        return;
    if (v->index)
        faiss_Index_free(v->index);
    free(v->ids);
    free(v->tomb);
    free(v);
}

static void vec_ids_reserve(int64_t **a, int64_t *cap, int64_t need)
{
    if (need <= *cap)
        return;
    int64_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    *a = kb_xrealloc(*a, (size_t)c * sizeof(int64_t));
    *cap = c;
}

int vec_add(struct vec_index *v, const int64_t *ids, const float *x, int64_t n, struct kb_error *err)
{
    bool sorted = true;
    if (n <= 0)
        return 0;
    /* HNSW insertion of a large batch (a rebuild) parallelises well; anything else runs on this thread */
    omp_set_num_threads(v->kind == VEC_HNSW && n >= 1000 ? omp_get_num_procs() : 1);
    if (faiss_Index_add_with_ids(v->index, n, x, ids) != 0)
        return vec_faiss_err(err, "add_with_ids");
    vec_ids_reserve(&v->ids, &v->cap_ids, v->n_ids + n);
    for (int64_t i = 0; i < n; i++) {
        if (v->n_ids > 0 && ids[i] <= v->ids[v->n_ids - 1])
            sorted = false;
        v->ids[v->n_ids++] = ids[i];
    }
    if (!sorted)
        qsort(v->ids, (size_t)v->n_ids, sizeof(int64_t), cmp_i64);
    v->dirty = true;
    return 0;
}

bool vec_needs_training(const struct vec_index *v)
{
    return !faiss_Index_is_trained(v->index);
}

int vec_train(struct vec_index *v, const float *x, int64_t n, struct kb_error *err)
{
    omp_set_num_threads(omp_get_num_procs());
    if (faiss_Index_train(v->index, n, x) != 0)
        return vec_faiss_err(err, "train");
    return 0;
}

int vec_remove(struct vec_index *v, const int64_t *ids, int64_t n, struct kb_error *err)
{
    int64_t *del;
    int64_t n_del = 0, w = 0;
    int rc = 0;
    if (n <= 0)
        return 0;
    /* keep only ids that are live */
    del = kb_xmalloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        if (vec_sorted_has(v->ids, v->n_ids, ids[i]))
            del[n_del++] = ids[i];
    if (n_del == 0)
        goto out_free;
    qsort(del, (size_t)n_del, sizeof(int64_t), cmp_i64);
    if (v->kind != VEC_HNSW) {
        FaissIDSelectorBatch *sel = NULL;
        size_t n_removed = 0;
        if (faiss_IDSelectorBatch_new(&sel, (size_t)n_del, del) != 0) {
            rc = vec_faiss_err(err, "IDSelectorBatch");
            goto out_free;
        }
        if (faiss_Index_remove_ids(v->index, (const FaissIDSelector *)sel, &n_removed) != 0)
            rc = vec_faiss_err(err, "remove_ids");
        faiss_IDSelector_free((FaissIDSelector *)sel);
        if (rc)
            goto out_free;
    } else {
        vec_ids_reserve(&v->tomb, &v->cap_tomb, v->n_tomb + n_del);
        memcpy(v->tomb + v->n_tomb, del, (size_t)n_del * sizeof(int64_t));
        v->n_tomb += n_del;
        qsort(v->tomb, (size_t)v->n_tomb, sizeof(int64_t), cmp_i64);
    }
    for (int64_t i = 0; i < v->n_ids; i++)
        if (!vec_sorted_has(del, n_del, v->ids[i]))
            v->ids[w++] = v->ids[i];
    v->n_ids = w;
    v->dirty = true;
out_free:
    free(del);
    return rc;
}

int vec_search(struct vec_index *v, const float *q, int k, int64_t *ids, float *scores, int *n_out,
               struct kb_error *err)
{
    int64_t total = faiss_Index_ntotal(v->index);
    int64_t kk = (int64_t)k + v->n_tomb;
    idx_t *labels;
    float *dist;
    int n = 0, rc = 0;
    *n_out = 0;
    if (k <= 0 || total == 0)
        return 0;
    if (kk > total)
        kk = total;
    omp_set_num_threads(1);
    labels = kb_xmalloc((size_t)kk * sizeof(idx_t));
    dist = kb_xmalloc((size_t)kk * sizeof(float));
    if (faiss_Index_search(v->index, 1, q, kk, dist, labels) != 0) {
        rc = vec_faiss_err(err, "search");
        goto out_free;
    }
    for (int64_t i = 0; i < kk && n < k; i++) {
        if (labels[i] < 0 || (v->n_tomb && vec_sorted_has(v->tomb, v->n_tomb, labels[i])))
            continue;
        ids[n] = labels[i];
        scores[n] = dist[i];
        n++;
    }
    *n_out = n;
out_free:
    free(labels);
    free(dist);
    return rc;
}

int64_t vec_count(const struct vec_index *v) { return v->n_ids; }
int64_t vec_n_tombstones(const struct vec_index *v) { return v->n_tomb; }
const int64_t *vec_ids(const struct vec_index *v) { return v->ids; }
enum vec_kind vec_get_kind(const struct vec_index *v) { return v->kind; }
bool vec_dirty(const struct vec_index *v) { return v->dirty; }

static void put_u32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    uint32_t x = 0;
    for (int i = 3; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

int vec_save(struct vec_index *v, const char *path, struct kb_error *err)
{
    char tmp[4200];
    char *payload = NULL;
    size_t payload_bytes = 0;
    uint8_t hdr[VEC_HEADER_BYTES];
    FILE *mem = NULL, *f = NULL;
    int rc = 0;

    if (v->n_tomb > 0)
        return kb_error_set(err, KB_EINVAL, "vector cache has deleted entries; rebuild before saving");
    mem = open_memstream(&payload, &payload_bytes);
    if (!mem)
        return kb_error_set(err, KB_ENOMEM, "cannot buffer the vector index");
    if (faiss_write_index(v->index, mem) != 0) {
        rc = vec_faiss_err(err, "write_index");
        fclose(mem);
        goto out_free;
    }
    if (fclose(mem) != 0) {
        rc = kb_error_set(err, KB_ENOMEM, "cannot buffer the vector index");
        goto out_free;
    }
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, VEC_MAGIC, 8);
    put_u32(hdr + 8, VEC_VERSION);
    put_u32(hdr + 12, (uint32_t)v->dim);
    put_u64(hdr + 16, (uint64_t)v->n_ids);
    put_u64(hdr + 24, (uint64_t)payload_bytes);
    put_u32(hdr + 32, (uint32_t)v->kind);
    kb_strlcpy((char *)hdr + 40, v->embedder_id, VEC_EMBEDDER_ID_BYTES);
    vec_ids_digest(v->ids, v->n_ids, hdr + 104);
    put_u64(hdr + 136, vec_payload_hash((const uint8_t *)payload, payload_bytes));

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", tmp, strerror(errno));
        goto out_free;
    }
    if (fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || fwrite(payload, 1, payload_bytes, f) != payload_bytes ||
        fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        goto out_free;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot replace '%s': %s", path, strerror(errno));
        unlink(tmp);
        goto out_free;
    }
    v->dirty = false;
out_free:
    free(payload);
    return rc;
}

static int vec_read_file(const char *path, uint8_t **data, size_t *n, struct kb_error *err)
{
    FILE *f = fopen(path, "rb");
    long len;
    int rc = 0;
    *data = NULL;
    *n = 0;
    if (!f)
        return kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", path,
                            strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot read '%s'", path);
        goto out_close;
    }
    *data = kb_try_malloc((size_t)len + 1, 1);
    if (!*data) {
        rc = kb_error_set(err, KB_ENOMEM, "'%s' is too large to load (%ld bytes)", path, len);
        goto out_close;
    }
    if (fread(*data, 1, (size_t)len, f) != (size_t)len) {
        rc = kb_error_set(err, KB_EIO, "cannot read '%s'", path);
        free(*data);
        *data = NULL;
        goto out_close;
    }
    *n = (size_t)len;
out_close:
    fclose(f);
    return rc;
}

int vec_load(struct vec_index **out, const char *path, int dim, const char *embedder_id,
             const int64_t *expect_ids, int64_t n_expect, struct kb_error *err)
{
    uint8_t *data = NULL, digest[32];
    size_t n = 0;
    uint64_t count, payload_bytes;
    uint32_t kind;
    char hdr_emb[VEC_EMBEDDER_ID_BYTES];
    struct vec_index *v = NULL;
    FILE *mem = NULL;
    idx_t *map = NULL;
    size_t map_n = 0;
    FaissIndexIDMap2 *m2;
    int rc;

    *out = NULL;
    rc = vec_read_file(path, &data, &n, err);
    if (rc)
        return rc;
    if (n < VEC_HEADER_BYTES || memcmp(data, VEC_MAGIC, 8) != 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' is not a kbox vector file", path);
        goto out_free;
    }
    count = get_u64(data + 16);
    payload_bytes = get_u64(data + 24);
    kind = get_u32(data + 32);
    memcpy(hdr_emb, data + 40, sizeof(hdr_emb));
    hdr_emb[sizeof(hdr_emb) - 1] = '\0';
    if (get_u32(data + 8) != VEC_VERSION) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': format version %u, expected %u", path, get_u32(data + 8),
                          VEC_VERSION);
        goto out_free;
    }
    if (strcmp(hdr_emb, embedder_id) != 0 || get_u32(data + 12) != (uint32_t)dim) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' holds vectors of embedder '%s' (dim %u), not '%s' (dim %d)", path,
                          hdr_emb, get_u32(data + 12), embedder_id, dim);
        goto out_free;
    }
    if (payload_bytes != n - VEC_HEADER_BYTES || kind > VEC_IVF) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' is truncated or has a bad header", path);
        goto out_free;
    }
    if (count != (uint64_t)n_expect) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' holds %llu vectors, the database %lld", path,
                          (unsigned long long)count, (long long)n_expect);
        goto out_free;
    }
    vec_ids_digest(expect_ids, n_expect, digest);
    if (memcmp(digest, data + 104, 32) != 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' holds other chunk ids than the database", path);
        goto out_free;
    }
    if (vec_payload_hash(data + VEC_HEADER_BYTES, (size_t)payload_bytes) != get_u64(data + 136)) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': payload checksum mismatch", path);
        goto out_free;
    }
    v = kb_xcalloc(1, sizeof(*v));
    v->dim = dim;
    v->kind = (enum vec_kind)kind;
    kb_strlcpy(v->embedder_id, embedder_id, sizeof(v->embedder_id));
    mem = fmemopen(data + VEC_HEADER_BYTES, (size_t)payload_bytes, "rb");
    if (!mem) {
        rc = kb_error_set(err, KB_ENOMEM, "cannot map '%s'", path);
        goto out_free;
    }
    if (faiss_read_index(mem, 0, &v->index) != 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': %s", path, faiss_get_last_error());
        goto out_free;
    }
    m2 = faiss_IndexIDMap2_cast(v->index);
    if ((kind == VEC_IVF) != (m2 == NULL) || faiss_Index_d(v->index) != dim ||
        faiss_Index_ntotal(v->index) != (idx_t)count) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': index shape does not match its header", path);
        goto out_free;
    }
    if (!m2) {
        /* IVF keeps ids in its lists; the header digest and payload checksum vouch for them */
        vec_ids_reserve(&v->ids, &v->cap_ids, (int64_t)count + 1);
        if (count)
            memcpy(v->ids, expect_ids, (size_t)count * sizeof(int64_t));
        v->n_ids = (int64_t)count;
        vec_tune(v);
        *out = v;
        v = NULL;
        goto out_free;
    }
    faiss_IndexIDMap2_id_map(m2, &map, &map_n);
    if (map_n != count) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': id map does not match its header", path);
        goto out_free;
    }
    vec_ids_reserve(&v->ids, &v->cap_ids, (int64_t)count + 1);
    for (size_t i = 0; i < map_n; i++)
        v->ids[i] = map[i];
    v->n_ids = (int64_t)count;
    qsort(v->ids, (size_t)v->n_ids, sizeof(int64_t), cmp_i64);
    if (v->n_ids && memcmp(v->ids, expect_ids, (size_t)v->n_ids * sizeof(int64_t)) != 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': id map differs from the database", path);
        goto out_free;
    }
    vec_tune(v);
    *out = v;
    v = NULL;
out_free:
    if (mem)
        fclose(mem);
    vec_free(v);
    free(data);
    return rc;
}
