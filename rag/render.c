/* rag/render.c: the JSON form of rag's result structs (rag_answer, rag_citation, rag_hit, rag_document),
 * in one place so that the HTTP API and the CLI's --json print the same objects; and the pages a
 * citation shows (rag_citation_pages: page/page_end of the cited sentences, from the chunk's page map,
 * so a chunk spanning pages 4-5 cites "p. 5" for a sentence on page 5). It writes with
 * base's struct jw into the caller's kb_buf and owns nothing; the writer's cap error stays sticky
 * in w->rc for the caller to check. The shapes are documented in rag/rag.h and web/api_ask.c.
 * Tests: tests/cli/test_json_same.c (`kbox ask|search --json` against POST /api/ask|search),
 * tests/web/test_web.c (documents). */
#include "rag/rag_int.h"

void rag_citation_pages(struct rag_citation *c, const struct rag_passage *p, size_t start, size_t end, bool fresh)
{
    if (!p->page_map || !p->page_map[0])
        return; /* one page, or a row stored before page maps: the passage's own range stands */
    int a = index_page_at(p->page, p->page_map, start);
    int b = index_page_at(p->page, p->page_map, end > start ? end - 1 : start);
    if (a <= 0)
        return;
    c->page = fresh ? a : KB_MIN(c->page, a);
    c->page_end = fresh ? b : KB_MAX(c->page_end, b);
}

void rag_document_json(struct jw *w, const char *key, const struct rag_document *d)
{
    jw_obj(w, key);
    jw_int(w, "id", d->id);
    jw_int(w, "collection_id", d->collection_id);
    jw_str(w, "name", d->name);
    jw_str(w, "mime", d->mime);
    jw_int(w, "bytes", d->bytes);
    jw_str(w, "sha256", d->sha256);
    jw_str(w, "status", d->status);
    jw_str(w, "error", d->error ? d->error : "");
    jw_int(w, "n_chunks", d->n_chunks);
    jw_int(w, "ingested_at", d->ingested_at);
    jw_int(w, "job_id", d->job_id);
    jw_end_obj(w);
}

void rag_citation_json(struct jw *w, const char *key, const struct rag_citation *c)
{
    jw_obj(w, key);
    jw_int(w, "n", c->n);
    jw_int(w, "chunk_id", c->chunk_id);
    jw_int(w, "document_id", c->document_id);
    jw_str(w, "document", c->document);
    jw_str(w, "heading_path", c->heading_path);
    jw_int(w, "page", c->page);
    jw_int(w, "page_end", c->page_end);
    jw_str(w, "text", c->text);
    jw_end_obj(w);
}

void rag_answer_json(struct jw *w, const struct rag_answer *a, const char *conversation_id)
{
    jw_str(w, "answer", a->answer);
    jw_str(w, "reasoning", a->reasoning);
    jw_str(w, "mode", a->mode);
    if (a->note)
        jw_str(w, "note", a->note);
    jw_arr(w, "citations");
    for (int i = 0; i < a->n_citations; i++)
        rag_citation_json(w, NULL, &a->citations[i]);
    jw_end_arr(w);
    jw_arr(w, "sentences");
    for (int i = 0; i < a->n_sentences; i++) {
        jw_obj(w, NULL);
        jw_str(w, "text", a->sentences[i].text);
        jw_num(w, "support", a->sentences[i].support);
        jw_end_obj(w);
    }
    jw_end_arr(w);
    if (a->n_sentences) {
        jw_num(w, "support_min", a->support_min);
        jw_int(w, "weak", a->n_weak);
        jw_int(w, "dropped", a->n_dropped);
    }
    jw_num(w, "confidence", a->confidence);
    jw_bool(w, "fallback", a->fallback);
    jw_obj(w, "timings");
    jw_num(w, "retrieve_ms", a->retrieve_ms);
    jw_num(w, "answer_ms", a->answer_ms);
    jw_num(w, "total_ms", a->total_ms);
    jw_end_obj(w);
    jw_int(w, "n_tokens", a->n_tokens);
    jw_str(w, "query", a->query ? a->query : "");
    jw_str(w, "conversation_id", conversation_id);
    if (a->incomplete) { /* a remote stream broke mid-answer; answer is what came before */
        jw_bool(w, "incomplete", true);
        jw_str(w, "error", a->error);
    }
}

void rag_hits_json(struct jw *w, const struct rag_hit *hits, int n)
{
    jw_arr(w, "hits");
    for (int i = 0; i < n; i++) {
        const struct rag_hit *h = &hits[i];
        jw_obj(w, NULL);
        jw_int(w, "chunk_id", h->chunk_id);
        jw_int(w, "document_id", h->document_id);
        jw_str(w, "document", h->document);
        jw_str(w, "heading_path", h->heading_path);
        jw_int(w, "page_start", h->page_start);
        jw_int(w, "page_end", h->page_end);
        jw_str(w, "text", h->text);
        jw_obj(w, "scores");
        jw_num(w, "bm25", h->bm25);
        jw_num(w, "vector", h->vector);
        jw_num(w, "fused", h->fused);
        jw_end_obj(w);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

void rag_audit_json(struct jw *w, const struct index_audit *v, int n)
{
    jw_arr(w, "entries");
    for (int i = 0; i < n; i++) {
        jw_obj(w, NULL);
        jw_int(w, "id", v[i].id);
        jw_int(w, "at", v[i].at);
        jw_str(w, "actor", v[i].actor);
        jw_str(w, "action", v[i].action);
        jw_str(w, "target", v[i].target);
        jw_str(w, "detail", v[i].detail);
        jw_str(w, "ip", v[i].ip);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}
