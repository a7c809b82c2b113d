/* rag/rag.h: the knowledge base as the product sees it. rag/ composes ingest/ (parsing, chunking),
 * index/ (store, vectors, retrieval) and infer/ (GGUF answers and embeddings) into the operations
 * the CLI and the web layer call: collections, uploads with background ingestion jobs, documents,
 * search, grounded answers with citations, embeddings and statistics.
 *
 * Threads: one `struct rag` is shared by all threads of a process (the HTTP workers, the CLI);
 * every function here is thread-safe. Ingestion runs on rag's own bounded worker pool; jobs are
 * persisted, so queued jobs resume at the next rag_open(). Strings in result structs are owned by
 * the result and freed by its release or free function. Tests: tests/rag/. */
#ifndef KB_RAG_RAG_H
#define KB_RAG_RAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"

struct rag; /* opaque; shared by threads */

/* Opens (creating if needed) the knowledge base in cfg->data_dir and starts the ingestion workers.
 * cfg is copied. Caller owns *out; close with rag_close(). */
int rag_open(struct rag **out, const struct config *cfg, struct kb_error *err);
/* Stops the workers after their current document; unfinished jobs stay queued for the next open. */
void rag_close(struct rag *r); /* NULL ok */
/* The effective configuration as an immutable, reference-counted snapshot: borrowed; valid until
 * the matching rag_config_put(), and never changed meanwhile. A reader takes one per request or
 * question and holds no lock while it reads it. rag_setting_set() publishes a new snapshot for
 * later rag_config_get() calls; a replaced one is freed when its last reader puts it back. Every
 * snapshot must be put back before rag_close(). */
const struct config *rag_config_get(struct rag *r);
void rag_config_put(struct rag *r, const struct config *cfg); /* NULL ok */
/* The knowledge base's store, for web/ and cli/ to reach the account tables (index_user_*,
 * index_session_*, index_key_*, index_audit_*): borrowed; valid until rag_close(). */
struct index_store *rag_store(struct rag *r);
/* Changes a runtime setting (answer.*, index.top_k, widget.*, server.cors_origins, ...) and
 * persists it in the knowledge base so it survives restarts: a copy of the current snapshot takes
 * the value, is validated and saved (<data.dir>/settings.json), then replaces the snapshot in one
 * step. KB_ECONFIG names a bad key/value; on any error before the save the snapshot is unchanged.
 * answer.model and embed.model take a file name in the models folder (or "" for extractive
 * answers / the built-in embedder); the file is checked first (readable GGUF, supported
 * architecture of the right kind, fits in memory: KB_ENOENT, KB_EFORMAT, KB_EINVAL, KB_ETOOBIG).
 * answer.model swaps the loaded model once no generation uses it; embed.model switches the
 * embedder and starts the background re-embedding job (search keeps the old vectors meanwhile). */
int rag_setting_set(struct rag *r, const char *key, const char *value, struct kb_error *err);

/* ---- collections (knowledge bases) --------------------------------------------------------------- */

struct rag_collection {
    int64_t id;
    char *name;          /* owned */
    int64_t n_documents;
    int64_t created_at;  /* unix seconds */
};
/* id 0 in any call that takes a collection means "the default collection" for writes and "all
 * collections" for reads. */
int rag_collections_list(struct rag *r, struct rag_collection **out, int *n_out, struct kb_error *err);
void rag_collections_free(struct rag_collection *c, int n);
int rag_collection_create(struct rag *r, const char *name, int64_t *id_out, struct kb_error *err);
int rag_collection_rename(struct rag *r, int64_t id, const char *name, struct kb_error *err);
int rag_collection_delete(struct rag *r, int64_t id, struct kb_error *err); /* and its documents */
/* Looks a collection up by name: KB_ENOENT if absent. */
int rag_collection_find(struct rag *r, const char *name, int64_t *id_out, struct kb_error *err);

/* ---- documents and ingestion jobs ---------------------------------------------------------------- */

struct rag_document {
    int64_t id;
    int64_t collection_id;
    char *name;          /* file name as uploaded; owned */
    char *mime;          /* detected format, e.g. "application/pdf"; owned */
    int64_t bytes;
    char sha256[65];
    char *status;        /* "queued", "parsing", "indexed" or "failed"; owned */
    char *error;         /* why it failed, or ""; owned */
    int64_t n_chunks;
    int64_t ingested_at; /* unix seconds, 0 before indexing */
    int64_t job_id;      /* latest ingestion job */
};

struct rag_chunk {
    int64_t id;
    int ordinal;
    char *text;          /* owned */
    char *heading_path;  /* "Handbook > Returns > Refunds"; owned */
    int page_start, page_end; /* 0 when the format has no pages */
    int n_tokens;
};

/* Takes ownership of the file at tmp_path (moved into the data directory), creates the document
 * as "queued" and queues its ingestion. Returns at once. An identical file (same sha256) already
 * in the collection returns the existing document's id and a job id of 0. */
int rag_upload(struct rag *r, int64_t collection_id, const char *filename, const char *tmp_path,
               int64_t *doc_id, int64_t *job_id, struct kb_error *err);
/* Ingests files and folders synchronously (the CLI's `kbox ingest`): recursion, incremental skip by
 * sha256, atomic replace, optional prune. progress (nullable) is called after each file. */
struct rag_ingest_progress {
    const char *path;    /* file just finished */
    int status;          /* 0, or the KB_E* code it failed with */
    const char *error;   /* message when status != 0 */
    bool skipped;        /* unchanged since last time */
    int files_done, files_total;
    int64_t chunks_done;
    int64_t bytes_done, bytes_total;
};
typedef void (*rag_progress_fn)(void *ud, const struct rag_ingest_progress *p);
int rag_ingest_paths(struct rag *r, int64_t collection_id, const char *const *paths, int n_paths,
                     bool prune, rag_progress_fn progress, void *ud, struct kb_error *err);

int rag_documents_list(struct rag *r, int64_t collection_id, struct rag_document **out, int *n_out,
                       struct kb_error *err);
void rag_documents_free(struct rag_document *d, int n);
/* One document and (if chunks != NULL) its chunks. Release with rag_document_release and
 * rag_chunks_free. KB_ENOENT if absent. */
int rag_document_get(struct rag *r, int64_t id, struct rag_document *out, struct rag_chunk **chunks,
                     int *n_chunks, struct kb_error *err);
void rag_document_release(struct rag_document *d);
void rag_chunks_free(struct rag_chunk *c, int n);
int rag_document_delete(struct rag *r, int64_t id, struct kb_error *err);
int rag_document_reingest(struct rag *r, int64_t id, int64_t *job_id, struct kb_error *err);
/* Path of the stored original (for downloads), copied into path_out. */
int rag_document_file(struct rag *r, int64_t id, char *path_out, size_t path_bytes, struct kb_error *err);

struct rag_job {
    int64_t id;
    int64_t document_id; /* 0 for a re-embedding */
    char kind[16];      /* "ingest" (one document) or "reembed" (every chunk, new embedder) */
    char state[16];     /* "queued", "running", "done", "failed" */
    double progress;    /* 0..1 */
    int64_t n_done, n_total; /* reembed: chunks embedded / all chunks; 0 for ingest */
    char error[256];
};
int rag_job_get(struct rag *r, int64_t id, struct rag_job *out, struct kb_error *err);
/* The RAG_JOBS_LIST_MAX most recent jobs, newest first. Caller frees *out with free(). */
#define RAG_JOBS_LIST_MAX 256
int rag_jobs_list(struct rag *r, struct rag_job **out, int *n_out, struct kb_error *err);
/* Waits until no re-embedding is pending (for a CLI command that should finish the switch to a new
 * embed.model before it exits). progress (nullable) is called about every 200 ms with chunks done
 * and total. 0 when nothing is pending any more; the job's error (KB_EINTERNAL) when it failed. */
int rag_reembed_wait(struct rag *r, void (*progress)(void *ud, int64_t done, int64_t total), void *ud,
                     struct kb_error *err);

/* ---- search ---------------------------------------------------------------------------------------- */

enum rag_search_mode { RAG_SEARCH_HYBRID, RAG_SEARCH_BM25, RAG_SEARCH_VECTOR };

struct rag_search_opts {
    const char *query;
    int top_k;              /* 0: index.top_k */
    int64_t collection_id;  /* 0: all */
    int64_t document_id;    /* 0: all */
    enum rag_search_mode mode;
};

struct rag_hit {
    int64_t chunk_id;
    int64_t document_id;
    char *document;         /* file name; owned */
    char *heading_path;     /* owned */
    int page_start, page_end;
    char *text;             /* owned */
    double bm25;            /* BM25 score (higher is better), 0 when not found by BM25 */
    double vector;          /* cosine similarity, 0 when not found by vectors */
    double fused;           /* the ranking score */
};

int rag_search(struct rag *r, const struct rag_search_opts *opts, struct rag_hit **out, int *n_out,
               struct kb_error *err);
void rag_hits_free(struct rag_hit *h, int n);

/* ---- answers --------------------------------------------------------------------------------------- */

struct rag_citation {
    int n;                  /* the [n] marker in the answer */
    int64_t chunk_id;
    int64_t document_id;
    char *document;         /* file name; owned */
    char *heading_path;     /* owned */
    int page;               /* first page (or slide) of the cited text: of the cited sentences for an
                             * extractive answer (rag_citation_pages), else of the passage; 0 when none */
    int page_end;           /* last page of the cited text, 0 when none */
    char *text;             /* the cited passage; owned */
};

struct rag_sentence {
    char *text;             /* owned */
    double support;         /* 0..1 grounding score against its cited passages */
};

struct rag_answer {
    char *answer;                 /* owned */
    char *reasoning;              /* <think> text of R1-style models, or NULL; owned */
    const char *mode;             /* "extractive", "generative", "faq" or "curated"; static */
    const char *note;             /* "backend_unavailable" (remote backend down or failing before it
                                   * streamed anything: extractive answer), "bot_model_not_loaded"
                                   * (the bot names another model than the loaded one: extractive
                                   * answer) or NULL; static */
    struct rag_citation *citations; /* owned */
    int n_citations;
    struct rag_sentence *sentences; /* per-sentence grounding (generative), or NULL */
    int n_sentences;
    double support_min;           /* answer.min_support: sentences below it are weak */
    int n_weak;                   /* sentences below support_min */
    int n_dropped;                /* strict mode: weak sentences removed from answer */
    double confidence;            /* 0..1 */
    bool fallback;                /* true when the documents did not contain the answer */
    double retrieve_ms, answer_ms, total_ms;
    int n_tokens;                 /* generated tokens (0 for extractive) */
    char *query;                  /* what retrieval searched for: the question, or a follow-up
                                   * rewritten as a standalone question; owned */
    bool incomplete;              /* a remote backend's stream broke mid-answer: answer holds what
                                   * came before (streamed clients also got an error event) */
    char error[256];              /* when incomplete: why the stream stopped */
    int64_t curated_id;           /* mode "curated": the curated answer that answered, else 0 */
    int curated_version;          /* mode "curated": its version that answered, else 0 */
    /* the conversation log (rag/log.c), when opts->channel was given and log.enabled: */
    int64_t message_id;           /* the logged message (POST /api/feedback names it); 0: not logged */
    char log_secret[33];          /* the conversation's secret: feedback needs it, and the next
                                   * question of the conversation passes it back; "" when not logged */
};

struct rag_ask_opts {
    const char *question;
    int64_t collection_id;        /* 0: all */
    const char *conversation_id;  /* nullable: follow-ups use this conversation's last turns */
    int top_k;                    /* 0: index.top_k */
    bool show_prompt;             /* generative: put the exact prompt in *prompt_out */
    const char *channel;          /* "ui", "widget", "api" or "openai": the answer is logged there
                                   * (log.enabled); NULL: not logged (the CLI) */
    const char *client_ip;        /* nullable; stored only with log.store_ip */
    const char *log_secret;       /* nullable: the secret of an earlier answer of this conversation;
                                   * unknown or absent starts a new logged conversation */
    const char *bot_id;           /* nullable: answer as this bot (its collections replace
                                   * collection_id; its settings apply over the snapshot); KB_ENOENT */
};

/* Streamed output: kind is "token" (answer text), "think" (reasoning text) or "citation" (text
 * is the citation number). Return nonzero to cancel (e.g. the client went away). */
typedef int (*rag_stream_fn)(void *ud, const char *kind, const char *text, size_t n);

/* Answers from the documents. on_stream (nullable) receives pieces as they are produced; the full
 * answer is in *out either way. Release with rag_answer_release(). */
int rag_ask(struct rag *r, const struct rag_ask_opts *opts, rag_stream_fn on_stream, void *ud,
            struct rag_answer *out, char **prompt_out, struct kb_error *err);
void rag_answer_release(struct rag_answer *a);

/* ---- curated answers (curated.c) ---------------------------------------------------------------------- */

/* A curated answer: a question, its similar questions and the answer text (with optional cited
 * documents), in a collection, versioned (an edit keeps the old text), with a use counter. Each is
 * searched as a hidden FAQ chunk ("Q: question\nQ: similar...\nA: answer", not in the documents
 * list) and answered by the FAQ direct-answer path with mode "curated" when its question or one of
 * its similar questions matches (answer.faq_min_match). */
struct rag_curated {
    int64_t id;
    int64_t collection_id;
    int version;            /* current version (1 = as created), or the version row's number */
    char *question;         /* owned */
    char **similar;         /* owned, n_similar strings */
    int n_similar;
    char *answer;           /* owned */
    int64_t *citations;     /* cited document ids; owned; n_citations */
    int n_citations;
    int64_t uses;           /* answers given with it (0 in a version row) */
    int64_t created_at, updated_at; /* unix seconds */
};
/* What a curated answer is written from: strings borrowed for the call. Empty question or answer:
 * KB_EINVAL "question is empty" / "answer is empty"; a question (or similar one) is one line, at
 * most RAG_CURATED_QUESTION_MAX bytes; at most RAG_CURATED_SIMILAR_MAX similar questions; an
 * answer of at most RAG_CURATED_ANSWER_MAX bytes; cited documents must exist (KB_EINVAL). */
#define RAG_CURATED_QUESTION_MAX 1000
#define RAG_CURATED_ANSWER_MAX 20000
#define RAG_CURATED_SIMILAR_MAX 50
struct rag_curated_input {
    int64_t collection_id;          /* 0: default (ignored by updates: an entry keeps its collection) */
    const char *question;
    const char *const *similar;     /* n_similar questions; empty ones are skipped */
    int n_similar;
    const char *answer;
    const int64_t *citations;       /* n_citations document ids */
    int n_citations;
};
/* Adds an entry (version 1); *id_out gets its id. */
int rag_curated_add(struct rag *r, const struct rag_curated_input *in, int64_t *id_out, struct kb_error *err);
/* Writes the next version of entry id. KB_ENOENT. */
int rag_curated_update(struct rag *r, int64_t id, const struct rag_curated_input *in, struct kb_error *err);
/* Adds question to entry id's similar questions (a new version; nothing when it is already there). */
int rag_curated_add_similar(struct rag *r, int64_t id, const char *question, struct kb_error *err);
int rag_curated_delete(struct rag *r, int64_t id, struct kb_error *err); /* KB_ENOENT */
/* One entry; release with rag_curated_release. KB_ENOENT. */
int rag_curated_get(struct rag *r, int64_t id, struct rag_curated *out, struct kb_error *err);
/* A page (newest first, page_size 1..1000) of a collection's entries (0 = all) whose texts contain
 * q (NULL or "" = all); *total counts all matches. Free with rag_curated_free. */
int rag_curated_list(struct rag *r, int64_t collection_id, const char *q, int page, int page_size,
                     struct rag_curated **out, int *n_out, int64_t *total, struct kb_error *err);
/* Every version of entry id, newest first. Free with rag_curated_free. KB_ENOENT. */
int rag_curated_versions(struct rag *r, int64_t id, struct rag_curated **out, int *n_out, struct kb_error *err);
void rag_curated_release(struct rag_curated *c);
void rag_curated_free(struct rag_curated *c, int n);
/* Imports a CSV or XLSX table (format "csv", "xlsx", or NULL to tell by the bytes) with the columns
 * question, similar_questions, answer (a header row naming them, in any order; similar questions in
 * one cell separated by newlines or "|") into a collection, in ONE transaction: a bad row is
 * KB_EINVAL "row N: ..." (N counts the header as row 1) and nothing is imported. */
int rag_curated_import(struct rag *r, int64_t collection_id, const void *data, size_t n, const char *format,
                       int *n_imported, struct kb_error *err);
/* Exports a collection's entries (0 = all) as "csv" (RFC 4180, UTF-8, similar questions one per
 * line inside their cell) or "xlsx" (one sheet, the same columns) into out. */
int rag_curated_export(struct rag *r, int64_t collection_id, const char *format, struct kb_buf *out,
                       struct kb_error *err);
/* One entry as an object (key NULL inside an array): {id, collection_id, version, question,
 * similar_questions, answer, citations, uses, created_at, updated_at}. */
void rag_curated_json(struct jw *w, const char *key, const struct rag_curated *c);

/* ---- embeddings and statistics --------------------------------------------------------------------- */

/* Embeds texts with the configured embedder. *out is n*dim floats, L2-normalised; caller frees
 * with free(). */
int rag_embed(struct rag *r, const char *const *texts, int n, float **out, int *dim, struct kb_error *err);
const char *rag_embedder_id(const struct rag *r); /* borrowed */

/* The answer backend (answer.backend) or the embedding backend (embed.backend), for /api/health
 * and /metrics. Counters since start. */
struct rag_backend_stats {
    const char *backend;          /* answers: "local" or "openai"; embeddings: "builtin", "local" or
                                   * "openai"; static */
    const char *state;            /* openai: "up", "down" (breaker open) or "probing"; in-process:
                                   * "up", or "none" (no answer model: extractive answers); static */
    int64_t requests, errors, retries;
    int64_t tokens_in, tokens_out; /* prompt and completion tokens the server reported; embeddings:
                                    * texts sent, 0 */
    double last_ttft_ms;          /* time to first token of the latest answer (0 for embeddings) */
    double last_latency_ms;       /* whole latest answer, or latest embedding request */
    int64_t breaker_opened;       /* times the circuit breaker opened */
};

struct rag_stats {
    struct rag_backend_stats answer_backend;
    struct rag_backend_stats embed_backend;
    int64_t n_collections, n_documents, n_chunks;
    int64_t jobs_queued, jobs_running, jobs_failed;
    double tokens_per_s;          /* last generative answer's speed, 0 if none */
    const char *answer_mode;      /* "extractive" or "generative"; static */
    char embedder[128];           /* the configured embedder's id */
    char search_embedder[128];    /* the embedder whose vectors search uses now; "" = BM25 only
                                   * (while re-embedding after the old embedder went away) */
    bool reembedding;             /* vectors of the configured embedder are still being made */
    int64_t reembed_done, reembed_total; /* chunks */
    struct {                              /* store.backend = postgres: this node's cache against PostgreSQL */
        bool enabled;                     /* false with SQLite alone (the rest is zero) */
        bool connected;                   /* the last exchange with PostgreSQL succeeded */
        int64_t applied_seq, head_seq, lag_seq; /* change-log sequences */
        double lag_s;                     /* seconds the oldest unapplied change has waited; 0 caught up */
        double since_contact_s;           /* seconds since PostgreSQL last answered */
        char error[256];                  /* the last sync error, "" */
        int64_t spooled;                  /* answers waiting in the node's spool (PostgreSQL was down) */
    } sync;
};
int rag_stats(struct rag *r, struct rag_stats *out, struct kb_error *err);

/* ---- models ----------------------------------------------------------------------------------------- */

/* One GGUF file of the models folder, for `kbox model list` and the settings page. */
struct rag_model {
    char *file;         /* file name in the folder; owned */
    char *arch;         /* general.architecture, "" when unreadable; owned */
    const char *kind;   /* "generative", "embedding", or "" when unreadable; static */
    int64_t params;     /* weight values */
    char *type;         /* most frequent tensor type, e.g. "Q4_K", "" when unreadable; owned */
    char *types;        /* every tensor type with its count, most frequent first: "Q4_K x120, F32 x41"; owned */
    int64_t bytes;      /* file size */
    int n_expert;       /* routed experts (MoE), 0 for dense */
    bool fits;          /* smaller than the memory available now (or that is unknown) */
    char *error;        /* why it cannot be used (not a GGUF, unsupported architecture...), or NULL; owned */
};
/* <data.dir>/models into buf. */
void rag_models_dir(const struct config *cfg, char *buf, size_t buf_bytes);
/* The *.gguf files of dir in name order. *mem_available (nullable) gets MemAvailable in bytes, -1
 * when unknown. KB_ENOENT when dir cannot be listed. Free with rag_models_free(). */
int rag_models_list(const char *dir, struct rag_model **out, int *n_out, int64_t *mem_available,
                    struct kb_error *err);
void rag_models_free(struct rag_model *m, int n);
/* Checks, without loading weights, that path can serve as kind ("generative" or "embedding"):
 * KB_ENOENT, KB_ETOOBIG (larger than the memory available), KB_EFORMAT (not a GGUF kbox
 * reads, unsupported architecture), KB_EINVAL (the other kind). */
int rag_model_check(const char *path, const char *kind, struct kb_error *err);

/* ---- evaluation ------------------------------------------------------------------------------------ */

/* Scores of one retrieval method on a QA set (../shared/eval format). */
struct rag_eval_scores {
    const char *method;          /* "bm25", "vector", "hybrid"; static */
    double recall1, recall5, recall10, mrr10; /* over documents, first occurrence of each */
    double em, f1;               /* extractive answers against the gold answers */
    int n_questions;
};

/* Ingests corpus (JSON lines {id, title, text}) into a temporary knowledge base (removed
 * afterwards), asks every question (JSON lines {id, question, gold_ids, answers}; max_questions
 * 0 = all) with BM25 only, vectors only and hybrid, and fills out[0..2] in that order. */
int rag_eval(const struct config *cfg, const char *corpus, const char *questions, int max_questions,
             struct rag_eval_scores out[3], double *ingest_s, struct kb_error *err);

/* ---- JSON rendering (render.c) ----------------------------------------------------------------------- */

/* The one JSON shape of kbox's results, written with base's struct jw; the HTTP API (/api/search,
 * /api/ask and its SSE events, the OpenAI endpoints' citations, /api/documents) and
 * `kbox search|ask|docs --json` all call these, so the two can never drift apart. w is borrowed. */

/* One document as an object (key NULL inside an array): {id, collection_id, name, mime, bytes,
 * sha256, status, error, n_chunks, ingested_at, job_id}. */
void rag_document_json(struct jw *w, const char *key, const struct rag_document *d);

/* One citation as an object (key NULL inside an array): {n, chunk_id, document_id, document,
 * heading_path, page, page_end, text}. */
void rag_citation_json(struct jw *w, const char *key, const struct rag_citation *c);
/* The answer's members, written into the object open in w: answer, reasoning, mode, citations,
 * sentences [{text, support}], support_min, weak, dropped (those three only with sentences),
 * confidence, fallback, timings {retrieve_ms, answer_ms, total_ms}, n_tokens, query and
 * conversation_id (nullable: written as null). */
void rag_answer_json(struct jw *w, const struct rag_answer *a, const char *conversation_id);
/* The member "hits": [{chunk_id, document_id, document, heading_path, page_start, page_end, text,
 * scores: {bm25, vector, fused}}], written into the object open in w. */
void rag_hits_json(struct jw *w, const struct rag_hit *hits, int n);
/* The member "entries": [{id, at, actor, action, target, detail, ip}] of the audit log
 * (index_audit_list's rows), written into the object open in w (GET /api/audit, `kbox audit --json`). */
struct index_audit;
void rag_audit_json(struct jw *w, const struct index_audit *v, int n);

/* ---- human handoff: the rules (handoff.c); the store is index/store_handoff.c, the routes
 * web/api_handoff.c ---------------------------------------------------------------------------------- */
#define RAG_HANDOFF_TEXT_MAX 4000 /* characters (code points) in one handoff message */
/* Whether live chat is open at now_s under hours (handoff.hours; "" = always) in time zone tz
 * (handoff.timezone). KB_ECONFIG naming the bad part of either. */
int rag_handoff_in_hours(const char *hours, const char *tz, int64_t now_s, bool *open, struct kb_error *err);
/* tz ("UTC", "+08:00") as minutes east of UTC; KB_ECONFIG when malformed. */
int rag_handoff_tz_minutes(const char *tz, int *minutes, struct kb_error *err);
/* True when question contains one of the comma-separated phrases of keywords (handoff.keywords). */
bool rag_handoff_keyword(const char *keywords, const char *question);
/* A message's text: non-empty valid UTF-8 of at most RAG_HANDOFF_TEXT_MAX characters, else KB_EINVAL. */
int rag_handoff_text_check(const char *text, struct kb_error *err);
/* Queues the notifications of new handoff or ticket handoff_id (handoff.webhook_url, handoff.smtp_*)
 * and wakes their worker (notify.c); delivery, retries and failures happen in the background and
 * are recorded in the store. 0 when nothing is configured. */
int rag_handoff_notify(struct rag *r, int64_t handoff_id, struct kb_error *err);
/* Fallback answers in a row at the end of the logged conversation log_secret (what is logged so far),
 * counting only messages before message id before_id (> 0; 0: all). */
int rag_handoff_fallback_streak(struct rag *r, const char *log_secret, int64_t before_id, int *n_out,
                                struct kb_error *err);
/* Logs one message of a human handoff into the conversation log under the bot conversation
 * log_secret (32 hex; "" or malformed: nothing is logged, there is no conversation to join): a
 * customer's (agent false) as a question with mode "handoff", a person's as an answer with mode
 * "agent" and the agent's name as the model. Queued like answers (log.c); statistics leave these
 * messages out, history and export show them. Nothing with log.enabled false. Copies the strings. */
void rag_log_handoff(struct rag *r, const char *log_secret, bool agent, const char *agent_name, const char *text);

/* ---- the conversation log: feedback, review, analytics, export (log.c) --------------------------------
 * Answers asked with a channel are logged (log.enabled) with their question, mode, confidence,
 * citations, latency, model and, with log.store_ip, the client's address; messages older than
 * log.retention_days are purged once a day. Everything but feedback is for administrators. */

/* Records a thumbs up (vote 1) or down (-1) with an optional comment (<= RAG_FEEDBACK_MAX_CHARS
 * characters of UTF-8) on a logged message. secret is the one returned with the answer: an unknown
 * message or one of another conversation is KB_ENOENT with nothing recorded; a bad vote or comment
 * KB_EINVAL; log.enabled false KB_EFORBIDDEN. */
#define RAG_FEEDBACK_MAX_CHARS 2000
int rag_feedback(struct rag *r, int64_t message_id, const char *secret, int vote, const char *comment,
                 struct kb_error *err);

/* Which logged messages a listing covers. */
struct rag_log_query {
    int64_t from, to;       /* unix seconds, [from, to); 0 = open */
    int64_t collection_id;  /* > 0: only this collection */
    const char *channel;    /* "ui", "widget", "api", "openai"; NULL or "": any */
    const char *kind;       /* review: "fallback", "low_confidence", "thumbs_down"; NULL or "": any */
    int64_t offset;         /* review paging */
    int limit;              /* review: 1..200 (0: 50) */
};
/* A date of a query into unix seconds: YYYY-MM-DD (00:00 UTC, or with end_of_day the next day's
 * 00:00, so `to` includes its day), or unix seconds; NULL or "" is 0 (open). KB_EINVAL names key. */
int rag_log_parse_date(const char *key, const char *v, bool end_of_day, int64_t *out, struct kb_error *err);
/* Checks q's channel, kind and paging: KB_EINVAL naming the field. */
int rag_log_query_check(const struct rag_log_query *q, struct kb_error *err);
/* The review inbox as the members of the object open in w: enabled, (message when logging is off),
 * total (at most 10000; total_capped says there are more), offset, limit, items [{message_id, conversation_id, created_at, channel, collection_id,
 * question, answer, mode, confidence, fallback, vote, comment, kinds [...], citations}]: fallbacks,
 * answers below log.review_below and thumbs-down not yet dismissed or resolved, newest first. */
int rag_review_json(struct rag *r, const struct rag_log_query *q, struct jw *w, struct kb_error *err);
/* Takes a message out of the review inbox: action "dismiss" or "resolved". KB_ENOENT, KB_EINVAL. */
int rag_review_set(struct rag *r, int64_t message_id, const char *action, struct kb_error *err);
/* Analytics of q's range and collection as members of the object open in w (see web/api_log.c). */
int rag_log_stats_json(struct rag *r, const struct rag_log_query *q, struct jw *w, struct kb_error *err);
/* Writes the messages of q's range, oldest first, as "csv" (a header line, RFC 4180 quoting) or
 * "jsonl" (one object per line) through write (nonzero stops: its value is returned). */
typedef int (*rag_write_fn)(void *ud, const char *p, size_t n);
int rag_log_export(struct rag *r, const struct rag_log_query *q, const char *format, rag_write_fn write, void *ud,
                   struct kb_error *err);
/* The collection_id a logged message (conversation false) or conversation was asked over (0: every
 * collection), after the pending log is written: web/ checks per-collection access with it. KB_ENOENT. */
int rag_log_collection_of(struct rag *r, bool conversation, int64_t id, int64_t *collection_id,
                          struct kb_error *err);
/* Deletes a logged conversation with its messages and their feedback. KB_ENOENT. */
int rag_conversation_delete(struct rag *r, int64_t id, struct kb_error *err);
/* Deletes messages older than log.retention_days now (0 days: nothing). */
int rag_log_purge(struct rag *r, int64_t *n_deleted, struct kb_error *err);

/* ---- bots (bots.c) ------------------------------------------------------------------------------------ */

/* A bot: a named public-facing configuration (the website widget with data-bot="ID", the page
 * /b/ID, the OpenAI model ID) over some collections, with its own greeting, persona, fallback,
 * strict mode, answer model, widget origins, colour, logo and language. Every setting that is ""
 * (strict: -1) inherits the global one at question time; the bot "default" (created by the schema
 * migration) inherits all of them over every collection. Strings are borrowed from the arena the
 * bot was read into. */
#define RAG_BOT_ID_MAX 32
#define RAG_BOT_MAX_COLLECTIONS 64
#define RAG_BOT_MAX_ORIGINS 32
#define RAG_BOT_LOGO_MAX (64 * 1024) /* bytes of the logo's URL (a data: URL holds about 48 KiB of image) */
struct rag_bot {
    const char *id, *name;
    int64_t *collection_ids;        /* existing collections it answers from; n_collections of them */
    const char **collection_names;
    int n_collections;              /* 0 with n_stored_collections 0: every collection */
    int n_stored_collections;       /* as stored (deleted collections included) */
    const char *greeting, *persona, *fallback;
    int strict;                     /* -1 inherit answer.strict, 0, 1 */
    const char *model;              /* "" answer.model, "extractive", or a .gguf file name */
    const char *origins;            /* comma-separated widget origins; "" server.cors_origins */
    const char *color, *logo, *lang;
    bool public_page;               /* /b/ID is served */
    int64_t created_at, updated_at; /* unix seconds */
    int handoff;                    /* -1 inherit handoff.enabled, 0 off, 1 on */
    const char *handoff_keywords;   /* "" inherit handoff.keywords */
    int handoff_after_fallbacks;    /* -1 inherit handoff.after_fallbacks, 0 off, N */
    int handoff_on_thumbs_down;     /* -1 inherit handoff.on_thumbs_down, 0, 1 */
};
/* The handoff triggers in force for one question: the global handoff.* keys with a bot's own
 * settings over them (rag_bot_handoff). keywords points into the bot or the config snapshot. */
struct rag_handoff_rules {
    bool enabled, on_thumbs_down;
    const char *keywords;
    int after_fallbacks;
};
/* Fills *out from cfg, then from bot b (nullable: the global keys alone). */
void rag_bot_handoff(const struct rag_bot *b, const struct config *cfg, struct rag_handoff_rules *out);
struct index_coll_handoff; /* index/index.h */
/* A collection's own handoff settings and the merge rule (coll_handoff.c; the precedence is in its
 * file-top comment). rag_handoff_merge: cfg, then the n_c collections' settings, then bot b
 * (nullable); kw (kw_bytes) holds a joined keyword list. rag_handoff_rules_for reads the settings of
 * collection_id (> 0) or else of b's collections and merges them; out->keywords always points into
 * kw afterwards. On a store error it still fills out (without the collections) and returns it. */
void rag_handoff_merge(const struct rag_bot *b, const struct index_coll_handoff *c, int n_c,
                       const struct config *cfg, struct rag_handoff_rules *out, char *kw, size_t kw_bytes);
int rag_handoff_rules_for(struct rag *r, const struct rag_bot *b, int64_t collection_id, struct rag_handoff_rules *out,
                          char *kw, size_t kw_bytes, struct kb_error *err);
/* KB_ENOENT for an unknown collection. */
int rag_coll_handoff_get(struct rag *r, int64_t id, struct kb_arena *a, struct index_coll_handoff *out,
                         struct kb_error *err);
/* Updates from a JSON object {handoff, handoff_keywords, handoff_after_fallbacks,
 * handoff_on_thumbs_down} (absent members keep their value). KB_EINVAL names the bad member,
 * KB_EJSON bad JSON, KB_ENOENT an unknown collection. */
int rag_coll_handoff_put_json(struct rag *r, int64_t id, const char *body, size_t n, struct kb_error *err);
/* The settings as stored ("inherit" / false for off) and "effective_handoff" over this collection alone. */
void rag_coll_handoff_json(struct jw *w, const char *key, const struct index_coll_handoff *h, const struct config *cfg);
/* Creates (id NULL; the body names it) or updates (members absent from body keep their value) a bot
 * from a JSON object {id, name, collections:[name or id], greeting, persona, fallback, strict:
 * true|false|"inherit", model, origins:[...], color, logo, lang, public_page}. KB_EINVAL and
 * KB_ETOOBIG (the logo) name the bad member, KB_EJSON bad JSON, KB_ENOENT an unknown bot or
 * collection, KB_ECONFLICT an existing id. The bot's id is copied into id_out (nullable). */
int rag_bot_put_json(struct rag *r, const char *id, const char *body, size_t n, char *id_out, size_t id_bytes,
                     struct kb_error *err);
int rag_bot_delete(struct rag *r, const char *id, struct kb_error *err); /* KB_ENOENT */
/* One bot into *out, strings in arena a. KB_ENOENT. */
int rag_bot_get(struct rag *r, const char *id, struct kb_arena *a, struct rag_bot *out, struct kb_error *err);
/* The bot's JSON object: id, name, greeting, color, lang (effective: inherited values filled in from
 * cfg), logo, public_page; full adds collections [{id, name}], persona, fallback, strict, model,
 * origins, own {greeting, color, lang} (as stored) and effective {fallback, strict, model, origins}. */
void rag_bot_json(struct jw *w, const char *key, const struct rag_bot *b, const struct config *cfg, bool full);
/* Every bot (full objects) as the array key in the object open in w. */
int rag_bots_json(struct rag *r, struct jw *w, const char *key, struct kb_error *err);
/* Every bot's id, sorted, into arena a. */
int rag_bot_ids(struct rag *r, struct kb_arena *a, const char ***ids, int *n_out, struct kb_error *err);
/* Whether a browser on origin may use bot b: its origins, or server.cors_origins when it has none. */
bool rag_bot_origin_allowed(const struct rag_bot *b, const struct config *cfg, const char *origin);
/* Whether some bot lists origin among its own origins (admission of a cross-origin request before
 * its body, which names the bot, is read). */
bool rag_bot_origin_any(struct rag *r, const char *origin);
/* Whether origin is in a comma-separated origin list ("*" allows every origin). */
bool rag_origin_in_list(const char *list, const char *origin);

#endif
