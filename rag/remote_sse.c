/* rag/remote_sse.c: an incremental parser for the server-sent events of an OpenAI-compatible
 * POST /v1/chat/completions with "stream": true, as vLLM, SGLang, llama-server, Ollama and
 * DeepSeek-compatible APIs send them.
 *
 * Bytes arrive in arbitrary pieces (a line, half a UTF-8 character, many events at once);
 * remote_sse_feed() keeps the unfinished line in a capped buffer and handles each complete one:
 *   "data: {...}"  one chunk (several data lines of one event are joined with '\n', per the SSE
 *                  rules); the event ends at a blank line, or at the next data line when a server
 *                  omits the blank line;
 *   "data: [DONE]" the end of the stream;
 *   ": ..."        a comment (keep-alive), ignored; "event:", "id:", "retry:" are ignored.
 * A chunk's choices[0].delta.content goes to the callback as REMOTE_PIECE_CONTENT, and
 * delta.reasoning_content (DeepSeek, vLLM, llama-server) or delta.reasoning (newer vLLM, Ollama) as
 * REMOTE_PIECE_REASONING; a role-only first chunk gives nothing. choices[0].finish_reason and the
 * usage object (in the last chunk, often with an empty choices array) are kept. An error object
 * ({"error": {...}} or {"object": "error", "message": ...}) ends the parse with KB_EIO carrying the
 * server's message. A line longer than REMOTE_SSE_MAX_LINE is KB_ETOOBIG; a chunk that is not
 * JSON is KB_EJSON naming the event. remote_sse_finish() tells a finished stream from one cut
 * short. Bytes come from the network: the fuzz target fuzz/fuzz_remote_sse.c feeds them in
 * random pieces. Tests: tests/rag/test_remote_sse.c (transcripts in tests/rag/remote/). */
#include "rag/rag_int.h"

#include <stdlib.h>
#include <string.h>


void remote_sse_init(struct remote_sse *p, remote_piece_fn fn, void *ud)
{
    memset(p, 0, sizeof *p);
    kb_buf_init(&p->line, REMOTE_SSE_MAX_LINE);
    kb_buf_init(&p->data, REMOTE_SSE_MAX_LINE);
    p->fn = fn;
    p->ud = ud;
}

void remote_sse_release(struct remote_sse *p)
{
    kb_buf_release(&p->line);
    kb_buf_release(&p->data);
}

/* The text of an error object, or NULL when the chunk is not one. */
static const char *sse_error_text(const struct kb_json *chunk)
{
    const struct kb_json *e = kb_json_get(chunk, "error");
    const char *msg = NULL;
    const char *obj = kb_json_str(kb_json_get(chunk, "object"));
    if (kb_json_kind(e) == KB_JSON_OBJECT)
        msg = kb_json_str(kb_json_get(e, "message"));
    else if (kb_json_kind(e) == KB_JSON_STRING)
        msg = kb_json_str(e);
    else if (obj && strcmp(obj, "error") == 0)
        msg = kb_json_str(kb_json_get(chunk, "message"));
    if (!msg && kb_json_kind(e) != KB_JSON_INVALID && kb_json_kind(e) != KB_JSON_NULL)
        msg = "(no message)";
    return msg;
}

static int sse_piece(struct remote_sse *p, enum remote_piece kind, const struct kb_json *v, struct kb_error *err)
{
    const char *s = kb_json_str(v);
    int rc = 0;
    if (s && s[0]) {
        if (kind == REMOTE_PIECE_CONTENT)
            p->n_content++;
        else
            p->n_reasoning++;
        rc = p->fn ? p->fn(p->ud, kind, s, strlen(s), err) : 0;
    }
    return rc;
}

/* One complete event's data (p->data). */
static int sse_event(struct remote_sse *p, struct kb_error *err)
{
    struct kb_json *chunk = NULL;
    const struct kb_json *choice, *delta, *usage, *fin;
    const char *emsg;
    int rc = 0;
    if (p->data.len == 0)
        goto out;
    p->n_events++;
    if (p->done) {
        rc = kb_error_set(err, KB_ECORRUPT, "remote stream: data after [DONE] (event %d)", p->n_events);
        goto out;
    }
    if (strcmp(p->data.data, "[DONE]") == 0) {
        p->done = true;
        goto out;
    }
    if (kb_json_parse(&chunk, p->data.data, p->data.len, NULL, NULL)) {
        rc = kb_error_set(err, KB_EJSON, "remote stream: event %d is not JSON: %.60s", p->n_events,
                          p->data.data);
        goto out;
    }
    if ((emsg = sse_error_text(chunk))) {
        rc = kb_error_set(err, KB_EIO, "remote server error: %.200s", emsg);
        goto out;
    }
    if (kb_json_kind(chunk) != KB_JSON_OBJECT) {
        rc = kb_error_set(err, KB_ECORRUPT, "remote stream: event %d is not a JSON object", p->n_events);
        goto out;
    }
    usage = kb_json_get(chunk, "usage");
    if (kb_json_kind(usage) == KB_JSON_OBJECT) {
        p->usage.prompt_tokens = kb_json_i64(kb_json_get(usage, "prompt_tokens"), 0, INT32_MAX);
        p->usage.completion_tokens = kb_json_i64(kb_json_get(usage, "completion_tokens"), 0, INT32_MAX);
        p->have_usage = true;
    }
    choice = kb_json_first(kb_json_get(chunk, "choices"));
    delta = kb_json_get(choice, "delta");
    rc = sse_piece(p, REMOTE_PIECE_REASONING, kb_json_get(delta, "reasoning_content"), err);
    rc = rc ? rc : sse_piece(p, REMOTE_PIECE_REASONING, kb_json_get(delta, "reasoning"), err);
    rc = rc ? rc : sse_piece(p, REMOTE_PIECE_CONTENT, kb_json_get(delta, "content"), err);
    fin = kb_json_get(choice, "finish_reason");
    if (!rc && kb_json_str(fin))
        kb_strlcpy(p->finish_reason, kb_json_str(fin), sizeof p->finish_reason);
out:
    kb_json_free(chunk);
    kb_buf_reset(&p->data);
    return rc;
}

/* One complete line, without its end of line. */
static int sse_line(struct remote_sse *p, char *line, size_t n, struct kb_error *err)
{
    int rc = 0;
    if (n && line[n - 1] == '\r')
        line[--n] = '\0';
    if (n == 0)
        return sse_event(p, err);
    if (line[0] == ':' || strncmp(line, "data:", 5) != 0)
        return 0; /* comment, event:, id:, retry: or a field SSE says to ignore */
    line += 5;
    n -= 5;
    if (n && line[0] == ' ') {
        line++;
        n--;
    }
    /* A server that omits the blank line between events: a complete JSON chunk already held is
     * an event of its own. */
    if (p->data.len && (line[0] == '{' || strcmp(line, "[DONE]") == 0) && p->data.data[p->data.len - 1] == '}')
        rc = sse_event(p, err);
    if (!rc && p->data.len)
        rc = kb_buf_putc(&p->data, '\n');
    rc = rc ? rc : kb_buf_append(&p->data, line, n);
    if (rc == KB_ETOOBIG || rc == KB_ENOMEM)
        rc = kb_error_set(err, rc, "remote stream: an event is longer than %d bytes", REMOTE_SSE_MAX_LINE);
    return rc;
}

int remote_sse_feed(struct remote_sse *p, const char *bytes, size_t n, struct kb_error *err)
{
    int rc = 0;
    while (n && !rc) {
        const char *nl = memchr(bytes, '\n', n);
        size_t take = nl ? (size_t)(nl - bytes) : n;
        rc = kb_buf_append(&p->line, bytes, take);
        if (rc) {
            rc = kb_error_set(err, rc, "remote stream: a line is longer than %d bytes", REMOTE_SSE_MAX_LINE);
            break;
        }
        bytes += take + (nl ? 1 : 0);
        n -= take + (nl ? 1 : 0);
        if (nl) {
            char empty[1] = "";
            rc = sse_line(p, p->line.len ? p->line.data : empty, p->line.len, err);
            kb_buf_reset(&p->line);
        }
    }
    return rc;
}

int remote_sse_finish(struct remote_sse *p, struct kb_error *err)
{
    int rc = 0;
    if (p->line.len) {
        rc = sse_line(p, p->line.data, p->line.len, err);
        kb_buf_reset(&p->line);
    }
    rc = rc ? rc : sse_event(p, err);
    if (!rc && !p->done && !p->finish_reason[0])
        rc = kb_error_set(err, KB_EIO, "remote stream ended before the answer was finished (%d events)",
                          p->n_events);
    return rc;
}
