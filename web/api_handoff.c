/* web/api_handoff.c: human handoff over HTTP (issue #17): the customer's side (public, authenticated
 * by the conversation token the widget keeps in localStorage), the staff Inbox (role agent and up,
 * key scopes inbox:read / inbox:write), the live streams and agents' presence.
 *
 * Customer routes (token: 32 hex, given once by POST /api/handoff or /api/handoff/ticket; the store
 * keeps its SHA-256 only; GET routes take it as ?token=, POST routes as the body's "token"):
 *   GET  /api/handoff/status[?bot=ID|?collection=NAME] -> {enabled, live, reason: ""|disabled|hours|offline,
 *        in_hours, agents_online, wait_seconds}: the widget offers live chat when live, else the form
 *   POST /api/handoff {trigger?: button|keyword|fallbacks|thumbs_down, bot? | collection?, conversation_secret?}
 *        -> {id, token, state: "queued", position}; when live chat is not offered: 409 naming why
 *   POST /api/handoff/ticket {token?, name, email?, phone?, message, bot? | collection?} -> {id, token, kind:"ticket"}
 *        (with the token of a queued chat: that chat becomes the ticket)
 *   GET  /api/handoff/conversation?token= -> {id, kind, state, position, agent_name, rating, events}
 *   POST /api/handoff/messages {token, text} -> {seq}; 403 when the chat is closed (nothing stored)
 *   POST /api/handoff/close {token}; POST /api/handoff/rate {token, rating: 1..5}
 *   GET  /api/handoff/stream?token= (SSE; resumes after Last-Event-ID or ?last_event_id=):
 *        id: SEQ / event: message|state / data: {seq, kind, author, text, at}  (stored events)
 *        event: position data: {position}   (while queued, when it changes; no id)
 *        event: timeout  data: {wait_seconds} (queued longer than handoff.wait_seconds: offer the form)
 *        the customer's stream ends after the "closed" state event (an agent's stays open for the
 *        rating that may follow).
 * Staff routes:
 *   GET  /api/inbox -> {agents_online, open: [handoff...], closed: [the last 50], notify_failures:
 *        [{handoff_id, channel, attempts, error, at}] (the last 20 notifications that gave up)}
 *   GET  /api/inbox/stream (SSE): event: inbox data: the GET /api/inbox object, at once and after
 *        every change; while it is connected its caller counts as online (presence)
 *   GET  /api/inbox/{id} -> {handoff, events, bot: [{question, answer, mode, citations, at}]}
 *   GET  /api/inbox/{id}/stream: the conversation's events, as the customer's stream
 *   POST /api/inbox/{id}/take (409 when someone else took it first), /messages {text}, /close
 * Per-collection access: a staff member limited to some collections sees (list, streams, view,
 * take, messages, close) only the handoffs through bots whose collections it may all see; others
 * are left out of lists and 404 by id, as documents of hidden collections are (ho_visible). The
 * widget offers live chat only while an agent who may see its handoffs is online: a bot's customers
 * count the agents whose collections hold all the bot's, a customer of no bot unrestricted agents.
 * A request, status, ticket, answer or vote naming a bot follows that bot's own handoff settings,
 * else those of the collections the conversation searches, over the handoff.* keys (on/off,
 * keywords, fallbacks in a row, thumbs-down; rag_handoff_rules_for, precedence in
 * rag/coll_handoff.c): an answer over one named collection follows that collection's, a bot's
 * question, status, request or ticket its collections', a status, request or ticket naming a
 * collection (the widget's data-collection) that collection's, a vote the collection its answer
 * was asked over (else its bot's). Handoff off gets "enabled": false and 403 for requests and tickets.
 * Messages of a handoff that came from a logged bot conversation also go into that conversation's
 * log (rag_log_handoff: modes "handoff" and "agent"), so its history and export show the exchange.
 * A message over RAG_HANDOFF_TEXT_MAX characters is 400; to a conversation the caller does not hold
 * 403, not stored. While an agent holds a conversation, POST /api/ask naming its
 * conversation_secret gets 409 (the bot stays silent): web_handoff_silent.
 *
 * Live delivery: every change bumps the hub's version under its mutex, notes which handoff it touched
 * and whether the queue changed in a ring of the last HUB_RING changes, and signals the hub thread.
 * No stream holds a thread: each is a threadless stream of server.c (web_stream_open), its
 * connection suspended in libmicrohttpd between writes, and one hub thread (hub_main) writes them
 * all: it wakes on a change, a new stream, or once a second, and passes over the open streams. A
 * conversation's stream reads the store for events after its last seq only when a change touched
 * its handoff (or the ring overflowed), so a stream never loses or repeats an event (seq order is
 * the store's) and N waiting streams do not cost N queries per message. With store.backend =
 * postgres a change written on another node is noted too: the store's handoff hook
 * (index_store_on_handoff, called by the sync after it applied the change) calls hub_note. Queue positions come from
 * one shared snapshot of the queue's ids, read again only after the queue changed; the Inbox list
 * is built once per pass for every open Inbox stream. Each pass notices a stopping server or a
 * client gone (server.c marks it) and closes those streams; a comment line goes out every 15 s
 * (Inbox: 5 s) to keep proxies from closing them, and that write is also how a closed page is
 * noticed (libmicrohttpd does not poll a suspended connection), so an agent who closed the Inbox
 * counts as online for up to two pings. Streams are bounded by WEB_MAX_STREAMS, apart from the
 * answer threads (WEB_MAX_TASKS). Presence is in memory: nobody is online after a restart until an
 * Inbox connects again, which is the truth. With store.backend = postgres the hub hands its agents
 * to the store on every change (index_presence_set) and counts those online on other nodes too
 * (index_presence_remote): index/pg_nodes.c shares them through PostgreSQL by heartbeat, so a
 * customer of node B is offered a person while an agent's Inbox is open on node A, and no longer
 * once A noticed the agent left, within two heartbeats (4 s), or 10 s after A died.
 * Size: about 1000 lines, because the customer routes, the Inbox routes and both kinds of stream
 * share the hub and the JSON writers; the hub (wake-ups, presence, queue snapshot) is the part to
 * move to a file of its own when this grows.
 * Tests: tests/web/test_handoff.c (every route, state change and error over HTTP on 127.0.0.1). */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/index.h"

#define HUB_AGENTS_MAX 64      /* distinct agents counted online */
#define HO_PING_S 15           /* seconds between keep-alive comments of a customer's stream */
#define HO_INBOX_PING_S 5      /* the same for Inbox streams: a write is how a closed page is noticed
                                  (a suspended connection is not polled), and presence depends on it */
#define HO_CLOSED_LISTED 50    /* closed conversations in the Inbox list */

#define HUB_RING 1024          /* recent changes a waking stream can tell apart */

struct stream_job;

struct web_hub {
    struct web_ctx *ctx;       /* borrowed; the server's, outlives the hub */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* signalled on every change and every new stream (the hub thread waits) */
    pthread_t thread;          /* hub_main: writes every open stream */
    bool started;
    bool quit;                 /* web_hub_release: the hub thread ends */
    bool kick;                 /* web_hub_wake: pass over the streams now (the server stops) */
    struct stream_job *incoming; /* opened by handlers, not yet taken over by the hub thread (mu) */
    struct stream_job *streams;  /* the hub thread's own list (touched by that thread only) */
    struct kb_buf ev;          /* one event being written (hub thread only) */
    uint64_t version;          /* bumped on every change */
    struct {
        uint64_t version;      /* the change's version */
        int64_t id;            /* the handoff it touched; 0: none (presence) */
        bool queue;            /* the queue of waiting chats changed (a take, close, ticket) */
    } ring[HUB_RING];          /* change v sits at ring[v % HUB_RING] */
    uint64_t queue_changes;    /* count of queue changes */
    struct {
        char actor[200];       /* "" when free */
        int n_streams;         /* Inbox streams of this agent open now */
        char collections[512]; /* the agent's collections (who.collections); "" all */
    } agents[HUB_AGENTS_MAX];
    pthread_mutex_t qmu;       /* guards the queue snapshot below (never taken with mu held) */
    uint64_t q_loaded;         /* queue_changes when ids was read */
    bool q_valid;
    int64_t *q_ids;            /* the queued chats' ids, ascending; owned */
    int q_n;
};

static void *hub_main(void *arg);
static void hub_note(struct web_hub *h, int64_t id, bool queue);

/* index_store_on_handoff: another node changed handoff id (store.backend = postgres) */
static void hub_on_store_change(void *ctx, int64_t id)
{
    hub_note(ctx, id, true);
}

void web_hub_init(struct web_ctx *ctx)
{
    struct web_hub *h = kb_xcalloc(1, sizeof *h);
    pthread_condattr_t ca;
    h->ctx = ctx;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->qmu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    kb_buf_init(&h->ev, 0);
    ctx->hub = h;
    /* without the thread no stream can open (stream_add refuses): the rest of kbox still works */
    h->started = pthread_create(&h->thread, NULL, hub_main, h) == 0;
    if (!h->started)
        kb_warn("handoff: cannot start the stream thread; live streams are off");
    if (ctx->rag)
        index_store_on_handoff(rag_store(ctx->rag), hub_on_store_change, h);
}

void web_hub_wake(struct web_ctx *ctx)
{
    struct web_hub *h = ctx->hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->kick = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void web_hub_release(struct web_ctx *ctx)
{
    struct web_hub *h = ctx->hub;
    if (!h)
        return;
    if (ctx->rag)
        index_store_on_handoff(rag_store(ctx->rag), NULL, NULL);
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->quit = true;
        pthread_cond_broadcast(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    kb_buf_release(&h->ev);
    pthread_cond_destroy(&ctx->hub->cv);
    pthread_mutex_destroy(&ctx->hub->mu);
    pthread_mutex_destroy(&ctx->hub->qmu);
    free(ctx->hub->q_ids);
    free(ctx->hub);
    ctx->hub = NULL;
}

/* Records a change of handoff id (0: none) and wakes every stream. Lock held. */
static void hub_note_locked(struct web_hub *h, int64_t id, bool queue)
{
    h->version++;
    h->ring[h->version % HUB_RING].version = h->version;
    h->ring[h->version % HUB_RING].id = id;
    h->ring[h->version % HUB_RING].queue = queue;
    h->queue_changes += queue;
    pthread_cond_broadcast(&h->cv);
}

static void hub_note(struct web_hub *h, int64_t id, bool queue)
{
    pthread_mutex_lock(&h->mu);
    hub_note_locked(h, id, queue);
    pthread_mutex_unlock(&h->mu);
}

/* What changed after version since, for a stream of handoff id: *mine when id was touched, *queue
 * when the queue was; both when the ring no longer holds every change since then. */
static void hub_changes(struct web_hub *h, uint64_t since, int64_t id, bool *mine, bool *queue)
{
    *mine = *queue = false;
    pthread_mutex_lock(&h->mu);
    if (h->version - since >= HUB_RING) {
        *mine = *queue = true;
    } else {
        for (uint64_t v = since + 1; v <= h->version; v++) {
            *mine = *mine || h->ring[v % HUB_RING].id == id;
            *queue = *queue || h->ring[v % HUB_RING].queue;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

/* The 1-based queue place of handoff id (0: not queued) from one shared snapshot of the queue, read
 * again from the store only after the queue changed: N waiting streams cost one query per change. */
static int hub_position(struct web_hub *h, struct rag *r, int64_t id, int64_t *pos, struct kb_error *err)
{
    uint64_t changes;
    int rc = 0, lo, hi;
    pthread_mutex_lock(&h->mu);
    changes = h->queue_changes;
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&h->qmu);
    if (!h->q_valid || h->q_loaded != changes) {
        int64_t *ids = NULL;
        int n = 0;
        if ((rc = index_handoff_queue(rag_store(r), &ids, &n, err)) == 0) {
            free(h->q_ids);
            h->q_ids = ids;
            h->q_n = n;
            h->q_loaded = changes;
            h->q_valid = true;
        }
    }
    for (lo = 0, hi = h->q_n; lo < hi;) { /* binary search */
        int mid = lo + (hi - lo) / 2;
        if (h->q_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo < h->q_n && h->q_ids[lo] == id ? lo + 1 : 0;
    pthread_mutex_unlock(&h->qmu);
    return rc;
}

/* Agents online (all: every one; else those who may see the handoffs through bot b, NULL: through
 * no bot, which only unrestricted agents see; ho_visible's rule). */
static bool hub_agent_counts(struct web_req *v, bool all, const struct rag_bot *b, const char *collections)
{
    if (all || !collections[0])
        return true;
    kb_strlcpy(v->who.collections, collections, sizeof v->who.collections);
    return b && web_bot_visible(v, b);
}

/* With store.backend = postgres, agents online on other nodes count too (index_presence_remote: the
 * sync thread's cache of PostgreSQL's presence rows, never a query here); each agent once. */
static int hub_online(struct web_hub *h, bool all, const struct rag_bot *b)
{
    int n = 0, n_remote;
    struct web_req *v = kb_xcalloc(1, sizeof *v); /* only who.collections is read */
    struct index_presence *remote = kb_xmalloc(INDEX_PRESENCE_MAX * sizeof *remote);
    n_remote = index_presence_remote(rag_store(h->ctx->rag), remote, INDEX_PRESENCE_MAX);
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < HUB_AGENTS_MAX; i++)
        if (h->agents[i].actor[0] && hub_agent_counts(v, all, b, h->agents[i].collections))
            n++;
    for (int r = 0; r < n_remote; r++) {
        bool here = false;
        for (int i = 0; i < HUB_AGENTS_MAX && !here; i++)
            here = h->agents[i].actor[0] && !strcmp(h->agents[i].actor, remote[r].actor);
        for (int k = 0; k < r && !here; k++) /* one agent with Inboxes on two other nodes */
            here = !strcmp(remote[k].actor, remote[r].actor);
        if (!here && hub_agent_counts(v, all, b, remote[r].collections))
            n++;
    }
    pthread_mutex_unlock(&h->mu);
    free(remote);
    free(v);
    return n;
}

/* This node's agents handed to the store, which shares them with the other nodes through
 * PostgreSQL (store.backend = postgres; a no-op otherwise; never waits for PostgreSQL). h->mu held. */
static void hub_publish_locked(struct web_hub *h)
{
    struct index_presence *p = kb_xmalloc(HUB_AGENTS_MAX * sizeof *p);
    int n = 0;
    for (int i = 0; i < HUB_AGENTS_MAX && n < INDEX_PRESENCE_MAX; i++) {
        if (!h->agents[i].actor[0])
            continue;
        kb_strlcpy(p[n].actor, h->agents[i].actor, sizeof p[n].actor);
        kb_strlcpy(p[n].collections, h->agents[i].collections, sizeof p[n].collections);
        n++;
    }
    index_presence_set(rag_store(h->ctx->rag), p, n);
    free(p);
}

/* An Inbox stream of actor (limited to collections, "" all) opens (+1) or closes (-1). */
static void hub_presence(struct web_hub *h, const char *actor, const char *collections, int delta)
{
    int free_i = -1, i;
    pthread_mutex_lock(&h->mu);
    for (i = 0; i < HUB_AGENTS_MAX; i++) {
        if (!h->agents[i].actor[0] && free_i < 0)
            free_i = i;
        if (h->agents[i].actor[0] && !strcmp(h->agents[i].actor, actor))
            break;
    }
    if (i == HUB_AGENTS_MAX && delta > 0 && free_i >= 0) {
        i = free_i;
        kb_strlcpy(h->agents[i].actor, actor, sizeof h->agents[i].actor);
        kb_strlcpy(h->agents[i].collections, collections, sizeof h->agents[i].collections);
    }
    if (i < HUB_AGENTS_MAX) {
        h->agents[i].n_streams += delta;
        if (h->agents[i].n_streams <= 0) {
            h->agents[i].actor[0] = '\0';
            h->agents[i].n_streams = 0;
        }
    }
    hub_note_locked(h, 0, false);
    hub_publish_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* ---- availability and triggers ------------------------------------------------------------------------ */

struct ho_avail {
    bool enabled, in_hours, live;
    int agents_online;
    const char *reason;        /* "", "disabled", "hours", "offline" */
    const char *off_by;        /* when !enabled: "bot", "collection" or "config" (handoff.enabled) */
    int64_t wait_seconds;
};

static int ho_availability(struct web_ctx *ctx, const struct rag_bot *bot, int64_t collection_id, struct ho_avail *av,
                           struct kb_error *err)
{
    const struct config *cfg = rag_config_get(ctx->rag);
    struct rag_handoff_rules rules;
    char kw[8]; /* the keywords are not used here */
    int rc = rag_handoff_in_hours(cfg->handoff_hours, cfg->handoff_timezone, (int64_t)time(NULL), &av->in_hours, err);
    /* a bot's own handoff on/off, else its collections', over handoff.enabled (a store error reading
     * the collections' settings leaves the bot's and the global ones: not worth refusing the customer) */
    rag_handoff_rules_for(ctx->rag, bot, collection_id, &rules, kw, sizeof kw, NULL);
    av->enabled = rules.enabled;
    av->off_by = bot && bot->handoff == 0 ? "bot" : cfg->handoff_enabled ? "collection" : "config";
    av->wait_seconds = cfg->handoff_wait_seconds;
    av->agents_online = hub_online(ctx->hub, false, bot); /* those who may take this customer */
    av->reason = !av->enabled ? "disabled" : !av->in_hours ? "hours" : av->agents_online == 0 ? "offline" : "";
    av->live = !av->reason[0];
    rag_config_put(ctx->rag, cfg);
    return rc;
}

/* The rules for a question or vote through bot_id (NULL/"": the global keys; an unknown bot, which
 * the answer or vote already refused or ignored, also gets the global keys) over collection_id (0:
 * the bot's collections, or none): rag_handoff_rules_for, whose precedence is coll_handoff.c's.
 * keywords is copied into kw so it outlives the bot's arena and the snapshot. */
static void ho_rules(struct web_ctx *ctx, const char *bot_id, int64_t collection_id, struct rag_handoff_rules *out,
                     char *kw, size_t kw_bytes)
{
    struct kb_arena a;
    struct rag_bot b;
    bool have = false;
    kb_arena_init(&a, 0, 0);
    if (bot_id && bot_id[0])
        have = rag_bot_get(ctx->rag, bot_id, &a, &b, NULL) == 0;
    rag_handoff_rules_for(ctx->rag, have ? &b : NULL, collection_id, out, kw, kw_bytes, NULL);
    kb_arena_release(&a);
}

const char *web_handoff_offer(struct web_ctx *ctx, const char *bot_id, int64_t collection_id, const char *question,
                              const struct rag_answer *a)
{
    struct rag_handoff_rules h;
    char kw[4200]; /* handoff.keywords is at most 4096 bytes */
    const char *offer = NULL;
    ho_rules(ctx, bot_id, collection_id, &h, kw, sizeof kw);
    if (h.enabled && rag_handoff_keyword(h.keywords, question)) {
        offer = "keyword";
    } else if (h.enabled && a->fallback && h.after_fallbacks > 0) {
        struct kb_error e = {0};
        int n = 0;
        /* the earlier answers of this conversation in the log (without this one, written or not), plus it */
        if (a->log_secret[0] && rag_handoff_fallback_streak(ctx->rag, a->log_secret, a->message_id, &n, &e) == 0 &&
            n + 1 >= h.after_fallbacks)
            offer = "fallbacks";
        else if (h.after_fallbacks <= 1)
            offer = "fallbacks";
    }
    return offer;
}

bool web_handoff_thumbs_down_offer(struct web_ctx *ctx, const char *bot_id, int64_t message_id, int vote)
{
    struct rag_handoff_rules h;
    char kw[8];
    int64_t coll = 0;
    if (vote >= 0)
        return false;
    /* the collection the voted answer was asked over (0 all: then the bot's collections, if any) */
    index_message_collection(rag_store(ctx->rag), message_id, &coll, NULL);
    ho_rules(ctx, bot_id, coll, &h, kw, sizeof kw);
    return h.enabled && h.on_thumbs_down;
}

int web_handoff_silent(struct web_ctx *ctx, const char *conversation_secret, struct kb_error *err)
{
    bool held = false;
    int rc = index_handoff_held(rag_store(ctx->rag), conversation_secret, &held, err);
    if (rc == 0 && held)
        rc = kb_error_set(err, KB_ECONFLICT, "a person is answering this conversation; send messages with POST "
                                             "/api/handoff/messages");
    return rc;
}

/* ---- shared pieces ------------------------------------------------------------------------------------ */

/* The origin check of a customer's request: the bot's own list when it names one, else the global.
 * With bot_out: *bot_out is the bot read (strings in req->arena), or NULL when none is named. */
static int ho_origin_bot(struct web_req *req, const char *bot_id, struct rag_bot *bot, const struct rag_bot **bot_out,
                         struct kb_error *err)
{
    *bot_out = NULL;
    if (bot_id && bot_id[0]) {
        int rc = web_bot_admit(req, bot_id, bot, err);
        *bot_out = rc ? NULL : bot;
        return rc;
    }
    return web_origin_global(req, err);
}

static int ho_origin(struct web_req *req, const char *bot_id, struct kb_error *err)
{
    struct rag_bot bot;
    const struct rag_bot *b;
    return ho_origin_bot(req, bot_id, &bot, &b, err);
}

static bool ho_token_ok(const char *t)
{
    return t && strlen(t) == 32 && strspn(t, "0123456789abcdef") == 32;
}

/* Finds the handoff of a customer's token and checks the origin against its bot. */
static int ho_by_token(struct web_req *req, const char *token, struct index_handoff *h, struct kb_error *err)
{
    char hash[65];
    int rc;
    /* 400 and 404, not 401: 401 and 403 are admission's answers (the route is public), and the
     * token names a conversation as an id would */
    if (!ho_token_ok(token))
        return kb_error_set(err, KB_EINVAL, "token must be the 32-character conversation token");
    web_sha256_hex(token, hash);
    rc = index_handoff_get(rag_store(req->ctx->rag), 0, hash, &req->arena, h, err);
    if (rc == KB_ENOENT)
        rc = kb_error_set(err, KB_ENOENT, "unknown conversation token");
    return rc ? rc : ho_origin(req, h->bot_id, err);
}

static void ho_json(struct jw *w, const char *key, const struct index_handoff *h, bool staff)
{
    jw_obj(w, key);
    jw_int(w, "id", h->id);
    jw_str(w, "kind", h->kind);
    jw_str(w, "state", h->state);
    jw_str(w, "trigger", h->trigger);
    jw_str(w, "bot", h->bot_id);
    jw_str(w, "agent_name", h->agent_name);
    jw_int(w, "rating", h->rating);
    jw_int(w, "created_at", h->created_at);
    jw_int(w, "taken_at", h->taken_at);
    jw_int(w, "closed_at", h->closed_at);
    jw_int(w, "last_event", h->last_event);
    if (staff) {
        jw_str(w, "name", h->name);
        jw_str(w, "contact", h->contact);
        jw_str(w, "message", h->message);
        jw_str(w, "closed_by", h->closed_by);
        jw_bool(w, "from_bot", h->log_secret[0] != '\0');
    }
    jw_end_obj(w);
}

static void ho_event_json(struct jw *w, const struct index_handoff_event *e)
{
    jw_obj(w, NULL);
    jw_int(w, "seq", e->seq);
    jw_str(w, "kind", e->kind);
    jw_str(w, "author", e->author);
    jw_str(w, "text", e->text);
    jw_int(w, "at", e->created_at);
    jw_end_obj(w);
}

static int ho_events_json(struct web_req *req, struct jw *w, int64_t id, struct kb_error *err)
{
    struct index_handoff_event *ev;
    int n, rc;
    int64_t after = 0;
    jw_arr(w, "events");
    do { /* every event, a page at a time */
        if ((rc = index_handoff_events(rag_store(req->ctx->rag), id, after, 0, &req->arena, &ev, &n, err)))
            break;
        for (int i = 0; i < n; i++)
            ho_event_json(w, &ev[i]);
        after = n ? ev[n - 1].seq : after;
    } while (n == INDEX_HANDOFF_EVENTS_MAX);
    jw_end_arr(w);
    return rc;
}

/* Queues the notifications of a new handoff or ticket; a failure to queue is logged, never the
 * customer's error (the conversation exists). */
static void ho_notify(struct web_req *req, int64_t id)
{
    struct kb_error e = {0};
    if (rag_handoff_notify(req->ctx->rag, id, &e))
        kb_warn("handoff %lld: notifications not queued: %s", (long long)id, e.msg);
}

/* The display name of a staff principal: the account's email, or "admin". */
static const char *ho_agent_name(const struct web_req *req)
{
    const char *a = req->who.actor;
    return !strncmp(a, "user:", 5) ? a + 5 : !strncmp(a, "key:", 4) ? a : "admin";
}

/* Per-collection access: a principal limited to some collections (who.collections) sees only the
 * handoffs through bots whose collections it may all see (web_bot_visible); a handoff through no
 * bot (the global widget answers from every collection) only an unrestricted one. viewer NULL:
 * everything. Only viewer->ctx and viewer->who are read. */
static bool ho_visible(const struct web_req *viewer, const char *bot_id)
{
    struct kb_arena a;
    struct rag_bot b;
    bool ok;
    if (!viewer || !viewer->who.collections[0])
        return true;
    if (!bot_id || !bot_id[0])
        return false;
    kb_arena_init(&a, 0, 0);
    ok = rag_bot_get(viewer->ctx->rag, bot_id, &a, &b, NULL) == 0 && web_bot_visible(viewer, &b);
    kb_arena_release(&a);
    return ok;
}

/* A staff route's handoff {id}: KB_ENOENT, as for one that does not exist, when the caller may not
 * see it (so a restricted agent learns nothing of other collections' conversations). */
static int ho_staff_get(struct web_req *req, int64_t id, struct index_handoff *h, struct kb_error *err)
{
    int rc = index_handoff_get(rag_store(req->ctx->rag), id, NULL, &req->arena, h, err);
    if (rc == 0 && !ho_visible(req, h->bot_id))
        rc = kb_error_set(err, KB_ENOENT, "no handoff with id %lld", (long long)id);
    return rc;
}

/* The collection a customer's widget names (data-collection, no bot): its handoff settings apply.
 * 400 when a bot is named too (the bot has its collections), 404 for an unknown one. */
static int ho_collection(struct web_req *req, const char *bot_id, const char *coll, int64_t *id, struct kb_error *err)
{
    *id = 0;
    if (!coll || !coll[0])
        return 0;
    if (bot_id && bot_id[0])
        return kb_error_set(err, KB_EINVAL, "name a bot or a collection, not both (the bot has its collections)");
    return web_collection_resolve(req->ctx, coll, id, err);
}

/* 403 naming what turned handoff off: the bot, its collections or handoff.enabled. */
static int ho_off_error(const struct rag_bot *bp, const struct ho_avail *av, struct kb_error *err)
{
    if (!strcmp(av->off_by, "bot"))
        return kb_error_set(err, KB_EFORBIDDEN, "handoff to a person is off for bot '%s'", bp ? bp->id : "");
    if (!strcmp(av->off_by, "collection") && bp)
        return kb_error_set(err, KB_EFORBIDDEN, "handoff to a person is off for a collection of bot '%s'", bp->id);
    if (!strcmp(av->off_by, "collection"))
        return kb_error_set(err, KB_EFORBIDDEN, "handoff to a person is off for this collection");
    return kb_error_set(err, KB_EFORBIDDEN, "handoff to a person is off (handoff.enabled)");
}

/* ---- customer routes ---------------------------------------------------------------------------------- */

int web_h_handoff_status(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct ho_avail av;
    struct rag_bot bot;
    const struct rag_bot *bp;
    struct jw w;
    int rc;
    int64_t coll;
    if ((rc = ho_collection(req, web_req_query(req, "bot"), web_req_query(req, "collection"), &coll, err)) ||
        (rc = ho_origin_bot(req, web_req_query(req, "bot"), &bot, &bp, err)) ||
        (rc = ho_availability(req->ctx, bp, coll, &av, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_bool(&w, "enabled", av.enabled);
    jw_bool(&w, "live", av.live);
    jw_str(&w, "reason", av.reason);
    jw_bool(&w, "in_hours", av.in_hours);
    jw_int(&w, "agents_online", av.agents_online);
    jw_int(&w, "wait_seconds", av.wait_seconds);
    jw_end_obj(&w);
    return 0;
}

struct request_body {
    char *trigger, *bot, *conversation_secret, *collection;
};
static const struct kb_jfield request_fields[] = {
    {.name = "trigger", .type = KB_J_STR, .off = offsetof(struct request_body, trigger)},
    {.name = "bot", .type = KB_J_STR, .off = offsetof(struct request_body, bot)},
    {.name = "conversation_secret", .type = KB_J_STR, .off = offsetof(struct request_body, conversation_secret)},
    {.name = "collection", .type = KB_J_IDNAME, .off = offsetof(struct request_body, collection)},
    {0},
};

static int ho_trigger_check(const char *t, struct kb_error *err)
{
    static const char *const ok[] = {"button", "keyword", "fallbacks", "thumbs_down"};
    for (size_t i = 0; i < KB_ARRAY_LEN(ok); i++)
        if (!strcmp(t, ok[i]))
            return 0;
    return kb_error_set(err, KB_EINVAL, "trigger must be button, keyword, fallbacks or thumbs_down");
}

static int ho_secret_check(const char *s, struct kb_error *err)
{
    if (s && s[0] && (strlen(s) != 32 || strspn(s, "0123456789abcdef") != 32))
        return kb_error_set(err, KB_EINVAL, "conversation_secret must be the 32-character secret of an earlier answer");
    return 0;
}

/* Writes {id, token, ...} for a new handoff. */
static void ho_created_json(struct web_resp *resp, int64_t id, const char *token, const char *kind, int64_t position)
{
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "id", id);
    jw_str(&w, "token", token);
    jw_str(&w, "kind", kind);
    jw_str(&w, "state", "queued");
    jw_int(&w, "position", position);
    jw_end_obj(&w);
}

int web_h_handoff_request(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct request_body b = {0};
    struct index_handoff h = {0};
    struct ho_avail av;
    struct rag_bot bot;
    const struct rag_bot *bp;
    char token[33], hash[65];
    int64_t id, pos = 0, coll;
    int rc;
    if ((rc = kb_json_decode(req->body, req->body_bytes, request_fields, &b, &req->arena, err)) ||
        (rc = ho_trigger_check(b.trigger && b.trigger[0] ? b.trigger : "button", err)) ||
        (rc = ho_secret_check(b.conversation_secret, err)) || (rc = ho_collection(req, b.bot, b.collection, &coll, err)) ||
        (rc = ho_origin_bot(req, b.bot, &bot, &bp, err)) || (rc = ho_availability(req->ctx, bp, coll, &av, err)))
        return rc;
    if (!av.enabled)
        return ho_off_error(bp, &av, err);
    if (!av.live)
        return kb_error_set(err, KB_ECONFLICT, "%s; leave a message with POST /api/handoff/ticket",
                            !strcmp(av.reason, "hours") ? "outside business hours" : "no agent is online");
    web_random_hex(token, 32);
    web_sha256_hex(token, hash);
    h.kind = "chat";
    h.trigger = b.trigger && b.trigger[0] ? b.trigger : "button";
    h.bot_id = b.bot;
    h.log_secret = b.conversation_secret;
    if ((rc = index_handoff_create(rag_store(req->ctx->rag), &h, hash, &id, err)) ||
        (rc = index_handoff_position(rag_store(req->ctx->rag), id, &pos, err)))
        return rc;
    hub_note(req->ctx->hub, id, true);
    ho_notify(req, id);
    ho_created_json(resp, id, token, "chat", pos);
    return 0;
}

struct ticket_body {
    char *token, *name, *email, *phone, *message, *bot, *conversation_secret, *collection;
};
static const struct kb_jfield ticket_fields[] = {
    {.name = "token", .type = KB_J_STR, .off = offsetof(struct ticket_body, token)},
    {.name = "name", .type = KB_J_STR, .off = offsetof(struct ticket_body, name), .required = true},
    {.name = "email", .type = KB_J_STR, .off = offsetof(struct ticket_body, email)},
    {.name = "phone", .type = KB_J_STR, .off = offsetof(struct ticket_body, phone)},
    {.name = "message", .type = KB_J_STR, .off = offsetof(struct ticket_body, message), .required = true},
    {.name = "bot", .type = KB_J_STR, .off = offsetof(struct ticket_body, bot)},
    {.name = "conversation_secret", .type = KB_J_STR, .off = offsetof(struct ticket_body, conversation_secret)},
    {.name = "collection", .type = KB_J_IDNAME, .off = offsetof(struct ticket_body, collection)},
    {0},
};

/* The ticket form: a name (1..200 bytes), an email (something@something.tld) or a phone (7..20
 * digits with + - ( ) and spaces), and a message. */
static int ticket_check(const struct ticket_body *b, char *contact, size_t contact_bytes, struct kb_error *err)
{
    const char *e = b->email ? b->email : "", *p = b->phone ? b->phone : "";
    size_t n_digits = 0;
    int rc;
    if (!b->name[0] || strlen(b->name) > 200 || !kb_utf8_valid(b->name, strlen(b->name)))
        return kb_error_set(err, KB_EINVAL, "name must be 1 to 200 bytes of text");
    if (!e[0] && !p[0])
        return kb_error_set(err, KB_EINVAL, "give an email or a phone number");
    if (e[0]) {
        const char *at = strchr(e, '@');
        if (strlen(e) > 254 || !at || at == e || !strchr(at, '.') || strchr(at + 1, '@') || strpbrk(e, " \t\r\n<>,;"))
            return kb_error_set(err, KB_EINVAL, "email '%.64s' is not an email address", e);
    }
    if (p[0]) {
        for (const char *c = p; *c; c++) {
            if (*c >= '0' && *c <= '9')
                n_digits++;
            else if (!strchr("+-() ", *c))
                return kb_error_set(err, KB_EINVAL, "phone '%.32s' may hold only digits, spaces and + - ( )", p);
        }
        if (n_digits < 7 || n_digits > 20)
            return kb_error_set(err, KB_EINVAL, "phone '%.32s' must have 7 to 20 digits", p);
    }
    if ((rc = rag_handoff_text_check(b->message, err))) {
        char why[200];
        kb_strlcpy(why, err ? err->msg : "", sizeof why);
        return kb_error_set(err, rc, "message: %s", why);
    }
    snprintf(contact, contact_bytes, "%s%s%s", e, e[0] && p[0] ? " / " : "", p);
    return 0;
}

int web_h_handoff_ticket(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct ticket_body b = {0};
    char contact[300], token[33], hash[65];
    int64_t id;
    int rc;
    if ((rc = kb_json_decode(req->body, req->body_bytes, ticket_fields, &b, &req->arena, err)) ||
        (rc = ticket_check(&b, contact, sizeof contact, err)) || (rc = ho_secret_check(b.conversation_secret, err)))
        return rc;
    if (b.token && b.token[0]) { /* a queued chat nobody took becomes this ticket */
        struct index_handoff h;
        if ((rc = ho_by_token(req, b.token, &h, err)) ||
            (rc = index_handoff_to_ticket(rag_store(req->ctx->rag), h.id, b.name, contact, b.message, err)))
            return rc;
        hub_note(req->ctx->hub, h.id, true);
        ho_notify(req, h.id);
        ho_created_json(resp, h.id, b.token, "ticket", 0);
        return 0;
    }
    {
        struct index_handoff h = {0};
        struct ho_avail av;
        struct rag_bot bot;
        const struct rag_bot *bp;
        int64_t coll;
        if ((rc = ho_collection(req, b.bot, b.collection, &coll, err)) || (rc = ho_origin_bot(req, b.bot, &bot, &bp, err)))
            return rc;
        ho_availability(req->ctx, bp, coll, &av, NULL); /* only .enabled is used: hours do not matter to a ticket */
        if (!av.enabled)
            return ho_off_error(bp, &av, err);
        web_random_hex(token, 32);
        web_sha256_hex(token, hash);
        h.kind = "ticket";
        h.trigger = "ticket";
        h.bot_id = b.bot;
        h.log_secret = b.conversation_secret;
        h.name = b.name;
        h.contact = contact;
        h.message = b.message;
        if ((rc = index_handoff_create(rag_store(req->ctx->rag), &h, hash, &id, err)))
            return rc;
    }
    hub_note(req->ctx->hub, id, false);
    ho_notify(req, id);
    ho_created_json(resp, id, token, "ticket", 0);
    return 0;
}

int web_h_handoff_conversation(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_handoff h;
    struct jw w;
    int64_t pos = 0;
    int rc;
    if ((rc = ho_by_token(req, web_req_query(req, "token"), &h, err)) ||
        (rc = index_handoff_position(rag_store(req->ctx->rag), h.id, &pos, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    ho_json(&w, "handoff", &h, false);
    jw_int(&w, "position", pos);
    rc = ho_events_json(req, &w, h.id, err);
    jw_end_obj(&w);
    return rc;
}

struct msg_body {
    char *token, *text;
    int64_t rating;
};
static const struct kb_jfield msg_fields[] = {
    {.name = "token", .type = KB_J_STR, .off = offsetof(struct msg_body, token)},
    {.name = "text", .type = KB_J_STR, .off = offsetof(struct msg_body, text)},
    {.name = "rating", .type = KB_J_INT, .off = offsetof(struct msg_body, rating)},
    {0},
};

static void seq_json(struct web_resp *resp, int64_t seq)
{
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    jw_int(&w, "seq", seq);
    jw_end_obj(&w);
}

static void ok_json(struct web_resp *resp)
{
    kb_buf_puts(&resp->body, "{\"ok\":true}");
}

int web_h_handoff_message(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct msg_body b = {0};
    struct index_handoff h;
    int64_t seq;
    int rc;
    if ((rc = kb_json_decode(req->body, req->body_bytes, msg_fields, &b, &req->arena, err)) ||
        (rc = ho_by_token(req, b.token, &h, err)) || (rc = rag_handoff_text_check(b.text, err)) ||
        (rc = index_handoff_message(rag_store(req->ctx->rag), h.id, NULL, NULL, b.text, &seq, err)))
        return rc;
    hub_note(req->ctx->hub, h.id, false);
    rag_log_handoff(req->ctx->rag, h.log_secret, false, NULL, b.text);
    seq_json(resp, seq);
    return 0;
}

int web_h_handoff_close(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct msg_body b = {0};
    struct index_handoff h;
    int rc;
    if ((rc = kb_json_decode(req->body, req->body_bytes, msg_fields, &b, &req->arena, err)) ||
        (rc = ho_by_token(req, b.token, &h, err)) ||
        (rc = index_handoff_close(rag_store(req->ctx->rag), h.id, NULL, "customer", err)))
        return rc;
    hub_note(req->ctx->hub, h.id, true);
    ok_json(resp);
    return 0;
}

int web_h_handoff_rate(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct msg_body b = {0};
    struct index_handoff h;
    int rc;
    if ((rc = kb_json_decode(req->body, req->body_bytes, msg_fields, &b, &req->arena, err)) ||
        (rc = ho_by_token(req, b.token, &h, err)))
        return rc;
    if (b.rating < 1 || b.rating > 5)
        return kb_error_set(err, KB_EINVAL, "rating must be 1 to 5");
    if (!h.agent[0])
        return kb_error_set(err, KB_ECONFLICT, "no agent has answered this conversation yet");
    if ((rc = index_handoff_rate(rag_store(req->ctx->rag), h.id, (int)b.rating, err)))
        return rc;
    hub_note(req->ctx->hub, h.id, false);
    ok_json(resp);
    return 0;
}

/* ---- live streams ---------------------------------------------------------------------------------------- */

/* One open stream, written by the hub thread only (after stream_add handed it over). */
struct stream_job {
    struct web_task *t;        /* the threadless stream (server.c); borrowed until web_stream_close */
    int64_t id;                /* the handoff (0: the Inbox list) */
    int64_t after;             /* last seq sent */
    bool customer;             /* position and timeout events */
    int64_t created_at;        /* customer streams: when the handoff was created (unix s) */
    int64_t wait_s;            /* customer streams: handoff.wait_seconds at the stream's start */
    bool closed_at_start;      /* the conversation was already closed: send what is left, then end */
    char actor[200];           /* Inbox streams: who is online */
    struct web_req *viewer;    /* Inbox streams of a principal limited to some collections: its ctx
                                  and who (ho_visible); owned; NULL: unrestricted */
    bool started;              /* the first pass ran (retry line, the events so far, presence) */
    uint64_t v;                /* hub version this stream has caught up with */
    int64_t last_pos;          /* customer: position last sent (-1: none yet) */
    double last_emit;          /* when the last bytes went out (monotonic s), for the pings */
    bool closed, timed_out;    /* the closed state / the timeout event went out */
    struct stream_job *next;
};

static int stream_emit(struct web_hub *h, struct stream_job *j, int64_t id, const char *event, const char *json,
                       size_t n)
{
    kb_buf_reset(&h->ev);
    if (id > 0)
        kb_buf_printf(&h->ev, "id: %lld\n", (long long)id);
    kb_buf_printf(&h->ev, "event: %s\ndata: ", event);
    kb_buf_append(&h->ev, json, n);
    kb_buf_puts(&h->ev, "\n\n");
    return web_task_emit(j->t, h->ev.data, h->ev.len);
}

/* Sends the events after j->after; j->closed when the closed state went out. Nonzero: stop. */
static int stream_events(struct web_hub *h, struct stream_job *j)
{
    struct kb_arena a;
    struct index_handoff_event *ev;
    struct kb_error err = {0};
    int n = 0, stop = 0;
    kb_arena_init(&a, 16 * 1024, 0);
    do {
        if (index_handoff_events(rag_store(h->ctx->rag), j->id, j->after, 0, &a, &ev, &n, &err)) {
            kb_warn("handoff %lld: %s", (long long)j->id, err.msg);
            break;
        }
        for (int i = 0; i < n && !stop; i++) {
            struct kb_buf b;
            struct jw w;
            kb_buf_init(&b, 0);
            jw_init(&w, &b);
            ho_event_json(&w, &ev[i]);
            stop = stream_emit(h, j, ev[i].seq, strcmp(ev[i].kind, "state") ? "message" : "state", b.data, b.len);
            kb_buf_release(&b);
            j->after = ev[i].seq;
            j->closed = j->closed || (!strcmp(ev[i].kind, "state") && !strcmp(ev[i].text, "closed"));
        }
    } while (!stop && n == INDEX_HANDOFF_EVENTS_MAX);
    kb_arena_release(&a);
    return stop;
}

/* Customer extras while queued: the position when it changed (read from the hub's queue snapshot
 * when requeue), and the timeout once (from memory: an idle stream costs no query). */
static int stream_queue_info(struct web_hub *h, struct stream_job *j, bool requeue)
{
    struct kb_error err = {0};
    int64_t pos = j->last_pos;
    int stop = 0;
    char buf[64];
    if (requeue && hub_position(h, h->ctx->rag, j->id, &pos, &err))
        kb_warn("handoff %lld: %s", (long long)j->id, err.msg);
    if (pos > 0 && pos != j->last_pos) {
        int n = snprintf(buf, sizeof buf, "{\"position\":%lld}", (long long)pos);
        stop = stream_emit(h, j, 0, "position", buf, (size_t)n);
    }
    j->last_pos = pos;
    if (!stop && pos > 0 && !j->timed_out && (int64_t)time(NULL) - j->created_at >= j->wait_s) {
        int n = snprintf(buf, sizeof buf, "{\"wait_seconds\":%lld}", (long long)j->wait_s);
        stop = stream_emit(h, j, 0, "timeout", buf, (size_t)n);
        j->timed_out = true;
    }
    return stop;
}

/* One pass over a conversation's stream at hub version v; true when the stream is over. */
static bool conv_step(struct web_hub *h, struct stream_job *j, uint64_t v, double now)
{
    bool mine = !j->started, queue = !j->started;
    if (!j->started) {
        j->started = true;
        j->last_emit = now;
        if (web_task_emit(j->t, "retry: 2000\n\n", 13))
            return true;
    } else if (v != j->v) {
        hub_changes(h, j->v, j->id, &mine, &queue);
    }
    j->v = v;
    if (mine && (stream_events(h, j) || (j->closed && j->customer)))
        return true; /* an agent's stream stays: the rating comes after the close */
    if (j->customer && j->closed_at_start)
        return true; /* a reconnect after the close (EventSource retries by itself): nothing more comes */
    if (j->customer && stream_queue_info(h, j, queue))
        return true;
    if (mine || queue)
        j->last_emit = now;
    if (now - j->last_emit >= HO_PING_S) {
        if (web_task_emit(j->t, ": ping\n\n", 8))
            return true;
        j->last_emit = now;
    }
    return false;
}

static int inbox_json(struct web_ctx *ctx, const struct web_req *viewer, struct kb_arena *a, struct kb_buf *out,
                      struct kb_error *err);

/* One pass over an Inbox stream: the list (built once per pass for every unrestricted Inbox stream,
 * in *list; a restricted one gets its own) when anything changed, else a ping when due; true when
 * the stream is over. */
static bool inbox_step(struct web_hub *h, struct stream_job *j, uint64_t v, double now, struct kb_buf *list,
                       bool *list_ok)
{
    if (!j->started) {
        j->started = true;
        j->last_emit = now;
        hub_presence(h, j->actor, j->viewer ? j->viewer->who.collections : "", +1); /* bumps the version: the list goes out on the next pass */
        return false;
    }
    if (v != j->v) {
        struct kb_buf own;
        bool own_ok = true, stop;
        j->v = v;
        kb_buf_init(&own, 0);
        if (j->viewer ? true : !list->len && *list_ok) {
            struct kb_arena a;
            struct kb_error err = {0};
            struct kb_buf *out = j->viewer ? &own : list;
            bool *ok = j->viewer ? &own_ok : list_ok;
            kb_arena_init(&a, 64 * 1024, 0);
            if (inbox_json(h->ctx, j->viewer, &a, out, &err)) {
                kb_warn("inbox stream: %s", err.msg);
                kb_buf_reset(out);
                *ok = false;
            }
            kb_arena_release(&a);
        }
        j->last_emit = now;
        stop = j->viewer ? own_ok && stream_emit(h, j, 0, "inbox", own.data, own.len)
                         : *list_ok && stream_emit(h, j, 0, "inbox", list->data, list->len);
        kb_buf_release(&own);
        if (stop)
            return true;
    }
    if (now - j->last_emit >= HO_INBOX_PING_S) {
        if (web_task_emit(j->t, ": ping\n\n", 8))
            return true;
        j->last_emit = now;
    }
    return false;
}

static void stream_end(struct web_hub *h, struct stream_job *j)
{
    if (j->id == 0 && j->started)
        hub_presence(h, j->actor, "", -1);
    web_stream_close(j->t);
    free(j->viewer);
    free(j);
}

/* One pass over every open stream at version v. Streams that ended (client gone, server stopping,
 * conversation over) are closed and dropped. */
static void hub_pass(struct web_hub *h, uint64_t v)
{
    struct stream_job **pp = &h->streams;
    double now = kb_now_s();
    struct kb_buf list;
    bool list_ok = true;
    kb_buf_init(&list, 0);
    while (*pp) {
        struct stream_job *j = *pp;
        bool over = web_task_stopping(j->t) ||
                    (j->id ? conv_step(h, j, v, now) : inbox_step(h, j, v, now, &list, &list_ok));
        if (over) {
            *pp = j->next;
            stream_end(h, j);
        } else {
            pp = &j->next;
        }
    }
    kb_buf_release(&list);
}

/* The hub thread: waits for a change, a new stream or a second to pass, then writes what each
 * open stream needs. No stream holds a thread of its own; between writes its connection is
 * suspended in libmicrohttpd. */
static void *hub_main(void *arg)
{
    struct web_hub *h = arg;
    uint64_t seen = 0;
    double next_tick = kb_now_s() + 1.0;
    pthread_mutex_lock(&h->mu);
    while (!h->quit) {
        uint64_t v;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        while (!h->quit && !h->kick && h->version == seen && !h->incoming && kb_now_s() < next_tick &&
               pthread_cond_timedwait(&h->cv, &h->mu, &ts) == 0)
            ;
        if (h->quit)
            break;
        h->kick = false;
        while (h->incoming) { /* new streams join at the front: their first pass is their start */
            struct stream_job *j = h->incoming;
            h->incoming = j->next;
            j->next = h->streams;
            h->streams = j;
        }
        v = seen = h->version;
        pthread_mutex_unlock(&h->mu);
        hub_pass(h, v);
        if (kb_now_s() >= next_tick)
            next_tick = kb_now_s() + 1.0;
        pthread_mutex_lock(&h->mu);
    }
    while (h->incoming) {
        struct stream_job *j = h->incoming;
        h->incoming = j->next;
        j->next = h->streams;
        h->streams = j;
    }
    pthread_mutex_unlock(&h->mu);
    while (h->streams) { /* only when the server could not stop them itself */
        struct stream_job *j = h->streams;
        h->streams = j->next;
        stream_end(h, j);
    }
    return NULL;
}

/* Opens the threadless stream of job j (owned from here on) and hands it to the hub thread. */
static int stream_add(struct web_req *req, struct web_resp *resp, struct stream_job *j, struct kb_error *err)
{
    struct web_hub *h = req->ctx->hub;
    int rc = h->started ? web_stream_open(req, resp, &j->t, err)
                        : kb_error_set(err, KB_EBUSY, "live streams are off (no stream thread)");
    if (rc) {
        free(j->viewer);
        free(j);
        return rc;
    }
    j->last_pos = -1;
    pthread_mutex_lock(&h->mu);
    j->next = h->incoming;
    h->incoming = j;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* The resume point: Last-Event-ID (the browser's reconnect), else ?last_event_id=. */
static int stream_after(struct web_req *req, int64_t *after, struct kb_error *err)
{
    const char *s = web_req_header(req, "Last-Event-ID");
    *after = 0;
    if (!s || !s[0])
        s = web_req_query(req, "last_event_id");
    if (s && s[0] && (kb_parse_i64(s, after) || *after < 0))
        return kb_error_set(err, KB_EINVAL, "Last-Event-ID must be an event id");
    return 0;
}

static int stream_start(struct web_req *req, struct web_resp *resp, const struct index_handoff *h, bool customer,
                        struct kb_error *err)
{
    const struct config *cfg;
    struct stream_job *j;
    int64_t after;
    int rc;
    if ((rc = stream_after(req, &after, err)))
        return rc;
    j = kb_xcalloc(1, sizeof *j);
    j->id = h->id;
    j->after = after;
    j->customer = customer;
    j->created_at = h->created_at;
    j->closed_at_start = !strcmp(h->state, "closed");
    cfg = rag_config_get(req->ctx->rag);
    j->wait_s = cfg->handoff_wait_seconds;
    rag_config_put(req->ctx->rag, cfg);
    return stream_add(req, resp, j, err);
}

int web_h_handoff_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_handoff h;
    int rc = ho_by_token(req, web_req_query(req, "token"), &h, err);
    return rc ? rc : stream_start(req, resp, &h, true, err);
}

/* ---- staff routes ------------------------------------------------------------------------------------------ */

static int inbox_json(struct web_ctx *ctx, const struct web_req *viewer, struct kb_arena *a, struct kb_buf *out,
                      struct kb_error *err)
{
    struct index_handoff *v;
    struct jw w;
    int n, rc;
    jw_init(&w, out);
    jw_obj(&w, NULL);
    jw_int(&w, "agents_online", hub_online(ctx->hub, true, NULL));
    jw_arr(&w, "open");
    if ((rc = index_handoff_list(rag_store(ctx->rag), false, 0, a, &v, &n, err)) == 0) {
        for (int i = 0; i < n; i++)
            if (ho_visible(viewer, v[i].bot_id))
                ho_json(&w, NULL, &v[i], true);
    }
    jw_end_arr(&w);
    jw_arr(&w, "closed");
    if (rc == 0 && (rc = index_handoff_list(rag_store(ctx->rag), true, HO_CLOSED_LISTED, a, &v, &n, err)) == 0) {
        for (int i = 0; i < n; i++)
            if (ho_visible(viewer, v[i].bot_id))
                ho_json(&w, NULL, &v[i], true);
    }
    jw_end_arr(&w);
    jw_arr(&w, "notify_failures"); /* deliveries that gave up (rag/notify.c), newest first */
    if (rc == 0) {
        struct index_notify *x;
        if ((rc = index_notify_list(rag_store(ctx->rag), true, 0, 20, a, &x, &n, err)) == 0) {
            for (int i = 0; i < n; i++) {
                struct index_handoff h;
                if (viewer && viewer->who.collections[0] &&
                    (index_handoff_get(rag_store(ctx->rag), x[i].handoff_id, NULL, a, &h, NULL) ||
                     !ho_visible(viewer, h.bot_id)))
                    continue;
                jw_obj(&w, NULL);
                jw_int(&w, "handoff_id", x[i].handoff_id);
                jw_str(&w, "channel", x[i].channel);
                jw_int(&w, "attempts", x[i].attempts);
                jw_str(&w, "error", x[i].last_error);
                jw_int(&w, "at", x[i].updated_at);
                jw_end_obj(&w);
            }
        }
    }
    jw_end_arr(&w);
    jw_end_obj(&w);
    return rc;
}

int web_h_inbox_list(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    return inbox_json(req->ctx, req, &req->arena, &resp->body, err);
}

int web_h_inbox_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct stream_job *j = kb_xcalloc(1, sizeof *j);
    kb_strlcpy(j->actor, req->who.actor[0] ? req->who.actor : "admin", sizeof j->actor);
    if (req->who.collections[0]) {
        j->viewer = kb_xcalloc(1, sizeof *j->viewer);
        j->viewer->ctx = req->ctx;
        j->viewer->who = req->who;
    }
    return stream_add(req, resp, j, err);
}

int web_h_inbox_get(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_handoff h;
    struct index_handoff_turn *turns;
    struct jw w;
    int n, rc;
    if ((rc = ho_staff_get(req, req->ids[0], &h, err)) ||
        (rc = index_handoff_bot_turns(rag_store(req->ctx->rag), h.log_secret, &req->arena, &turns, &n, err)))
        return rc;
    jw_init(&w, &resp->body);
    jw_obj(&w, NULL);
    ho_json(&w, "handoff", &h, true);
    jw_arr(&w, "bot");
    for (int i = 0; i < n; i++) {
        jw_obj(&w, NULL);
        jw_int(&w, "message_id", turns[i].message_id);
        jw_int(&w, "at", turns[i].created_at);
        jw_str(&w, "question", turns[i].question);
        jw_str(&w, "answer", turns[i].answer);
        jw_str(&w, "mode", turns[i].mode);
        jw_bool(&w, "fallback", turns[i].fallback);
        jw_raw(&w, "citations", turns[i].citations_json[0] ? turns[i].citations_json : "[]");
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    rc = ho_events_json(req, &w, h.id, err);
    jw_end_obj(&w);
    return rc;
}

int web_h_inbox_conv_stream(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct index_handoff h;
    int rc = ho_staff_get(req, req->ids[0], &h, err);
    return rc ? rc : stream_start(req, resp, &h, false, err);
}

static const char *ho_actor(const struct web_req *req)
{
    return req->who.actor[0] ? req->who.actor : "admin";
}

/* The write routes check visibility first (only a restricted caller pays the lookup). */
static int ho_staff_may(struct web_req *req, struct kb_error *err)
{
    struct index_handoff h;
    return req->who.collections[0] ? ho_staff_get(req, req->ids[0], &h, err) : 0;
}

int web_h_inbox_take(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int rc = ho_staff_may(req, err);
    if (rc == 0)
        rc = index_handoff_take(rag_store(req->ctx->rag), req->ids[0], ho_actor(req), ho_agent_name(req), err);
    if (rc)
        return rc;
    {
        char target[40];
        snprintf(target, sizeof target, "handoff:%lld", (long long)req->ids[0]);
        web_audit(req, "handoff.take", target, "");
    }
    hub_note(req->ctx->hub, req->ids[0], true);
    ok_json(resp);
    return 0;
}

int web_h_inbox_message(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    struct msg_body b = {0};
    int64_t seq;
    int rc;
    if ((rc = ho_staff_may(req, err)) ||
        (rc = kb_json_decode(req->body, req->body_bytes, msg_fields, &b, &req->arena, err)) ||
        (rc = rag_handoff_text_check(b.text, err)) ||
        (rc = index_handoff_message(rag_store(req->ctx->rag), req->ids[0], ho_actor(req), ho_agent_name(req), b.text,
                                    &seq, err)))
        return rc;
    hub_note(req->ctx->hub, req->ids[0], false);
    {
        struct index_handoff h; /* its bot conversation, for the log */
        struct kb_error e = {0};
        if (index_handoff_get(rag_store(req->ctx->rag), req->ids[0], NULL, &req->arena, &h, &e) == 0)
            rag_log_handoff(req->ctx->rag, h.log_secret, true, ho_agent_name(req), b.text);
    }
    seq_json(resp, seq);
    return 0;
}

int web_h_inbox_close(struct web_req *req, struct web_resp *resp, struct kb_error *err)
{
    int rc = ho_staff_may(req, err);
    if (rc == 0)
        rc = index_handoff_close(rag_store(req->ctx->rag), req->ids[0], ho_actor(req), ho_agent_name(req), err);
    if (rc)
        return rc;
    hub_note(req->ctx->hub, req->ids[0], true);
    ok_json(resp);
    return 0;
}
