/* web/static/app.js: the kbox browser UI: upload, documents, chat, hit testing, settings, in English
 * and Chinese. Plain DOM, no framework, no network access beyond this server.
 * Safety rule: text that comes from documents or users is only ever placed with textContent (the
 * el() helper below); innerHTML is never used. The admin token lives in localStorage and is sent as
 * "Authorization: Bearer". Tests: tests/web/e2e.mjs (headless Chromium). */
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
    'coll.all': 'All collections', 'cite.title': 'Cited passage', 'cite.close': 'Close', 'cite.document': 'Document', 'cite.heading': 'Section',
    'cite.page': 'Page', 'mode.extractive': 'extractive (sentences quoted from the documents)',
    'mode.generative': 'generative (a local model writes the answer)', 'err.auth': 'Enter the admin token (printed by kbox serve) at the top right.',
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
    'hits.title': '召回测试', 'hits.hint': '查看一个查询召回了哪些段落，以及它们的 BM25、向量和融合分数。',
    'hits.ph': '查询', 'hits.topk': '数量', 'hits.run': '检索', 'hits.passage': '段落',
    'hits.vector': '向量', 'hits.fused': '融合', 'hits.none': '没有找到段落。',
    'settings.title': '设置', 'settings.mode': '回答模式', 'settings.model': '对话模型（GGUF 路径；留空为抽取式回答）',
    'settings.topk': '每次回答使用的段落数 (top_k)', 'settings.fallback': '无答案时的回复',
    'settings.strict': '只根据文档回答（严格模式）', 'settings.widget': '网站聊天挂件',
    'settings.wtitle': '标题', 'settings.wcolor': '颜色', 'settings.wgreeting': '欢迎语',
    'settings.wlang': '语言', 'settings.origins': '允许的来源（逗号分隔）',
    'settings.snippet': '把下面的代码粘贴到您的网站：', 'settings.save': '保存设置', 'settings.saved': '已保存',
    'coll.all': '全部知识库', 'cite.title': '引用段落', 'cite.close': '关闭', 'cite.document': '文档', 'cite.heading': '章节',
    'cite.page': '页码', 'mode.extractive': '抽取式（直接引用文档中的句子）',
    'mode.generative': '生成式（由本地模型撰写回答）', 'err.auth': '请在右上角输入管理员令牌（kbox serve 启动时会打印）。',
  },
};

const state = {
  lang: localStorage.getItem('kbox.lang') || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en'),
  token: localStorage.getItem('kbox.token') || '',
  conversation: newConversationId(),
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
  return h;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
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
  if (e instanceof ApiError && e.status === 401) toast(t('err.auth'));
  else toast(e.message || String(e));
}

function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1048576).toFixed(1) + ' MB';
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

function show(page) {
  state.page = page;
  $('cite-panel').hidden = true;
  document.body.classList.remove('cite-open');
  for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== 'page-' + page;
  for (const b of document.querySelectorAll('#nav button')) b.classList.toggle('active', b.dataset.page === page);
  if (page === 'documents') loadDocuments();
  if (page === 'chat' || page === 'hits') loadCollections();
  if (page === 'settings') loadSettings();
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
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100); };
  xhr.onerror = () => { status.textContent = 'network error'; status.className = 'status st-failed'; };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    if (xhr.status >= 300 || !data) {
      const msg = (data && data.error && data.error.message) || xhr.statusText;
      status.textContent = msg;
      status.className = 'status st-failed';
      if (xhr.status === 401) toast(t('err.auth'));
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
  for (const d of list) {
    const actions = el('div', {class: 'actions'},
      el('button', {class: 'secondary', onclick: () => viewChunks(d.id)}, t('docs.view')),
      el('button', {class: 'secondary', onclick: () => download(d)}, t('docs.download')),
      el('button', {class: 'secondary', onclick: () => reingest(d.id)}, t('docs.reingest')),
      el('button', {class: 'danger', onclick: () => removeDoc(d.id)}, t('docs.delete')));
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
  if (!state.token) return; /* listing collections is an admin call; without it: all collections */
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
  $('cite-page').textContent = c.page ? String(c.page) : '—';
  $('cite-text').textContent = c.text || '';
  $('cite-panel').hidden = false;
  document.body.classList.add('cite-open');
}

function chip(c) {
  return el('button', {class: 'chip', type: 'button', title: c.heading_path || '', onclick: () => openCitation(c)},
    '[' + c.n + '] ' + c.document + (c.page ? ' p.' + c.page : ''));
}

async function ask(question) {
  const log = $('chat-log');
  log.append(el('div', {class: 'msg user', text: question}));
  const answer = el('div', {class: 'answer-text'});
  const chips = el('div', {class: 'chips'});
  const meta = el('div', {class: 'meta'});
  const bubble = el('div', {class: 'msg bot', 'data-state': 'streaming'}, answer, chips, meta);
  answer.textContent = t('chat.thinking');
  log.append(bubble);
  log.scrollTop = log.scrollHeight;
  let got = false;
  const seen = new Set();
  try {
    const r = await fetch('/api/ask', {method: 'POST', headers: headers(true),
      body: JSON.stringify(Object.assign({question, conversation_id: state.conversation, stream: true},
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
      } else if (name === 'citation') {
        if (!seen.has(data.n)) { seen.add(data.n); chips.append(chip(data)); }
      } else if (name === 'done') {
        answer.textContent = data.answer;
        for (const c of data.citations) if (!seen.has(c.n)) { seen.add(c.n); chips.append(chip(c)); }
        meta.textContent = data.mode + ' · ' + Math.round(data.timings.total_ms) + ' ms' + (data.fallback ? ' · ' + t('chat.fallback') : '');
        bubble.dataset.state = 'done';
      } else if (name === 'error') {
        throw new ApiError(500, data.error.code, data.error.message);
      }
      log.scrollTop = log.scrollHeight;
    });
  } catch (e) {
    answer.textContent = e.message;
    answer.classList.add('error');
    bubble.dataset.state = 'error';
    if (e instanceof ApiError && e.status === 401) toast(t('err.auth'));
  }
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
}

function setupSettings() {
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

function start() {
  applyLang();
  $('token').value = state.token;
  $('token-save').addEventListener('click', () => {
    state.token = $('token').value.trim();
    localStorage.setItem('kbox.token', state.token);
    toast('✓');
    if (state.page === 'documents') loadDocuments();
    if (state.page === 'settings') loadSettings();
  });
  $('lang').addEventListener('change', () => {
    state.lang = $('lang').value;
    localStorage.setItem('kbox.lang', state.lang);
    applyLang();
    if (state.page === 'documents') renderDocuments();
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
  show(['upload', 'documents', 'chat', 'hits', 'settings'].includes(page) ? page : 'upload');
}

start();
