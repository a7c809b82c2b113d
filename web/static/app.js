/* web/static/app.js: the kbox browser UI: upload, documents, chat, hit testing, settings, in English
 * and Chinese. Plain DOM, no framework, no network access beyond this server.
 * Safety rule: text that comes from documents or users is only ever placed with textContent (the
 * el() helper below); innerHTML is never used. Staff log in (acct.js): the session cookie goes with
 * every request and state.csrf as X-CSRF-Token; the break-glass admin token, when typed, lives in
 * localStorage and is sent as "Authorization: Bearer". Pages above the caller's role are hidden
 * (the gate of extras: allow(page), landing()). Tests: tests/web/e2e.mjs, tests/web/acct.mjs
 * (headless Chromium). */
'use strict';

const I18N = {
  en: {
    'nav.upload': 'Upload', 'nav.documents': 'Documents', 'nav.chat': 'Chat', 'nav.hits': 'Hit testing',
    'nav.settings': 'Settings', 'token.ph': 'Admin token', 'token.save': 'Save',
    'upload.title': 'Upload documents',
    'upload.hint': 'PDF, Word, HTML, Markdown, text and more. Files are indexed in the background.',
    'upload.collection': 'Collection', 'upload.collection.ph': 'default',
    'upload.drop': 'Drop files here or click to choose',
    'upload.sending': 'uploading', 'upload.queued': 'queued', 'upload.duplicate': 'already in the knowledge base',
    'upload.toobig': 'too large',
    'docs.title': 'Documents', 'docs.filter': 'Filter by name', 'docs.all': 'All', 'docs.refresh': 'Refresh',
    'docs.name': 'Name', 'docs.status': 'Status', 'docs.chunks': 'Chunks', 'docs.size': 'Size',
    'docs.actions': 'Actions', 'docs.view': 'Chunks', 'docs.reingest': 'Re-ingest', 'docs.delete': 'Delete',
    'docs.download': 'Download', 'docs.confirm': 'Delete this document?', 'docs.none': 'No documents yet.',
    'docs.page': 'page', 'status.queued': 'queued', 'status.parsing': 'parsing', 'status.indexed': 'indexed',
    'status.failed': 'failed', 'status.running': 'running', 'status.done': 'done',
    'chat.title': 'Ask your documents', 'chat.ph': 'Ask a question', 'chat.send': 'Send',
    'chat.new': 'New conversation', 'chat.sources': 'Sources', 'chat.thinking': 'Thinking…',
    'chat.fallback': 'not found in the documents',
    'chat.reasoning': 'Reasoning', 'chat.noanswer': 'The model gave no answer after its reasoning.',
    'chat.support': 'support', 'chat.weak': 'Weakly supported by the cited passages; support',
    'chat.weaknote': 'Dotted underline: the passages barely support that sentence (hover for its score).',
    'chat.dropped': 'Strict mode removed {n} sentence(s) the documents do not support.', 'chat.tokens': 'tokens',
    'hits.title': 'Hit testing', 'hits.hint': 'See which passages a query retrieves, with their BM25, vector and fused scores.',
    'hits.ph': 'Query', 'hits.topk': 'top_k', 'hits.run': 'Search', 'hits.passage': 'Passage',
    'hits.vector': 'Vector', 'hits.fused': 'Fused', 'hits.none': 'No passages found.',
    'settings.title': 'Settings', 'settings.mode': 'Answer mode',
    'settings.model': 'Chat model (GGUF path; empty: extractive answers)',
    'settings.topk': 'Passages per answer (top_k)', 'settings.fallback': 'Fallback text',
    'settings.strict': 'Answer only from documents (strict)', 'settings.widget': 'Website widget',
    'settings.wtitle': 'Title', 'settings.wcolor': 'Colour', 'settings.wgreeting': 'Greeting',
    'settings.wlang': 'Language', 'settings.origins': 'Allowed origins (comma-separated)',
    'settings.snippet': 'Paste this into your website:', 'settings.save': 'Save settings', 'settings.saved': 'Saved',
    'settings.models': 'Models', 'settings.answer_model': 'Answer model', 'settings.embed_model': 'Embedding model',
    'settings.models_hint': 'GGUF files in the models folder. A new embedding model re-embeds every document in the background; search keeps using the old vectors until it is done.',
    'settings.models_save': 'Apply models', 'settings.m_file': 'File', 'settings.m_kind': 'Kind', 'settings.m_arch': 'Architecture',
    'settings.m_params': 'Parameters', 'settings.m_type': 'Type', 'settings.m_size': 'Size', 'settings.m_fits': 'Memory',
    'settings.none_answer': 'none (built-in: extractive answers)', 'settings.none_embed': 'none (built-in embedder)',
    'settings.unusable': 'unusable', 'settings.nofit': 'does not fit in memory', 'settings.fits': 'fits',
    'settings.configured': 'configured', 'settings.nochange': 'Nothing to change',
    'settings.models_unavailable': 'This server cannot list its models (no GET /api/models), so they cannot be chosen here: set answer.model and embed.model in the configuration and restart.',
    'settings.models_empty': 'No GGUF files in the models folder yet.', 'settings.models_folder': 'Models folder',
    'settings.reembed': 'Re-embedding documents', 'settings.reembed_done': 'finished',
    'kind.generative': 'answers', 'kind.embedding': 'embeddings',
    'coll.all': 'All collections', 'cite.title': 'Cited passage', 'cite.close': 'Close', 'cite.document': 'Document', 'cite.heading': 'Section',
    'cite.page': 'Page', 'mode.extractive': 'extractive (sentences quoted from the documents)',
    'mode.generative': 'generative (a local model writes the answer)', 'err.auth': 'Log in first (or type the break-glass admin token at the top right).',
  },
  zh: {
    'nav.upload': '上传', 'nav.documents': '文档', 'nav.chat': '问答', 'nav.hits': '召回测试',
    'nav.settings': '设置', 'token.ph': '管理员令牌', 'token.save': '保存',
    'upload.title': '上传文档', 'upload.hint': '支持 PDF、Word、HTML、Markdown、纯文本等格式，文件在后台建立索引。',
    'upload.collection': '知识库', 'upload.collection.ph': '默认',
    'upload.drop': '把文件拖到这里，或点击选择文件',
    'upload.sending': '上传中', 'upload.queued': '排队中', 'upload.duplicate': '知识库中已有此文件',
    'upload.toobig': '文件太大',
    'docs.title': '文档', 'docs.filter': '按名称筛选', 'docs.all': '全部', 'docs.refresh': '刷新',
    'docs.name': '名称', 'docs.status': '状态', 'docs.chunks': '分块', 'docs.size': '大小',
    'docs.actions': '操作', 'docs.view': '查看分块', 'docs.reingest': '重新导入', 'docs.delete': '删除',
    'docs.download': '下载', 'docs.confirm': '确定删除这个文档吗？', 'docs.none': '还没有文档。',
    'docs.page': '页', 'status.queued': '排队中', 'status.parsing': '解析中', 'status.indexed': '已索引',
    'status.failed': '失败', 'status.running': '处理中', 'status.done': '完成',
    'chat.title': '向文档提问', 'chat.ph': '请输入问题', 'chat.send': '发送', 'chat.new': '新对话',
    'chat.sources': '来源', 'chat.thinking': '思考中…', 'chat.fallback': '文档中没有找到答案',
    'chat.reasoning': '推理过程', 'chat.noanswer': '模型推理之后没有给出回答。',
    'chat.support': '支持度', 'chat.weak': '引用段落对这句话的支持较弱；支持度',
    'chat.weaknote': '虚线下划线：段落对该句的支持很弱（悬停可看分数）。',
    'chat.dropped': '严格模式删除了 {n} 个文档不支持的句子。', 'chat.tokens': '个词元',
    'hits.title': '召回测试', 'hits.hint': '查看一个查询召回了哪些段落，以及它们的 BM25、向量和融合分数。',
    'hits.ph': '查询', 'hits.topk': '数量', 'hits.run': '检索', 'hits.passage': '段落',
    'hits.vector': '向量', 'hits.fused': '融合', 'hits.none': '没有找到段落。',
    'settings.title': '设置', 'settings.mode': '回答模式', 'settings.model': '对话模型（GGUF 路径；留空为抽取式回答）',
    'settings.topk': '每次回答使用的段落数 (top_k)', 'settings.fallback': '无答案时的回复',
    'settings.strict': '只根据文档回答（严格模式）', 'settings.widget': '网站聊天挂件',
    'settings.wtitle': '标题', 'settings.wcolor': '颜色', 'settings.wgreeting': '欢迎语',
    'settings.wlang': '语言', 'settings.origins': '允许的来源（逗号分隔）',
    'settings.snippet': '把下面的代码粘贴到您的网站：', 'settings.save': '保存设置', 'settings.saved': '已保存',
    'settings.models': '模型', 'settings.answer_model': '回答模型', 'settings.embed_model': '向量模型',
    'settings.models_hint': '模型文件夹中的 GGUF 文件。更换向量模型后会在后台重新计算所有文档的向量，完成之前检索继续使用旧向量。',
    'settings.models_save': '应用模型', 'settings.m_file': '文件', 'settings.m_kind': '用途', 'settings.m_arch': '架构',
    'settings.m_params': '参数量', 'settings.m_type': '类型', 'settings.m_size': '大小', 'settings.m_fits': '内存',
    'settings.none_answer': '不使用（内置：抽取式回答）', 'settings.none_embed': '不使用（内置向量模型）',
    'settings.unusable': '无法使用', 'settings.nofit': '内存不足以加载', 'settings.fits': '可以加载',
    'settings.configured': '配置中指定', 'settings.nochange': '没有需要修改的内容',
    'settings.models_unavailable': '此服务器无法列出模型（没有 GET /api/models），因此不能在这里选择：请在配置文件中设置 answer.model 和 embed.model 后重启。',
    'settings.models_empty': '模型文件夹中还没有 GGUF 文件。', 'settings.models_folder': '模型文件夹',
    'settings.reembed': '正在重新计算文档向量', 'settings.reembed_done': '已完成',
    'kind.generative': '回答', 'kind.embedding': '向量',
    'coll.all': '全部知识库', 'cite.title': '引用段落', 'cite.close': '关闭', 'cite.document': '文档', 'cite.heading': '章节',
    'cite.page': '页码', 'mode.extractive': '抽取式（直接引用文档中的句子）',
    'mode.generative': '生成式（由本地模型撰写回答）', 'err.auth': '请先登录（或在右上角输入应急管理员令牌）。',
  },
};

/* Pages and hooks other files add before this one loads (loop.js: Review, Dashboard, thumbs):
 * window.kboxExtras holds {i18n: {en, zh}, pages: {name: load()}, onAnswer(data, bubble)}. */
const EXTRAS = window.kboxExtras || [];
for (const x of EXTRAS) for (const l of Object.keys(I18N)) Object.assign(I18N[l], (x.i18n || {})[l] || {});

const state = {
  lang: localStorage.getItem('kbox.lang') || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en'),
  token: localStorage.getItem('kbox.token') || '',
  me: null, /* GET /api/me of the logged-in caller (acct.js); null when nobody */
  csrf: '', /* the session's CSRF token, sent as X-CSRF-Token */
  wanted: '', /* a page asked for before logging in */
  conversation: newConversationId(),
  secret: '', /* the logged conversation's secret (POST /api/feedback; sent with the next question) */
  page: 'upload',
};

function t(key) {
  return (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
}

function newConversationId() {
  const a = new Uint8Array(8);
  crypto.getRandomValues(a);
  return 'ui-' + Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

/* Creates an element; strings among children become text nodes, so data is never parsed as HTML. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function toast(msg) {
  const box = $('toast');
  box.textContent = msg;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  if (state.token) h['Authorization'] = 'Bearer ' + state.token;
  if (state.csrf) h['X-CSRF-Token'] = state.csrf;
  return h;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/* latest('list') marks a new request for that list and returns a check that stays true only while no
 * later request for it was made: a slow answer for an earlier filter must not overwrite a newer one. */
const latestSeq = {};
function latest(key) {
  const n = (latestSeq[key] = (latestSeq[key] || 0) + 1);
  return () => latestSeq[key] === n;
}

async function api(method, path, body) {
  const r = await fetch(path, {method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body)});
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(r.status, err.code || String(r.status), err.message || r.statusText);
  }
  return data;
}

function showError(e) {
  if (e instanceof ApiError && e.status === 401 && window.kboxAuthLost) window.kboxAuthLost(); /* acct.js */
  if (e instanceof ApiError && e.status === 401) toast(t('err.auth'));
  else toast(e.message || String(e));
}

function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
  if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MB';
  return (n / 1073741824).toFixed(2) + ' GB';
}

function fmtParams(n) {
  if (!n) return '';
  if (n < 1e6) return (n / 1e3).toFixed(0) + 'K';
  if (n < 1e9) return (n / 1e6).toFixed(1) + 'M';
  return (n / 1e9).toFixed(1) + 'B';
}

function pageLabel(a, b) {
  if (!a) return '';
  return b && b !== a ? a + '–' + b : String(a);
}

/* ---- language ----------------------------------------------------------------------------------- */

function applyLang() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll('[data-i18n-ph]')) e.placeholder = t(e.dataset.i18nPh);
  $('lang').value = state.lang;
}

/* ---- navigation ----------------------------------------------------------------------------------- */

/* Pages the caller's role may not use are not shown (acct.js gates; the server checks every call). */
function pageAllowed(page) {
  return EXTRAS.every((x) => !x.allow || x.allow(page));
}

function landingPage() {
  const g = EXTRAS.find((x) => x.landing);
  return g ? g.landing() : 'upload';
}

function show(page) {
  if (!pageAllowed(page)) {
    if (page !== 'login') state.wanted = page; /* shown after a login if the role allows it */
    page = landingPage();
  }
  state.page = page;
  $('cite-panel').hidden = true;
  document.body.classList.remove('cite-open');
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== 'page-' + page;
  for (const b of document.querySelectorAll('#nav button')) b.classList.toggle('active', b.dataset.page === page);
  if (page === 'documents') loadDocuments();
  if (page === 'chat' || page === 'hits') loadCollections();
  if (page === 'settings') loadSettings();
  if (page === 'faq' && typeof loadFaq === 'function') loadFaq(); /* faq.js */
  for (const x of EXTRAS) if (x.pages && x.pages[page]) x.pages[page]();
  location.hash = page;
}

/* ---- upload ---------------------------------------------------------------------------------------- */

function uploadFile(file) {
  const bar = el('progress', {max: '100', value: '0'});
  const status = el('span', {class: 'status', text: t('upload.sending')});
  const row = el('li', {'data-name': file.name}, el('span', {class: 'name', text: file.name}), bar, status);
  $('upload-list').prepend(row);
  if (state.maxUpload && file.size > state.maxUpload) {
    /* refused here: the server would answer 413, but only after reading the whole file */
    status.textContent = t('upload.toobig') + ' (' + fmtBytes(file.size) + ' > ' + fmtBytes(state.maxUpload) + ')';
    status.className = 'status st-failed';
    row.dataset.state = 'failed';
    return;
  }
  const fd = new FormData();
  fd.append('file', file, file.name);
  const coll = $('upload-collection').value.trim();
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/documents' + (coll ? '?collection=' + encodeURIComponent(coll) : ''));
  if (state.token) xhr.setRequestHeader('Authorization', 'Bearer ' + state.token);
  if (state.csrf) xhr.setRequestHeader('X-CSRF-Token', state.csrf);
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100); };
  xhr.onerror = () => { status.textContent = 'network error'; status.className = 'status st-failed'; };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    if (xhr.status >= 300 || !data) {
      const msg = (data && data.error && data.error.message) || xhr.statusText;
      status.textContent = msg;
      status.className = 'status st-failed';
      if (xhr.status === 401) showError(new ApiError(401, 'auth', msg));
      return;
    }
    bar.value = 100;
    const d = data.documents[0];
    if (d.error) { status.textContent = d.error.message; status.className = 'status st-failed'; return; }
    row.dataset.documentId = d.document_id;
    if (d.duplicate || !d.job_id) { status.textContent = t('upload.duplicate'); status.className = 'status st-indexed'; row.dataset.state = 'indexed'; return; }
    status.textContent = t('upload.queued');
    pollJob(d.job_id, d.document_id, status, row);
  };
  xhr.send(fd);
}

async function pollJob(jobId, docId, status, row) {
  for (;;) {
    let job;
    try { job = await api('GET', '/api/jobs/' + jobId); } catch (e) { status.textContent = e.message; return; }
    const pct = job.progress ? ' ' + Math.round(job.progress * 100) + '%' : '';
    status.textContent = t('status.' + job.state) + (job.state === 'running' ? pct : '');
    status.className = 'status st-' + job.state;
    if (job.state === 'done' || job.state === 'failed') {
      try {
        const d = await api('GET', '/api/documents/' + docId + '?chunks=0');
        status.textContent = t('status.' + d.document.status) + (d.document.error ? ': ' + d.document.error : '') +
          (d.document.status === 'indexed' ? ' (' + d.document.n_chunks + ')' : '');
        status.className = 'status st-' + d.document.status;
        row.dataset.state = d.document.status;
      } catch (e) { row.dataset.state = job.state; }
      return;
    }
    await new Promise((res) => setTimeout(res, 400));
  }
}

function setupUpload() {
  const drop = $('drop');
  const input = $('file-input');
  drop.addEventListener('click', () => input.click());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') input.click(); });
  input.addEventListener('change', () => { for (const f of input.files) uploadFile(f); input.value = ''; });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    for (const f of e.dataTransfer.files) uploadFile(f);
  });
}

/* ---- documents -------------------------------------------------------------------------------------- */

let docsCache = [];

async function loadDocuments() {
  try {
    docsCache = (await api('GET', '/api/documents')).documents;
  } catch (e) { showError(e); docsCache = []; }
  renderDocuments();
}

function renderDocuments() {
  const q = $('doc-filter').value.trim().toLowerCase();
  const st = $('doc-status').value;
  const rows = $('doc-rows');
  rows.replaceChildren();
  const list = docsCache.filter((d) => (!q || d.name.toLowerCase().includes(q)) && (!st || d.status === st));
  if (!list.length) rows.append(el('tr', {}, el('td', {colspan: '5', class: 'hint', text: t('docs.none')})));
  /* agents and viewers read documents; changing them is for editors and owners (or the admin token) */
  const canEdit = pageAllowed('upload');
  for (const d of list) {
    const actions = el('div', {class: 'actions'},
      el('button', {class: 'secondary', onclick: () => viewChunks(d.id)}, t('docs.view')),
      el('button', {class: 'secondary', onclick: () => download(d)}, t('docs.download')),
      canEdit ? el('button', {class: 'secondary', onclick: () => reingest(d.id)}, t('docs.reingest')) : null,
      canEdit ? el('button', {class: 'danger', onclick: () => removeDoc(d.id)}, t('docs.delete')) : null);
    rows.append(el('tr', {'data-id': String(d.id)},
      el('td', {}, d.name, d.error ? el('div', {class: 'error', text: d.error}) : null),
      el('td', {class: 'st-' + d.status, text: t('status.' + d.status)}),
      el('td', {class: 'num', text: String(d.n_chunks)}),
      el('td', {class: 'num', text: fmtBytes(d.bytes)}),
      el('td', {}, actions)));
  }
}

async function viewChunks(id) {
  const box = $('doc-detail');
  try {
    const d = await api('GET', '/api/documents/' + id);
    box.replaceChildren(el('h2', {text: d.document.name}),
      el('p', {class: 'meta', text: d.document.mime + ' · ' + fmtBytes(d.document.bytes) + ' · ' + d.chunks.length + ' ' + t('docs.chunks')}));
    for (const c of d.chunks) {
      const meta = [c.heading_path, c.page_start ? t('docs.page') + ' ' + pageLabel(c.page_start, c.page_end) : '', c.n_tokens + ' tok']
        .filter(Boolean).join(' · ');
      box.append(el('div', {class: 'chunk'}, el('div', {class: 'meta', text: '#' + c.ordinal + ' ' + meta}), c.text));
    }
    box.hidden = false;
    box.scrollIntoView({behavior: 'smooth'});
  } catch (e) { showError(e); }
}

async function download(d) {
  try {
    const r = await fetch('/api/documents/' + d.id + '/file', {headers: headers(false)});
    if (!r.ok) throw new ApiError(r.status, '', (await r.json()).error.message);
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', {href: url, download: d.name});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { showError(e); }
}

async function reingest(id) {
  try { await api('POST', '/api/documents/' + id + '/reingest'); await loadDocuments(); } catch (e) { showError(e); }
}

async function removeDoc(id) {
  if (!confirm(t('docs.confirm'))) return;
  try { await api('DELETE', '/api/documents/' + id); await loadDocuments(); } catch (e) { showError(e); }
}

/* ---- collections (knowledge bases) for the chat and hit-testing pages ---------------------------- */

async function loadCollections() {
  if (!state.token && !state.me) return; /* listing collections needs a login; without it: all collections */
  let list = [];
  try { list = (await api('GET', '/api/collections')).collections; } catch (e) { return; }
  for (const sel of document.querySelectorAll('.coll-select')) {
    const keep = sel.value;
    sel.replaceChildren(el('option', {value: '', 'data-i18n': 'coll.all', text: t('coll.all')}));
    for (const c of list) sel.append(el('option', {value: c.name, text: c.name + ' (' + c.n_documents + ')'}));
    sel.value = list.some((c) => c.name === keep) ? keep : '';
  }
}

/* ---- chat ------------------------------------------------------------------------------------------- */

/* Reads a text/event-stream response and calls onEvent(name, data) per event. */
async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const raw = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message';
      const data = [];
      for (const line of raw.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

function openCitation(c) {
  $('cite-doc').textContent = c.document || '';
  $('cite-heading').textContent = c.heading_path || '—';
  $('cite-page').textContent = c.page ? pageLabel(c.page, c.page_end) : '—';
  $('cite-text').textContent = c.text || '';
  $('cite-panel').hidden = false;
  document.body.classList.add('cite-open');
}

function chip(c) {
  return el('button', {class: 'chip', type: 'button', title: c.heading_path || '', onclick: () => openCitation(c)},
    '[' + c.n + '] ' + c.document + (c.page ? ' p. ' + pageLabel(c.page, c.page_end) : ''));
}

/* Grounding. A generative answer carries sentences:[{text, support}] (0..1, rag/generate.c). Below
 * the threshold a sentence is "weak": marked with a dotted underline and its score as a tooltip. The
 * threshold is the answer's support_min when the API sends one, else rag's own cut-off (0.35, the
 * value strict mode drops sentences at). */
const SUPPORT_MIN = 0.35;
/* The note rag appends in strict mode when it removed sentences: "(2 sentences not supported by the
 * documents removed.)". It is shown as a separate, translated note, not as part of the answer. */
const STRICT_NOTE = /\s*\((\d+) sentences? not supported by the documents removed\.\)\s*$/;

function supportMin(data) {
  return typeof data.support_min === 'number' ? data.support_min : SUPPORT_MIN;
}

/* {text, dropped, note}: the answer without the strict-mode note, and what the note said. */
function splitStrictNote(answer) {
  const m = STRICT_NOTE.exec(answer || '');
  if (!m) return {text: answer || '', dropped: 0, note: ''};
  return {text: answer.slice(0, m.index), dropped: Number(m[1]), note: m[0].trim()};
}

/* Fills box with text, each graded sentence in a span.sentence (span.sentence.weak below min) and
 * each [n] marker clickable. Sentences are substrings of the answer in order; one not found (strict
 * mode dropped it) is skipped. Returns the number of weak sentences shown. */
function renderGrounded(box, text, sentences, min, cites) {
  box.replaceChildren();
  let at = 0;
  let weak = 0;
  for (const s of sentences || []) {
    if (!s || !s.text || typeof s.support !== 'number') continue;
    const i = text.indexOf(s.text, at);
    if (i < 0) continue;
    if (i > at) appendMarked(box, text.slice(at, i), cites);
    const score = s.support.toFixed(2);
    const isWeak = s.support < min;
    weak += isWeak ? 1 : 0;
    const span = el('span', {class: isWeak ? 'sentence weak' : 'sentence', 'data-support': score,
      title: (isWeak ? t('chat.weak') : t('chat.support')) + ' ' + score});
    appendMarked(span, s.text, cites);
    box.append(span);
    at = i + s.text.length;
  }
  if (at < text.length) appendMarked(box, text.slice(at), cites);
  return weak;
}

/* Appends str as text, each [n] that names a citation (cites: Map n -> citation) as a small
 * button that opens the passage, like its chip. */
function appendMarked(parent, str, cites) {
  const re = /\[(\d+)\]/g;
  let at = 0;
  let m;
  while ((m = re.exec(str)) !== null) {
    const c = cites && cites.get(Number(m[1]));
    if (!c) continue;
    if (m.index > at) parent.append(document.createTextNode(str.slice(at, m.index)));
    parent.append(el('button', {type: 'button', class: 'cite-ref', 'data-n': String(c.n), title: c.document + (c.heading_path ? ' · ' + c.heading_path : ''),
      onclick: () => openCitation(c)}, m[0]));
    at = m.index + m[0].length;
  }
  if (at < str.length) parent.append(document.createTextNode(str.slice(at)));
}

/* The collapsed block for R1-style reasoning; its label follows the UI language (data-i18n). */
function reasoningBlock() {
  return el('details', {class: 'reasoning'}, el('summary', {'data-i18n': 'chat.reasoning', text: t('chat.reasoning')}),
    el('div', {class: 'reasoning-text'}));
}

async function ask(question) {
  const log = $('chat-log');
  log.append(el('div', {class: 'msg user', text: question}));
  const answer = el('div', {class: 'answer-text'});
  const chips = el('div', {class: 'chips'});
  const meta = el('div', {class: 'meta'});
  const bubble = el('div', {class: 'msg bot', 'data-state': 'streaming'}, answer, chips, meta);
  let reasoning = null;
  const thoughts = () => {
    if (!reasoning) { reasoning = reasoningBlock(); bubble.prepend(reasoning); }
    return reasoning.querySelector('.reasoning-text');
  };
  answer.textContent = t('chat.thinking');
  log.append(bubble);
  log.scrollTop = log.scrollHeight;
  let got = false;
  const seen = new Set();
  try {
    const r = await fetch('/api/ask', {method: 'POST', headers: headers(true),
      body: JSON.stringify(Object.assign({question, conversation_id: state.conversation, stream: true, channel: 'ui'},
        state.secret ? {conversation_secret: state.secret} : {},
        $('chat-collection').value ? {collection: $('chat-collection').value} : {}))});
    if (!r.ok) {
      let msg = r.statusText;
      try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
      throw new ApiError(r.status, '', msg);
    }
    await readSSE(r, (name, data) => {
      if (name === 'token') {
        if (!got) { answer.textContent = ''; got = true; }
        answer.append(document.createTextNode(data.text));
      } else if (name === 'think') {
        thoughts().append(document.createTextNode(data.text));
      } else if (name === 'citation') {
        if (!seen.has(data.n)) { seen.add(data.n); chips.append(chip(data)); }
      } else if (name === 'done') {
        showAnswer(data, bubble, answer, chips, meta, seen, thoughts);
      } else if (name === 'error') {
        throw new ApiError(500, data.error.code, data.error.message);
      }
      log.scrollTop = log.scrollHeight;
    });
    if (bubble.dataset.state !== 'done') throw new Error('the answer stream ended early');
  } catch (e) {
    answer.textContent = e.message;
    answer.classList.add('error');
    bubble.dataset.state = 'error';
    if (e instanceof ApiError && e.status === 401) toast(t('err.auth'));
  }
}

/* The final answer replaces the streamed text: graded sentences, the strict-mode note, the full
 * reasoning, every citation and a line of facts (mode, time, tokens, mean support). */
function showAnswer(data, bubble, answer, chips, meta, seen, thoughts) {
  const {text, dropped, note} = splitStrictNote(data.answer);
  const weak = renderGrounded(answer, text, data.sentences, supportMin(data), new Map(data.citations.map((c) => [c.n, c])));
  if (data.reasoning) thoughts().textContent = data.reasoning;
  if (!text.trim() && data.reasoning) answer.append(el('span', {class: 'hint', text: t('chat.noanswer')}));
  if (weak) bubble.insertBefore(el('div', {class: 'weak-note', text: t('chat.weaknote')}), chips);
  if (dropped) bubble.insertBefore(el('div', {class: 'strict-note', title: note, text: t('chat.dropped').replace('{n}', dropped)}), chips);
  for (const c of data.citations) if (!seen.has(c.n)) { seen.add(c.n); chips.append(chip(c)); }
  const facts = [data.mode, Math.round(data.timings.total_ms) + ' ms'];
  if (data.n_tokens) facts.push(data.n_tokens + ' ' + t('chat.tokens'));
  if (data.sentences && data.sentences.length) facts.push(t('chat.support') + ' ' + data.confidence.toFixed(2));
  if (data.fallback) facts.push(t('chat.fallback'));
  meta.textContent = facts.join(' · ');
  bubble.classList.toggle('fallback', !!data.fallback);
  if (data.conversation_secret) state.secret = data.conversation_secret;
  for (const x of EXTRAS) if (x.onAnswer) x.onAnswer(data, bubble);
  bubble.dataset.state = 'done';
}

function setupChat() {
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('chat-input').value.trim();
    if (!q) return;
    $('chat-input').value = '';
    ask(q);
  });
  $('chat-new').addEventListener('click', () => {
    state.conversation = newConversationId();
    state.secret = '';
    $('chat-log').replaceChildren();
  });
  $('cite-close').addEventListener('click', () => {
    $('cite-panel').hidden = true;
    document.body.classList.remove('cite-open');
  });
}

/* ---- hit testing ------------------------------------------------------------------------------------- */

function setupHits() {
  $('hits-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const query = $('hits-query').value.trim();
    if (!query) return;
    const rows = $('hits-rows');
    try {
      const body = {query, top_k: Number($('hits-k').value) || 0, mode: $('hits-mode').value};
      if ($('hits-collection').value) body.collection = $('hits-collection').value;
      const data = await api('POST', '/api/search', body);
      rows.replaceChildren();
      if (!data.hits.length) rows.append(el('tr', {}, el('td', {colspan: '5', class: 'hint', text: t('hits.none')})));
      data.hits.forEach((h, i) => {
        const where = [h.document, h.heading_path, h.page_start ? t('docs.page') + ' ' + pageLabel(h.page_start, h.page_end) : '']
          .filter(Boolean).join(' · ');
        rows.append(el('tr', {},
          el('td', {text: String(i + 1)}),
          el('td', {}, el('div', {class: 'meta', text: where}), el('div', {class: 'passage', text: h.text})),
          el('td', {class: 'num', text: h.scores.bm25.toFixed(3)}),
          el('td', {class: 'num', text: h.scores.vector.toFixed(3)}),
          el('td', {class: 'num', text: h.scores.fused.toFixed(4)})));
      });
    } catch (err) { showError(err); }
  });
}

/* ---- settings ----------------------------------------------------------------------------------------- */

let settingsLoaded = {};

function widgetSnippet(s) {
  const origin = location.origin;
  return '<script src="' + origin + '/widget.js" data-collection="" data-lang="' + (s['widget.lang'] || 'en') + '"></script>';
}

async function loadSettings() {
  modelsBusy('loading'); /* until loadModels below has the list */
  try {
    const data = await api('GET', '/api/settings');
    settingsLoaded = data.settings;
    $('answer-mode').textContent = t('mode.' + data.answer_mode);
    const form = $('settings-form');
    for (const [k, v] of Object.entries(data.settings)) {
      const input = form.elements.namedItem(k);
      if (!input) continue;
      if (input.type === 'checkbox') input.checked = !!v;
      else input.value = v === null ? '' : String(v);
    }
    $('widget-snippet').textContent = widgetSnippet(data.settings);
  } catch (e) { showError(e); }
  await loadModels();
}

/* ---- models (answer and embedding) -------------------------------------------------------------------- */

/* GET /api/models: {models:[{file, arch, kind, params, type, bytes, fits, error}], answer_model,
 * embed_model}. Two selects choose among them (plus "none": the built-in path); a file that cannot
 * be used is listed but disabled, with its error as tooltip; one that does not fit in memory is
 * marked. A server without the endpoint (404) gets a note instead of the selects. */
let modelsLoaded = null;

function modelKind(m) {
  if (m.kind) return m.kind;
  if (m.error) return '';
  return m.encoder ? 'embedding' : 'generative';
}

function modelFits(m) {
  return m.fits !== undefined ? m.fits : m.fits_in_ram;
}

function modelOption(m) {
  const fits = modelFits(m);
  const facts = [m.arch, fmtParams(m.params), m.type || m.types, m.bytes ? fmtBytes(m.bytes) : ''].filter(Boolean);
  let text = m.file + (facts.length ? ' — ' + facts.join(', ') : '');
  const o = el('option', {value: m.file});
  if (m.error) {
    text = m.file + ' — ' + t('settings.unusable');
    o.disabled = true;
    o.title = m.error;
    o.className = 'unusable';
  } else if (fits === false) {
    text += ' — ⚠ ' + t('settings.nofit');
    o.title = t('settings.nofit');
    o.className = 'nofit';
    o.dataset.fits = 'false';
  }
  o.textContent = text;
  return o;
}

function fillModelSelect(sel, list, kind, current, noneKey) {
  sel.replaceChildren(el('option', {value: '', text: t(noneKey)}));
  for (const m of list) {
    const k = modelKind(m);
    if (k === kind || (!k && m.error)) sel.append(modelOption(m));
  }
  if (current && !list.some((m) => m.file === current)) {
    /* configured outside the models folder (an absolute path in the config file) */
    sel.append(el('option', {value: current, text: current + ' (' + t('settings.configured') + ')'}));
  }
  sel.value = current || '';
}

function renderModelRows(list) {
  const rows = $('models-rows');
  rows.replaceChildren();
  for (const m of list) {
    const fits = modelFits(m);
    const k = modelKind(m);
    rows.append(el('tr', {'data-file': m.file, class: m.error ? 'unusable' : fits === false ? 'nofit' : ''},
      el('td', {}, m.file, m.error ? el('div', {class: 'error', text: m.error}) : null),
      el('td', {text: k ? t('kind.' + k) : ''}),
      el('td', {text: m.arch || ''}),
      el('td', {class: 'num', text: fmtParams(m.params)}),
      el('td', {text: m.type || m.types || ''}),
      el('td', {class: 'num', text: m.bytes ? fmtBytes(m.bytes) : ''}),
      el('td', {class: m.error ? '' : fits === false ? 'error' : 'st-indexed',
        text: m.error ? '' : fits === false ? t('settings.nofit') : t('settings.fits')})));
  }
}

/* While the list loads or a choice is saved, a choice made meanwhile would be overwritten by the
 * reload: the controls wait. state '' enables them (#models-pick[data-state="ready"]). */
function modelsBusy(busy) {
  $('models-pick').dataset.state = busy || 'ready';
  for (const c of [$('answer-model'), $('embed-model'), $('models-save')]) c.disabled = !!busy;
}

async function loadModels() {
  const note = $('models-note');
  const pick = $('models-pick');
  modelsBusy('loading');
  let data;
  try {
    data = await api('GET', '/api/models');
  } catch (e) {
    pick.dataset.state = 'failed';
    modelsLoaded = null;
    pick.hidden = true;
    note.hidden = false;
    note.textContent = e.status === 404 || e.status === 405 ? t('settings.models_unavailable')
      : e.status === 401 ? t('err.auth') : e.message;
    note.dataset.reason = e.status === 404 || e.status === 405 ? 'unavailable' : 'error';
    return;
  }
  const list = Array.isArray(data.models) ? data.models : [];
  /* a model configured by its full path inside the models folder is that folder's file */
  const inFolder = (p) => (data.folder && p && p.startsWith(data.folder.replace(/\/$/, '') + '/') ? p.slice(data.folder.replace(/\/$/, '').length + 1) : p || '');
  modelsLoaded = {answer: inFolder(data.answer_model), embed: inFolder(data.embed_model)};
  fillModelSelect($('answer-model'), list, 'generative', modelsLoaded.answer, 'settings.none_answer');
  fillModelSelect($('embed-model'), list, 'embedding', modelsLoaded.embed, 'settings.none_embed');
  renderModelRows(list);
  $('models-table').hidden = !list.length;
  note.hidden = !!list.length;
  note.dataset.reason = list.length ? '' : 'empty';
  note.textContent = list.length ? '' : t('settings.models_empty') + (data.folder ? ' (' + t('settings.models_folder') + ': ' + data.folder + ')' : '');
  pick.hidden = false;
  modelsBusy('');
  watchReembed(null);
}

async function saveModels() {
  const status = $('models-status');
  status.className = 'status';
  if (!modelsLoaded) return;
  const changes = {};
  if ($('answer-model').value !== modelsLoaded.answer) changes['answer.model'] = $('answer-model').value;
  if ($('embed-model').value !== modelsLoaded.embed) changes['embed.model'] = $('embed-model').value;
  if (!Object.keys(changes).length) { status.textContent = t('settings.nochange'); status.dataset.state = 'unchanged'; return; }
  modelsBusy('saving'); /* until the list is reloaded after the save */
  status.textContent = '…';
  status.dataset.state = 'saving';
  let res = null;
  try {
    res = await api('PUT', '/api/settings', changes);
    status.textContent = t('settings.saved');
    status.className = 'status st-done';
    status.dataset.state = 'saved';
  } catch (e) {
    /* shown as the server said it: "cannot open 'x.gguf': ..." is what the admin needs to read */
    status.textContent = e.message;
    status.className = 'status error';
    status.dataset.state = 'error';
  }
  await loadSettings(); /* also reloads the models and enables the controls again */
  if (res && 'embed.model' in changes) watchReembed(res, true);
}

/* The re-embedding job that a new embedding model starts. It is found through the PUT reply when
 * that names it (job_id), else in GET /api/jobs (a job whose kind mentions "embed"); a server
 * without either simply shows nothing. Polls while the settings page is open. */
function isReembedJob(j) {
  return /embed/i.test(String(j.kind || j.type || j.name || j.what || ''));
}

async function findReembedJob(id) {
  if (id) {
    try { return await api('GET', '/api/jobs/' + id); } catch (e) { return null; }
  }
  let data;
  try { data = await api('GET', '/api/jobs'); } catch (e) { return null; }
  const list = (Array.isArray(data) ? data : data && data.jobs) || [];
  const mine = list.filter(isReembedJob).sort((a, b) => (b.id || 0) - (a.id || 0));
  return mine.find((j) => j.state === 'queued' || j.state === 'running') || mine[0] || null;
}

/* fresh: the admin just chose a new embedding model, so the newest re-embed job is shown even when
 * it already finished; a watcher already running takes the flag over. */
async function watchReembed(putReply, fresh) {
  if (fresh) state.reembedFresh = true;
  if (state.reembedWatch) return;
  state.reembedWatch = true;
  const box = $('reembed');
  let id = putReply && (putReply.job_id || (putReply.job && putReply.job.id)) || 0;
  let shown = false; /* a job seen running is followed to its end */
  try {
    for (let i = 0; state.page === 'settings'; i++) {
      const job = await findReembedJob(id);
      if (!job) {
        if (state.reembedFresh && i < 10) { await new Promise((res) => setTimeout(res, 300)); continue; } /* not queued yet */
        break;
      }
      id = job.id || id;
      const active = job.state === 'queued' || job.state === 'running';
      if (!active && !state.reembedFresh && !shown) break; /* an old job: nothing to show on page load */
      shown = true;
      box.hidden = false;
      box.dataset.state = job.state;
      $('reembed-bar').value = Math.round((job.progress || 0) * 100);
      $('reembed-text').textContent = job.state === 'failed' ? t('status.failed') + ': ' + (job.error || '')
        : job.state === 'done' ? t('settings.reembed_done') : t('status.' + job.state) + ' ' + Math.round((job.progress || 0) * 100) + '%';
      $('reembed-text').className = 'status' + (job.state === 'failed' ? ' error' : job.state === 'done' ? ' st-done' : '');
      if (!active) break;
      await new Promise((res) => setTimeout(res, 500));
    }
  } finally {
    state.reembedWatch = false;
    state.reembedFresh = false;
  }
}

function setupSettings() {
  $('models-save').addEventListener('click', saveModels);
  $('settings-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const changes = {};
    for (const input of form.querySelectorAll('[name]')) {
      const k = input.name;
      const v = input.type === 'checkbox' ? input.checked : input.type === 'number' ? Number(input.value) : input.value;
      if (String(v) !== String(settingsLoaded[k] === undefined ? '' : settingsLoaded[k])) changes[k] = v;
    }
    try {
      await api('PUT', '/api/settings', changes);
      $('settings-status').textContent = t('settings.saved');
      await loadSettings();
    } catch (err) { $('settings-status').textContent = err.message; }
  });
}

/* ---- start --------------------------------------------------------------------------------------------- */

/* After a login: the page asked for before it, else the current one, else the landing page. */
function showWanted() {
  const want = state.wanted && pageAllowed(state.wanted) ? state.wanted : state.page;
  state.wanted = '';
  show(want);
}

/* Runs the extras' boot() (acct.js: who is logged in), then shows the landing or asked-for page. */
async function bootExtras() {
  for (const x of EXTRAS) if (x.boot) await x.boot();
  applyLang();
}

function start() {
  applyLang();
  $('token').value = state.token;
  $('token-save').addEventListener('click', () => {
    state.token = $('token').value.trim();
    localStorage.setItem('kbox.token', state.token);
    toast('✓');
    bootExtras().then(() => showWanted());
  });
  $('lang').addEventListener('change', () => {
    state.lang = $('lang').value;
    localStorage.setItem('kbox.lang', state.lang);
    applyLang();
    if (state.page === 'documents') renderDocuments();
    if (state.page === 'settings') loadModels();
  });
  for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => show(b.dataset.page));
  $('doc-filter').addEventListener('input', renderDocuments);
  $('doc-status').addEventListener('change', renderDocuments);
  $('doc-refresh').addEventListener('click', loadDocuments);
  setupUpload();
  fetch('/api/health').then((r) => r.json()).then((h) => { state.maxUpload = h.max_upload_bytes || 0; }).catch(() => {});
  setupChat();
  setupHits();
  setupSettings();
  const page = (location.hash || '#upload').slice(1);
  const pages = ['upload', 'documents', 'chat', 'hits', 'settings'].concat(...EXTRAS.map((x) => Object.keys(x.pages || {})));
  bootExtras().then(() => show(pages.includes(page) ? page : landingPage()));
}

start();
