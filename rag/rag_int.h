/* rag/rag_int.h: shared between rag/'s files. Not for other modules. */
#ifndef KB_RAG_RAG_INT_H
#define KB_RAG_RAG_INT_H

#include "rag/rag.h"
#include "text/text.h"

/* A retrieved passage handed to an answerer, best first. All strings borrowed. */
struct rag_passage {
    int64_t chunk_id;
    int64_t document_id;
    const char *document;     /* file name */
    const char *heading_path;
    const char *context;      /* the document context (the title, index_chunk_context), NULL or "" */
    const char *text;
    int page;                 /* first page, 0 when none */
    int page_end;             /* last page, 0 when none */
    const char *page_map;     /* page changes inside text (index_page_at), NULL or "" when none */
    double score;             /* fused retrieval score */
};

/* Embeds n texts into out[n*dim], L2-normalised. */
struct rag_embedder_ref {
    int (*embed)(void *ud, const char *const *texts, int n, float *out, struct kb_error *err);
    void *ud;
    int dim;
};

/* ---- text helpers (text.c) ----------------------------------------------------------------------- */

/* Sentences are text/'s: text_split_sentences (text/text.h). */

/* The terms of a text that count for answer scoring (see rag/text.c): text_query_terms without stop
 * words, one-letter words and CJK pairs that name no topic; folded tokens, in order. */
struct rag_terms {
    struct text_terms all;                  /* every term of the text; term[] points into it */
    const char *term[TEXT_MAX_TERMS];       /* borrowed from all; valid while the struct is */
    bool cjk[TEXT_MAX_TERMS];               /* term[i] is a CJK character or pair */
    int n;
};
void rag_terms_extract(const char *text, size_t n, struct rag_terms *out);
/* True when s[0..n) holds term (a folded word, allowing a plain English inflection; a CJK character
 * or pair; or two words "a b" as consecutive tokens). */
bool rag_text_has_term(const char *s, size_t n, const char *term);
bool rag_text_is_cjk_heavy(const char *s, size_t n); /* mostly CJK characters */
struct text_dict;
/* Copies the question q[0..n) into out (at most out_bytes - 1 bytes, cut at a character boundary,
 * NUL-terminated) with its question words blanked out (spaces): Chinese interrogative and modal
 * words of its segmentation by dict (nullable: any listed one) and, with how_words, English "how
 * long/often/...". Terms taken from the copy are what the question is about. Returns its bytes. */
size_t rag_question_mask(const char *q, size_t n, const struct text_dict *dict, bool how_words, char *out,
                         size_t out_bytes);
/* The stem of a folded word w[0..n) into out (NUL-terminated, at most out_bytes - 1 bytes): plain
 * English suffixes stripped (-ing -ed -es -s -er -ies), a doubled final consonant and a final e
 * dropped, so that shipping, shipped and ship, or placing and place, share one. Returns its bytes. */
size_t rag_text_stem(const char *w, size_t n, char *out, size_t out_bytes);

/* ---- citations (render.c) ------------------------------------------------------------------------ */

/* Gives citation c the pages of the cited text p->text[start, end) (a chunk may span pages; its
 * page_map says where each starts): fresh sets them, else the range widens to take them in. No
 * change when the passage has no page map (it sits on one page, or was stored before maps existed). */
void rag_citation_pages(struct rag_citation *c, const struct rag_passage *p, size_t start, size_t end, bool fresh);

/* ---- answers (answer.c) -------------------------------------------------------------------------- */

struct index_term_stats; /* index/index.h: IDF of a term over the knowledge base */
struct index_store;

/* Picks the sentences of the passages that best answer the question, by term overlap, vector
 * similarity (when emb is non-NULL) and proximity, and composes at most cfg->answer_max_sentences
 * of them with [n] citations; below cfg->answer_min_confidence it answers cfg->answer_fallback.
 * A stored question with its curated answer at the top that matches answers as written (mode
 * "faq"). stats (nullable) weighs question terms by the knowledge base's IDF; without it, by their
 * rarity among the passages. */
int rag_answer_extractive(const struct config *cfg, const char *question, const struct rag_passage *p,
                          int n_passages, const struct rag_embedder_ref *emb, const struct index_term_stats *stats,
                          struct rag_answer *out, struct kb_error *err);
/* How well the user's question matches a stored question stored[0..stored_n), in [0, 1]: 0.6 x
 * the F2 (recall-weighted) of their IDF-weighted term overlap (words by stem, CJK by character)
 * + 0.4 x the embedder's cosine of the two (emb nullable: the overlap alone); 0 when both name
 * codes (words with a digit) and the user names one the stored question lacks (error E7 is not
 * error E4). The stored answer plays no part. */
double rag_answer_question_match(const char *question, const char *stored, size_t stored_n,
                                 const struct rag_passage *p, int n_passages, const struct rag_embedder_ref *emb,
                                 const struct index_term_stats *stats, struct kb_error *err);
/* True when the top passage is a stored question with its curated answer (a FAQ pair) whose
 * question matches the user's by answer.faq_min_match: rag_answer_extractive then answers with it,
 * which is how the generative path answers curated pairs too (no generation around them). */
bool rag_answer_is_curated(const struct config *cfg, const char *question, const struct rag_passage *p,
                           int n_passages, const struct rag_embedder_ref *emb, const struct index_term_stats *stats);
/* The fragment of the sentence s[0..n) that holds the answer (rag/span.c): its offset in *off and
 * its bytes returned; the whole sentence when none stands out. w[t] weighs qt's term t (NULL: 1). */
size_t rag_answer_span(const char *s, size_t n, const struct rag_terms *qt, const double *w, bool wants_number,
                       size_t *off);
/* Term statistics reading the store's document frequencies (index_idf); st borrowed; no dictionary. */
void rag_store_term_stats(struct index_store *st, struct index_term_stats *out);
struct rag;
/* The word list questions are segmented with (index.segment_dict), read at the first call that
 * names it and kept until rag_close; NULL when the setting is empty or the file unreadable (logged
 * once). Borrowed. */
const struct text_dict *rag_question_dict(struct rag *r, const struct config *cfg);

/* ---- the knowledge base (kb.c, jobs.c) ----------------------------------------------------------- */

#include <pthread.h>

#include "index/index.h"
#include "ingest/ingest.h"

#define RAG_MAX_JOBS 4096     /* remembered jobs (ring); older ones report "done" from the doc */
#define RAG_MAX_CONVERSATIONS 256

struct rag_job_slot {
    int64_t id;            /* 0 when free */
    int64_t document_id;
    int64_t collection_id;
    char kind[16];         /* "ingest" or "reembed" */
    char state[16];        /* queued running done failed */
    char error[256];
    int64_t n_done, n_total; /* reembed: chunks embedded so far / all chunks */
    char *spool_path;      /* file to ingest (owned), removed after success */
    char *name;            /* display name (owned) */
};

struct rag_turn {
    char id[64];           /* conversation id, "" when free */
    char question[512];    /* last question */
    char terms[512];       /* its key terms, space separated */
    int64_t used_at;
};

struct rag_gen;        /* generate.c: the answer model and its sessions */
struct rag_gen_ref;    /* kb.c: a loaded answer model with the count of answers using it */
struct infer_embedder; /* infer/: a GGUF embedding model (embed.model) */

#define RAG_MAX_GGUF_EMBEDDERS 6 /* GGUF embedders opened in one run (with the built-in and the
                                  * remote one, the store's INDEX_MAX_PREV_EMBEDDERS) */

/* A GGUF embedding model behind the index's embedder interface. Opened on demand (embed.model)
 * and kept until rag_close(): the store, queries and a re-embedding may still use an embedder
 * after embed.model moved on, so none is freed early. */
struct rag_gguf_embedder {
    char *path;                 /* resolved file path; owned */
    struct infer_embedder *e;   /* owned */
    struct index_embedder iface; /* .ud = e */
};

/* One immutable configuration snapshot with its reference count (kb.c). */
struct rag_cfg_snap;

struct rag {
    struct rag_cfg_snap *cfg;        /* the current snapshot (owns one reference); read through
                                      * rag_config_get/put; guarded by cfg_lock */
    pthread_mutex_t cfg_lock;        /* guards cfg and every snapshot's reference count, nothing else */
    pthread_mutex_t settings_mu;     /* serialises setting changes (copy, change, save, swap) */
    struct index_store *st;          /* thread-safe */
    struct index_embedder *emb;      /* the configured embedder: builtin or a gguf[].iface; guarded by lock */
    struct index_embedder *builtin;  /* the built-in embedder (owned); always open, so the vectors of a
                                      * knowledge base built without embed.model stay searchable */
    struct rag_remote_embedder *remote_emb; /* embed.backend = openai (owned), else NULL; set at open */
    struct rag_gguf_embedder gguf[RAG_MAX_GGUF_EMBEDDERS]; /* guarded by switch_mu */
    int n_gguf;
    pthread_mutex_t switch_mu;       /* serialises answer.model / embed.model changes */
    pthread_t reembed_thread;        /* the re-embedding job's thread, when reembed_started */
    bool reembed_started;            /* reembed_thread exists (joined at the next start or stop) */
    bool reembed_running;            /* it is still looping; guarded by lock */
    int64_t reembed_job_id;          /* its job slot */
    pthread_mutex_t lock;            /* guards jobs, conversations */
    pthread_cond_t job_cv;           /* signalled when a job is queued or on shutdown */
    struct rag_job_slot *jobs;       /* RAG_MAX_JOBS ring */
    int64_t next_job_id;
    bool stopping;
    pthread_t *workers;
    int n_workers;
    struct rag_turn turns[RAG_MAX_CONVERSATIONS];
    char settings_path[4200];        /* data_dir/settings.json */
    double last_tokens_per_s;
    struct rag_gen *gen;             /* answer model, or NULL for extractive answers (= gen_ref->g) */
    struct rag_gen_ref *gen_ref;     /* gen with the count of answers using it; guarded by lock (kb.c) */
    struct text_dict *dict;          /* question segmentation (rag_question_dict); owned; guarded by lock */
    char dict_path[4200];            /* the path dict was (or failed to be) read from; "" none tried */
    struct rag_notifier *notifier;   /* notify.c: handoff notifications' worker; started by the first
                                      * notification (under lock), stopped by rag_close */
    struct rag_log *log;             /* log.c: the conversation log's writer; started by the first
                                      * logged answer (under lock), stopped by rag_close */
};

/* Parses, chunks and stores one file as document doc (already created). Returns 0 or KB_E*. */
int rag_ingest_one(struct rag *r, int64_t doc_id, int64_t collection_id, const char *path, const char *name,
                   const char *key_path, int64_t *n_chunks, struct kb_error *err);
/* Logs an answer when opts->channel is set and cfg->log_enabled (log.c); fills a->message_id,
 * log_conversation_id and log_secret. A failure is logged as a warning: the answer stands. */
void rag_log_answer(struct rag *r, const struct config *cfg, const struct rag_ask_opts *opts, struct rag_answer *a);
/* Handoff notifications (notify.c): starts the worker when deliveries are pending (rag_open), and
 * stops it (rag_close, before the store closes). */
void rag_notify_resume(struct rag *r);
void rag_notify_close(struct rag *r);
/* Writes what the conversation log still holds and stops its writer (rag_close, before the store
 * closes). */
void rag_log_close(struct rag *r);
/* q folded to its clustering key (log.c): ASCII lower case, every run of punctuation and spaces one
 * space, trimmed, other characters kept; invalid UTF-8 bytes dropped; at most out_bytes - 1 bytes,
 * never a cut character. */
void rag_log_normalise(const char *q, char *out, size_t out_bytes);
int rag_jobs_start(struct rag *r, struct kb_error *err);
void rag_jobs_stop(struct rag *r);
/* Queues an ingestion job for a document; returns the job id. */
int64_t rag_jobs_queue(struct rag *r, int64_t doc_id, int64_t collection_id, const char *spool_path,
                       const char *name);
/* Wakes idle ingestion workers (a job was queued in PostgreSQL by this node). */
void rag_jobs_wake(struct rag *r);
const char *rag_mime_of(enum ingest_format f);
/* Starts the re-embedding job when the store has one pending and none runs (jobs.c). */
void rag_jobs_reembed(struct rag *r);
/* The file a model setting names: "" stays "", a value with a '/' is a path, a bare name is a file
 * in the models folder (<data.dir>/models). */
void rag_model_path(const struct config *cfg, const char *value, char *buf, size_t buf_bytes);

/* ---- curated answers (curated.c) ------------------------------------------------------------------ */

/* Rewrites the hidden documents that lag their curated entry and deletes those whose entry is gone
 * (rag_open calls it: a crash between an entry's write and its document's heals here). */
int rag_curated_sync(struct rag *r, struct kb_error *err);
/* True for the mime of a curated entry's hidden document (left out of document lists). */
bool rag_curated_is_doc(const char *mime);
/* After an answer: a "faq" answer citing a curated entry's document becomes mode "curated" with
 * curated_id/curated_version set, and the entry's use is counted. */
void rag_curated_mark(struct rag *r, struct rag_answer *out);
/* A table of text cells read from CSV or XLSX (import). */
struct rag_table_row {
    char **cell; /* n cells; owned */
    int n;
};
struct rag_table {
    struct rag_table_row *rows; /* n_rows; owned */
    int n_rows, cap;
};
/* Parses RFC 4180 CSV (UTF-8, optional BOM; "," separated, '"' quoted with "" escapes, LF or CRLF
 * rows; a blank line is an empty row) into t. KB_EINVAL "row N: ..." for an unclosed quote, text
 * after a closing quote, too many columns or a field over RAG_CURATED_ANSWER_MAX bytes; KB_ETOOBIG
 * past 100001 rows. Free with rag_table_free (also after an error). Fuzzed: fuzz/fuzz_curated_csv.c. */
int rag_curated_csv_parse(const char *s, size_t n, struct rag_table *t, struct kb_error *err);
void rag_table_free(struct rag_table *t);

/* ---- generative answers (generate.c) ------------------------------------------------------------ */

/* Opens cfg->answer_model (after checking it fits in memory) with answer.max_concurrent sessions. */
int rag_gen_open(struct rag_gen **out, const struct config *cfg, struct kb_error *err);
void rag_gen_close(struct rag_gen *g); /* NULL ok */
/* Answers from the passages with the model: grounded prompt, streaming, citations, grounding
 * scores, strict mode. previous (nullable) is the conversation's last question. A remote backend
 * whose stream breaks after pieces were passed on returns 0 with what came so far, out->incomplete
 * and out->error set; *backend_failed (nullable) is set true when the remote call failed before
 * any piece was passed on (the caller may answer otherwise), false for every other outcome. */
int rag_answer_generative(struct rag_gen *g, const struct config *cfg, const char *question, const char *previous,
                          const struct rag_passage *p, int n_passages, const struct rag_embedder_ref *emb,
                          rag_stream_fn on_stream, void *ud, struct rag_answer *out, char **prompt_out,
                          double *tokens_per_s, bool *backend_failed, struct kb_error *err);
/* Removes [n] markers outside 1..n_passages in place (and a space before them); marks used[n-1]
 * for the ones kept (used nullable, n_passages entries). Returns the markers kept. */
int rag_clean_markers(char *text, int n_passages, bool *used);
/* Counters of the answer sessions since rag_gen_open(). Prompt-prefix reuse: a session keeps its
 * last prompt and answer in its KV cache, and a new prompt that starts the same way (system
 * instruction and passages of a repeated question) evaluates only the tokens after the shared
 * prefix; speculative decoding (infer_gen_params.draft_max, left at its default) drafts tokens
 * from the prompt. */
struct rag_gen_stats {
    int64_t n_answers;        /* generative answers attempted */
    int64_t n_prompt_tokens;  /* their prompt tokens */
    int64_t n_reused_tokens;  /* of those, taken from a session's cache instead of evaluated */
    int64_t n_generated;      /* tokens generated */
    int64_t n_drafted, n_accepted; /* speculative tokens drafted, and accepted */
    int last_reused;          /* reused tokens of the latest answer */
    int last_prompt_tokens;   /* prompt tokens of the latest answer */
};
void rag_gen_get_stats(struct rag_gen *g, struct rag_gen_stats *out);
/* Prefix reuse on (the default) or off (every prompt from position 0; for tests and A/B runs). */
void rag_gen_set_prefix_reuse(struct rag_gen *g, bool on);
/* Rewrites a follow-up question into a standalone one with the answer model: a short prompt in
 * its chat template with the previous question, greedy, at most 48 tokens, one line (a remote
 * backend gets the same system and user messages, temperature 0, max_tokens 48). *out always
 * gets a caller-owned string (free()): the model's rewrite, or a copy of followup when the model
 * fails, every session is busy, or the rewrite is empty or too long. Returns 0 for the model's
 * rewrite, or the KB_E* code of the fallback's reason (err says why; callers may ignore it). */
int rag_gen_rewrite_followup(struct rag_gen *g, const char *previous, const char *followup, char **out,
                             struct kb_error *err);

/* ---- remote backends: the OpenAI-wire stream parser (remote_sse.c) ---------------------------- */

#define REMOTE_SSE_MAX_LINE (1 << 20) /* cap on one SSE line and on one event's data */

enum remote_piece { REMOTE_PIECE_CONTENT, REMOTE_PIECE_REASONING };
/* Called for each non-empty delta text (borrowed; valid during the call). Non-zero stops the parse
 * and is returned by remote_sse_feed. */
typedef int (*remote_piece_fn)(void *ud, enum remote_piece kind, const char *text, size_t n,
                               struct kb_error *err);
struct remote_usage {
    int64_t prompt_tokens;     /* usage.prompt_tokens of the stream's usage chunk */
    int64_t completion_tokens; /* usage.completion_tokens */
};
/* Parser state; fields after ud are read by the caller once the stream ends. */
struct remote_sse {
    struct kb_buf line;        /* the unfinished line */
    struct kb_buf data;        /* the current event's data lines */
    remote_piece_fn fn;        /* nullable */
    void *ud;                  /* borrowed; passed to fn */
    bool done;                 /* "data: [DONE]" seen */
    bool have_usage;           /* a usage object was seen */
    struct remote_usage usage;
    char finish_reason[32];    /* of choices[0], "" until one is sent */
    int n_events;              /* events parsed */
    int n_content, n_reasoning; /* delta pieces passed to fn */
};
void remote_sse_init(struct remote_sse *p, remote_piece_fn fn, void *ud);
void remote_sse_release(struct remote_sse *p);
/* Feeds n bytes of the response body. Errors: KB_EIO (the server sent an error object; err has its
 * message), KB_EJSON (an event is not JSON), KB_ECORRUPT (not an object, data after [DONE]),
 * KB_ETOOBIG (a line or event over REMOTE_SSE_MAX_LINE), or fn's code. */
int remote_sse_feed(struct remote_sse *p, const char *bytes, size_t n, struct kb_error *err);
/* The body ended: handles a last line without its newline; KB_EIO when neither [DONE] nor a
 * finish_reason arrived (the stream was cut). */
int remote_sse_finish(struct remote_sse *p, struct kb_error *err);

/* ---- remote backends: the chat client and its circuit breaker (remote.c) ---------------------- */

enum remote_breaker_state { REMOTE_BREAKER_CLOSED, REMOTE_BREAKER_OPEN, REMOTE_BREAKER_HALF_OPEN };
/* Shared by the calls to one backend; thread-safe. */
struct remote_breaker {
    pthread_mutex_t mu;
    int failures;                /* failed calls within window_s that open it */
    double window_s, cooldown_s;
    int n_fail;                  /* failures in the current window */
    double window_start, open_until; /* monotonic seconds */
    enum remote_breaker_state state;
    int64_t n_opened;            /* times it opened */
};
void remote_breaker_init(struct remote_breaker *b, int failures, double window_s, double cooldown_s);
void remote_breaker_release(struct remote_breaker *b);
bool remote_breaker_allow(struct remote_breaker *b); /* false while open (before the cool-down ends) */
void remote_breaker_record(struct remote_breaker *b, bool ok);
/* The state now: an open breaker whose cool-down has ended turns half-open here too, so callers
 * that ask before calling (rag_gen_backend_down) let the probe through. */
enum remote_breaker_state remote_breaker_state(struct remote_breaker *b);

/* Where and how to call; strings borrowed for the call (from a configuration snapshot). */
struct remote_opts {
    const char *url;       /* base URL: "http://gpu:8000" or "https://api.example.com/v1" */
    const char *api_key;   /* nullable; sent as a bearer token, never logged */
    const char *ca_file;   /* nullable */
    bool insecure;         /* no TLS verification */
    int connect_timeout_s; /* answer.connect_timeout_s */
    int timeout_s;         /* no byte for this long is a timeout */
    int retries;           /* before the first piece, on 429/502/503/504 and failed connects */
};
struct remote_result {
    struct remote_usage usage; /* from the stream's usage chunk */
    bool have_usage;
    double ttft_s;             /* request start of the last attempt to first piece; 0 without one */
    int n_pieces;              /* delta pieces passed on */
    int n_retries;             /* attempts retried */
    long status;               /* HTTP status of the last attempt; 0 when none arrived */
    bool incomplete;           /* failed after pieces were passed on */
    char finish_reason[32];
};
/* One configured remote server: owned copies of its address, model name and key, the call
 * options (timeouts, retries and TLS from the answer.* keys) and its own circuit breaker. */
struct remote_client {
    char *url, *model_name, *api_key, *ca_file; /* owned copies */
    struct remote_opts ro;                      /* points into the copies */
    struct remote_breaker breaker;
};
/* Fills c for the server of section ("answer" or "embed", which names the keys in errors): url and
 * model_name, the key from api_key or else the first line of api_key_file. Logs a warning when
 * answer.insecure is set. KB_ECONFIG: url empty, key file unreadable (c is then left empty). */
int remote_client_init(struct remote_client *c, const struct config *cfg, const char *section, const char *url,
                       const char *model_name, const char *api_key, const char *api_key_file, struct kb_error *err);
void remote_client_release(struct remote_client *c); /* wipes the key */
/* st->state ("up", "down", "probing") and st->breaker_opened from c's breaker. */
void remote_client_state(struct remote_client *c, struct rag_backend_stats *st);

/* base + "/v1/" + path, without doubling a "/v1" the base already ends with. */
void remote_endpoint(const char *base, const char *path, char *out, size_t out_bytes);
/* Streams one chat completion: body is the request JSON (with "stream": true), each delta goes to
 * fn as the parser gives it. b is nullable. Errors: KB_EBUSY (breaker open, or HTTP 5xx after
 * retries), KB_ERATE (429 after retries), KB_ETIMEOUT, KB_EAUTH (401/403), KB_EIO (connection,
 * stream cut, server error object; res->incomplete when pieces had been passed on), KB_EJSON,
 * or fn's code. err never contains the API key. */
int remote_chat(const struct remote_opts *o, struct remote_breaker *b, const char *body, remote_piece_fn fn,
                void *ud, struct remote_result *res, struct kb_error *err);

/* One non-streamed POST of body to <url>/v1/<path> (e.g. "embeddings"); the 2xx response body is
 * put in out (whose cap bounds it: KB_ETOOBIG past it). Same retries, timeouts, breaker and errors
 * as remote_chat. */
int remote_post_json(const struct remote_opts *o, struct remote_breaker *b, const char *path, const char *body,
                     struct kb_buf *out, struct remote_result *res, struct kb_error *err);

/* ---- remote backends: embeddings (remote_embed.c) ------------------------------------------------ */

#define REMOTE_EMBED_MAX_DIM 65536

/* Decodes an OpenAI /v1/embeddings response (n bytes, NUL-terminated at n, as a kb_buf's data
 * is) for n_texts inputs: data[] must hold n_texts objects
 * whose "embedding" is an array of *dim finite numbers, placed by their "index" (each index once;
 * without one, in order). *dim 0 takes the dimension from the first vector. *out (caller frees) gets
 * n_texts x *dim floats, each L2-normalised. Errors: KB_EJSON (not JSON), KB_EIO (an error object
 * from the server), KB_ECORRUPT (wrong shape, count, index or value), KB_ECONFIG (a vector of
 * another dimension than *dim), KB_ENOMEM. */
int remote_embed_parse(const char *body, size_t n, int n_texts, int *dim, float **out, struct kb_error *err);

/* embed.backend = openai: an index_embedder whose embed() posts the texts to <embed.url>/v1/embeddings
 * in requests of embed.batch texts, up to embed.max_concurrent requests at once. */
struct rag_remote_embedder;
/* Copies what it needs from cfg. The dimension is embed.remote_dim, checked on every response; 0
 * asks the server once here (one text) and takes it from that response. Caller owns *out; free with
 * rag_remote_embedder_close(). KB_ECONFIG (no embed.url, unreadable key file), or the call's error. */
int rag_remote_embedder_open(struct rag_remote_embedder **out, const struct config *cfg, struct kb_error *err);
void rag_remote_embedder_close(struct rag_remote_embedder *e); /* NULL ok */
struct index_embedder *rag_remote_embedder_iface(struct rag_remote_embedder *e); /* borrowed; as long as e */
/* Fills st ("openai", breaker state, counters since open). */
void rag_remote_embedder_stats(struct rag_remote_embedder *e, struct rag_backend_stats *st);

/* answer.backend = openai: rag_gen_open() makes a client of the remote server instead of loading a
 * model (generate.c); rag_answer_generative() then streams from it. */
bool rag_gen_is_remote(const struct rag_gen *g);
/* True while the remote backend's circuit breaker is open. */
bool rag_gen_backend_down(struct rag_gen *g);

/* Fills st from g (NULL: no generator; backend "local"). */
void rag_gen_backend_stats(struct rag_gen *g, struct rag_backend_stats *st);

/* ---- bots (bots.c) ---------------------------------------------------------------------------------- */

/* The configuration one question of bot b uses: a copy of cfg (release with config_release) with
 * the bot's fallback, persona and strict mode; *extractive when the bot answers from the passages
 * (model "extractive", or a model file that is not the loaded one: *note "bot_model_not_loaded"). */
int rag_bot_config(const struct rag_bot *b, const struct config *cfg, struct config *out, bool *extractive,
                   const char **note, struct kb_error *err);
/* Bot b's own handoff settings (those that do not inherit) over *out: the last step of
 * rag_bot_handoff and of rag_handoff_merge (coll_handoff.c). b is not NULL. */
void rag_bot_handoff_apply(const struct rag_bot *b, struct rag_handoff_rules *out);

#endif
