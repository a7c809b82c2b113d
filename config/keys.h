/* config/keys.h: the single source of every configuration key: section, name, type, default,
 * bounds and help. struct config, the defaults, the environment names (KBOX_SECTION_NAME), the
 * validation and `kbox config show` are all generated from this table, and tests/config checks that
 * config/kbox.json lists exactly these keys with these defaults.
 *
 * X(section, name, type, default, min, max, help)
 *   type INT: int64, bounds inclusive. FLOAT: double, bounds inclusive. BOOL: bounds ignored.
 *   STR: bounds are the min and max length in bytes. Include this file only through config.h. */

#define KB_CONFIG_KEYS(X)                                                                               \
    X(data, dir, STR, "kbox-data", 1, 4096, "directory holding the database, vectors and originals")  \
    X(log, level, STR, "info", 2, 5, "log level: debug, info, warn, error or off")                   \
    X(log, enabled, BOOL, 1, 0, 1, "keep every question and answer (conversation log, feedback, review)") \
    X(log, store_ip, BOOL, 0, 0, 1, "store the client's IP address with logged conversations")     \
    X(log, retention_days, INT, 90, 0, 36500, "days logged conversations are kept; 0 = keep forever") \
    X(log, review_below, FLOAT, 0.5, 0, 1, "answers below this confidence go to the review inbox")  \
    X(store, backend, STR, "sqlite", 6, 8,                                                             \
      "sqlite (one box, data.dir alone) or postgres (several nodes share store.url; data.dir is a cache)") \
    X(store, url, STR, "", 0, 4096, "PostgreSQL connection URL, e.g. postgresql://kbox@db/kbox?sslmode=require") \
    X(store, password_file, STR, "", 0, 4096, "file holding the PostgreSQL password; empty: libpq's sources") \
    X(store, poll_s, INT, 2, 1, 3600, "seconds between change-log polls (NOTIFY wakes a node sooner)") \
    X(store, rebuild_lag, INT, 100000, 1, 1000000000000,                                              \
      "changes behind above which a node rebuilds its cache from PostgreSQL instead of replaying")    \
                                                                                                        \
    X(server, host, STR, "127.0.0.1", 1, 255, "address the web server binds")                        \
    X(server, port, INT, 8080, 0, 65535, "TCP port; 0 picks any free port and prints it")            \
    X(server, threads, INT, 0, 0, 256, "HTTP worker threads; 0 means one per core")                  \
    X(server, admin_token, STR, "", 0, 256, "old name of auth.admin_token (still accepted)")         \
    X(server, public_ask, BOOL, 1, 0, 1, "ask, search and the widget need no token when true")       \
    X(server, cors_origins, STR, "", 0, 4096, "comma-separated origins allowed to use the widget")   \
    X(server, rate_limit_per_min, INT, 60, 0, 100000, "public requests per minute per IP; 0 = off")  \
    X(server, max_body_bytes, INT, 1048576, 1024, 1073741824, "cap on JSON request bodies")          \
    X(server, max_upload_bytes, INT, 104857600, 1024, 17179869184, "cap on one upload request")      \
    X(server, timeout_s, INT, 30, 1, 3600, "seconds an idle connection is kept")                     \
    X(server, allowed_hosts, STR, "", 0, 4096,                                                        \
      "Host names (name or name:port, comma-separated; * = any) the server answers besides its own "  \
      "addresses and localhost; set the public name here")                                            \
    X(server, trust_proxy, STR, "", 0, 4096,                                                          \
      "addresses of reverse proxies (comma-separated) whose X-Forwarded-For names the client; "       \
      "empty: the peer address is the client")                                                        \
    X(server, max_conns_per_ip, INT, 64, 0, 100000, "open connections per client address; 0 = no cap") \
    X(server, request_timeout_s, INT, 300, 1, 86400,                                                  \
      "seconds a client may take to send one request's headers and body")                            \
    X(server, max_embed_inputs, INT, 256, 1, 2048, "inputs one /v1/embeddings call may carry (400 above)") \
    X(server, max_expensive, INT, 0, 0, 1024,                                                          \
      "embedding requests computed at once in HTTP threads (more get 503); 0 = threads - 1, at least 1") \
    X(server, public_metrics, BOOL, 0, 0, 1, "serve /metrics without the admin token")                \
    X(server, tls_cert, STR, "", 0, 4096, "PEM certificate chain file; with tls_key serves HTTPS (reread on SIGHUP)") \
    X(server, tls_key, STR, "", 0, 4096, "PEM private key file for server.tls_cert")                 \
                                                                                                        \
    X(auth, admin_token, STR, "", 0, 256,                                                             \
      "break-glass token with owner rights (32+ characters); empty: only accounts and API keys")      \
    X(auth, session_idle_s, INT, 28800, 60, 31536000, "seconds a login session lasts without use")    \
    X(auth, session_max_s, INT, 604800, 60, 31536000, "seconds a login session lasts at most")        \
    X(auth, lockout_fails, INT, 10, 1, 1000000, "failed logins in a row that lock an account")        \
    X(auth, lockout_s, INT, 900, 1, 86400, "seconds a locked account stays locked")                   \
    X(auth, login_fails_per_ip_min, INT, 20, 1, 1000000,                                              \
      "failed logins per minute from one address before it gets 429")                                 \
                                                                                                        \
    X(backup, dir, STR, "", 0, 4096, "directory `kbox backup` and the schedule write snapshots into") \
    X(backup, schedule, STR, "", 0, 64,                                                                \
      "when serve backs up into backup.dir: empty = never, \"daily HH:MM\" (local time) or \"every N\" " \
      "with N in minutes (e.g. 90m), hours (6h) or days (1d)")                                        \
    X(backup, keep, INT, 7, 0, 100000, "snapshots kept in backup.dir (older ones are removed); 0 = all") \
                                                                                                        \
    X(service, memory_max_mib, INT, 0, -1, 67108864,                                                  \
      "MemoryMax of the packaged systemd unit in MiB: 0 = auto (the local model files plus "           \
      "service.memory_headroom_mib), -1 = no limit; applied at systemctl daemon-reload")              \
    X(service, memory_headroom_mib, INT, 2048, 256, 67108864,                                         \
      "auto memory limit: MiB beyond the model files (database cache, requests, parsing one file)")   \
    X(service, cpu_quota_percent, INT, 0, 0, 102400,                                                  \
      "CPUQuota of the packaged systemd unit in percent of one core (200 = two cores); 0 = none")     \
    X(service, open_files, INT, 65536, 1024, 1048576, "LimitNOFILE of the packaged systemd unit (files and connections)") \
    X(service, tasks_max, INT, 0, 0, 4194304, "TasksMax (threads) of the packaged systemd unit; 0 = systemd's default") \
                                                                                                        \
    X(ingest, max_file_bytes, INT, 104857600, 1, 17179869184, "largest file accepted for ingestion") \
    X(ingest, max_expanded_bytes, INT, 536870912, 1024, 17179869184,                                  \
      "cap on bytes expanded from one zip entry or stream (zip-bomb guard)")                          \
    X(ingest, max_parse_seconds, INT, 120, 1, 86400, "time cap for parsing one file")                \
    X(ingest, max_parse_bytes, INT, 1073741824, 1048576, 17179869184,                                 \
      "memory cap for parsing one file")                                                              \
    X(ingest, ocr, BOOL, 0, 0, 1, "run OCR on scanned PDFs and images without a text layer")         \
    X(ingest, workers, INT, 0, 0, 64, "parallel parsing workers; 0 means one per core")              \
    X(ingest, chunk_tokens, INT, 384, 32, 8192, "target chunk size in estimated tokens")             \
    X(ingest, chunk_overlap, FLOAT, 0.15, 0, 0.5, "fraction of a chunk repeated in the next")        \
                                                                                                        \
    X(index, fusion, STR, "weighted", 3, 8, "hybrid fusion: weighted (score blend) or rrf")                             \
    X(index, rrf_k, INT, 60, 1, 10000, "reciprocal rank fusion constant")                            \
    X(index, vector_weight, FLOAT, 0.7, 0, 1, "vector weight in fusion, scaled by top-10 agreement") \
    X(index, lexical_cjk_trust, FLOAT, 0.4, 0, 1,                                                     \
      "share of vector_weight a term-hashing embedder (the built-in) keeps for CJK query terms")     \
    X(index, ann_threshold, INT, 50000, 1000, 1000000000,                                             \
      "vector count above which an approximate index (index.ann) replaces exact search")              \
    X(index, ann, STR, "ivf", 3, 4,                                                                   \
      "approximate index used above ann_threshold: ivf (fast to build) or hnsw (better recall, slow "  \
      "to build with Debian's FAISS)")                                                                \
    X(index, sentence_evidence, BOOL, 1, 0, 1,                                                        \
      "hybrid search: move up chunks with one sentence holding most of the query's rare terms")       \
    X(index, top_k, INT, 6, 1, 100, "hits returned by search and used by ask")                       \
    X(index, mmr, BOOL, 0, 0, 1, "diversify hits with maximal marginal relevance")                   \
    X(index, mmr_lambda, FLOAT, 0.7, 0, 1, "MMR trade-off: 1 is pure relevance")                     \
    X(index, bm25_k1, FLOAT, 0.9, 0.05, 10, "BM25 term-frequency saturation k1")                    \
    X(index, bm25_b, FLOAT, 0.3, 0, 1, "BM25 length normalisation b (0 none, 1 full)")             \
    X(index, bm25_heading_weight, FLOAT, 2.0, 0, 10,                                                  \
      "BM25F weight of a chunk's heading path (title, section headings) against its text's 1")     \
    X(index, bm25_cjk_unigram_weight, FLOAT, 1.0, 0, 1,                                              \
      "weight of a CJK query character against its character pairs' 1")                          \
    X(index, bm25_cjk_cross_pair_weight, FLOAT, 0.5, 0, 1,                                           \
      "weight of a CJK query character pair that straddles two dictionary words")                  \
    X(index, bm25_stop_word_weight, FLOAT, 0.0, 0, 1,                                                 \
      "weight of an English stop word of a query that has other words; 0 = left out")                 \
    X(index, stem_plurals, BOOL, 1, 0, 1,                                                             \
      "full-text index folds English plurals to the singular (re-indexes when changed)")             \
    X(index, stem_english, BOOL, 0, 0, 1,                                                             \
      "with stem_plurals: stem English words with Snowball's Porter2 instead (re-indexes when changed)") \
    X(index, cjk_index_words, BOOL, 0, 0, 1,                                                          \
      "full-text index also holds segment_dict's words of 3+ characters (re-indexes when changed)")  \
    X(index, bm25_cjk_word_weight, FLOAT, 1.0, 0, 4,                                                 \
      "weight of a CJK query's dictionary word (3+ characters) when the index holds the words")      \
    X(index, segment_dict, STR, "/usr/lib/python3/dist-packages/jieba/dict.txt", 0, 4096,             \
      "word list (word frequency [tag] per line, jieba's) that cuts CJK queries; empty = none")    \
                                                                                                        \
    X(embed, model, STR, "", 0, 4096, "GGUF embedding model; empty uses the built-in embedder")      \
    X(embed, dim, INT, 512, 64, 8192, "dimension of the built-in embedder")                          \
    X(embed, batch, INT, 32, 1, 4096, "texts embedded per batch")                                    \
    X(embed, backend, STR, "builtin", 5, 7,                                                           \
      "builtin (hashing embedder), local (embed.model GGUF) or openai (a /v1/embeddings server)")   \
    X(embed, url, STR, "", 0, 2048, "base URL of the remote embedding server, e.g. http://gpu:8000")  \
    X(embed, model_name, STR, "", 0, 256, "model name sent to the remote embedding server")          \
    X(embed, api_key, STR, "", 0, 4096, "bearer token for the embedding server (secret)")            \
    X(embed, api_key_file, STR, "", 0, 4096, "file holding embed.api_key; read at start")            \
    X(embed, remote_dim, INT, 0, 0, 65536,                                                            \
      "vector size expected from the remote embedder; 0 takes it from the first response")           \
    X(embed, max_concurrent, INT, 2, 1, 64, "remote embedding requests in flight at once")            \
                                                                                                        \
    X(answer, model, STR, "", 0, 4096, "GGUF chat model; empty gives extractive answers")            \
    X(answer, min_confidence, FLOAT, 0.25, 0, 1, "below this the fallback text is answered")         \
    X(answer, fallback, STR, "The documents do not contain an answer to this question.", 1, 1024,    \
      "answer given when the documents do not contain one")                                          \
    X(answer, persona, STR, "", 0, 4000,                                                               \
      "persona put before the grounding rules of generated answers' system prompt (bots set their own)") \
    X(answer, max_sentences, INT, 3, 1, 20, "sentences in an extractive answer")                     \
    X(answer, faq_min_match, FLOAT, 0.49, 0, 1, "a FAQ question matching this well answers directly")  \
    X(answer, extractive_span, BOOL, 0, 0, 1, "extractive answers give the fragment holding the answer") \
    X(answer, strict, BOOL, 0, 0, 1, "drop generated sentences the passages do not support")         \
    X(answer, min_support, FLOAT, 0.35, 0, 1, "a generated sentence below this support is weak")      \
    X(answer, speculative, BOOL, 1, 0, 1, "prompt-lookup speculative decoding when greedy")           \
    X(answer, max_tokens, INT, 512, 1, 32768, "tokens generated per answer")                         \
    X(answer, temperature, FLOAT, 0, 0, 5, "sampling temperature; 0 is greedy")                      \
    X(answer, max_concurrent, INT, 1, 1, 512,                                                          \
      "answers generated at once (local: sessions with their KV cache; openai: streams); more get 503") \
    X(answer, context, INT, 4096, 256, 1048576, "context window used for generation, in tokens")     \
    X(answer, threads, INT, 0, 0, 256, "inference threads; 0 means one per core")                    \
    X(answer, load, STR, "mmap", 4, 4,                                                                \
      "how GGUF weights (answer and embed models) are held: mmap maps the file; copy reads it into "  \
      "memory (faster on VMs that reclaim page cache; costs the file's size in RAM)")                  \
    X(answer, backend, STR, "local", 5, 6,                                                            \
      "local (answer.model GGUF) or openai (an OpenAI-compatible /v1/chat/completions server)")       \
    X(answer, url, STR, "", 0, 2048, "base URL of the remote chat server, e.g. http://gpu:8000")      \
    X(answer, model_name, STR, "", 0, 256, "model name sent to the remote chat server")              \
    X(answer, api_key, STR, "", 0, 4096, "bearer token for the remote server (secret)")              \
    X(answer, api_key_file, STR, "", 0, 4096, "file holding answer.api_key; read at start")          \
    X(answer, connect_timeout_s, INT, 5, 1, 600, "seconds to connect to the remote server")          \
    X(answer, timeout_s, INT, 60, 1, 3600, "seconds without a byte from the remote server")          \
    X(answer, ca_file, STR, "", 0, 4096, "CA bundle for TLS; empty uses the system store")           \
    X(answer, insecure, BOOL, 0, 0, 1, "skip TLS verification (logs a warning at every start)")      \
    X(answer, retries, INT, 2, 0, 10, "retries on 429/502/503/504 before the first token")           \
    X(answer, breaker_failures, INT, 5, 1, 1000, "failures in the window that open the breaker")     \
    X(answer, breaker_window_s, INT, 60, 1, 86400, "window in which breaker failures are counted")    \
    X(answer, breaker_cooldown_s, INT, 30, 1, 86400, "seconds the backend is held down once open")   \
    X(answer, on_backend_down, STR, "extractive", 4, 10,                                              \
      "when the remote backend is down: extractive (answer from passages) or fail (503)")            \
                                                                                                        \
    X(widget, title, STR, "Ask us", 1, 200, "chat widget title")                                     \
    X(widget, color, STR, "#2b6cb0", 4, 32, "chat widget accent colour (CSS)")                       \
    X(widget, greeting, STR, "Hi! Ask me anything about our products and policies.", 0, 1000,        \
      "first message the widget shows")                                                               \
    X(widget, lang, STR, "en", 2, 5, "widget language: en or zh")                                   \
                                                                                                        \
    X(handoff, enabled, BOOL, 1, 0, 1, "customers can ask for a person (live chat, or a ticket)")    \
    X(handoff, keywords, STR, "human,agent,real person,talk to a person,转人工,人工客服,人工服务", 0, 4096, \
      "comma-separated phrases that ask for a person when a question contains one; empty: off")      \
    X(handoff, after_fallbacks, INT, 2, 0, 100,                                                       \
      "offer a person after this many fallback answers in a row in one conversation; 0: off")        \
    X(handoff, on_thumbs_down, BOOL, 1, 0, 1, "offer a person when the customer votes an answer down") \
    X(handoff, hours, STR, "", 0, 512,                                                                \
      "business hours for live chat, e.g. \"Mon-Fri 09:00-18:00, Sat 10:00-14:00\"; empty: always")   \
    X(handoff, timezone, STR, "+00:00", 1, 64,                                                      \
      "time zone handoff.hours are in: UTC, an offset (+08:00) or a zone name (Europe/Berlin)")      \
    X(handoff, wait_seconds, INT, 300, 1, 86400,                                                      \
      "seconds a queued customer waits for an agent before the ticket form is offered")              \
    X(handoff, webhook_url, STR, "", 0, 2048,                                                        \
      "POST a notification of every new handoff and ticket here (secret: robot URLs carry a key); empty: off") \
    X(handoff, webhook_format, STR, "generic", 5, 8,                                                  \
      "webhook body: generic (JSON), wecom, dingtalk, feishu (group robot text) or slack")           \
    X(handoff, smtp_host, STR, "", 0, 255, "SMTP server for handoff e-mails; empty: no e-mail")      \
    X(handoff, smtp_port, INT, 587, 1, 65535, "SMTP port (465: TLS from the start)")                 \
    X(handoff, smtp_starttls, BOOL, 1, 0, 1, "require STARTTLS on the SMTP connection")              \
    X(handoff, smtp_user, STR, "", 0, 255, "SMTP login; empty: none")                                \
    X(handoff, smtp_password, STR, "", 0, 1024, "SMTP password (secret)")                            \
    X(handoff, smtp_password_file, STR, "", 0, 4096, "file holding handoff.smtp_password (first line)") \
    X(handoff, smtp_from, STR, "", 0, 255, "sender address of handoff e-mails")                      \
    X(handoff, smtp_to, STR, "", 0, 2048, "comma-separated recipients of handoff e-mails")           \
    X(handoff, notify_retries, INT, 4, 0, 20, "retries of a failed notification (backoff 1 s, 2 s, 4 s, ... up to 5 min)") \
    X(handoff, notify_timeout_s, INT, 10, 1, 300, "seconds one notification attempt may take")

/* Keys whose values are secrets: `config show`, its JSON and logs print "***" for them when set.
 * S(section, name) for keys listed above. */
#define KB_CONFIG_SECRET_KEYS(S) S(server, admin_token) S(auth, admin_token) S(embed, api_key) S(answer, api_key) \
    S(handoff, webhook_url) S(handoff, smtp_password)
