/* web/static/faq.js: the FAQ page of the kbox UI: curated answers (GET/POST/PUT/DELETE /api/faq,
 * web/api_faq.c): list with search, paging and use counts, add, edit (each save is a new version;
 * the versions are shown), delete, CSV/XLSX import and export. Loaded after app.js and built on its
 * helpers (el, $, api, t, I18N, state, showError, toast): it adds its strings to I18N in English
 * and Chinese, builds its own <section id="page-faq"> so index.html only names the nav button and
 * this script, and app.js's show('faq') calls loadFaq(). Data is only ever placed with textContent.
 * Tests: tests/web/faq.mjs (headless Chromium). */
'use strict';

Object.assign(I18N.en, {
  'nav.faq': 'FAQ', 'faq.title': 'FAQ and curated answers',
  'faq.hint': 'Curated answers are given as written when a customer asks the question or a paraphrase of it. Each save keeps the previous version.',
  'faq.search': 'Search questions and answers', 'faq.add': 'Add', 'faq.import': 'Import CSV/XLSX',
  'faq.export_csv': 'Export CSV', 'faq.export_xlsx': 'Export XLSX', 'faq.question': 'Question',
  'faq.similar': 'Similar questions (one per line)', 'faq.answer': 'Answer', 'faq.uses': 'Used',
  'faq.version': 'Version', 'faq.actions': 'Actions', 'faq.edit': 'Edit', 'faq.delete': 'Delete',
  'faq.save': 'Save', 'faq.cancel': 'Cancel', 'faq.versions': 'Versions', 'faq.none': 'No curated answers yet.',
  'faq.confirm': 'Delete this curated answer and all its versions?', 'faq.imported': 'Imported {n} curated answers',
  'faq.saved': 'Saved (version {v})', 'faq.prev': 'Previous', 'faq.next': 'Next', 'faq.total': '{n} in all',
  'faq.new': 'New curated answer', 'faq.editing': 'Edit curated answer #{id}', 'faq.collection': 'Collection',
  'faq.import_hint': 'Columns: question, similar_questions (separated by new lines or "|"), answer. A bad row imports nothing.',
});
Object.assign(I18N.zh, {
  'nav.faq': '问答库', 'faq.title': '常见问题与人工答案',
  'faq.hint': '顾客提出这个问题或意思相近的问题时，直接给出这里写好的答案。每次保存都会保留之前的版本。',
  'faq.search': '搜索问题和答案', 'faq.add': '添加', 'faq.import': '导入 CSV/XLSX',
  'faq.export_csv': '导出 CSV', 'faq.export_xlsx': '导出 XLSX', 'faq.question': '问题',
  'faq.similar': '相似问题（每行一个）', 'faq.answer': '答案', 'faq.uses': '使用次数',
  'faq.version': '版本', 'faq.actions': '操作', 'faq.edit': '编辑', 'faq.delete': '删除',
  'faq.save': '保存', 'faq.cancel': '取消', 'faq.versions': '历史版本', 'faq.none': '还没有人工答案。',
  'faq.confirm': '确定删除这条人工答案及其所有版本吗？', 'faq.imported': '已导入 {n} 条人工答案',
  'faq.saved': '已保存（第 {v} 版）', 'faq.prev': '上一页', 'faq.next': '下一页', 'faq.total': '共 {n} 条',
  'faq.new': '新建人工答案', 'faq.editing': '编辑人工答案 #{id}', 'faq.collection': '知识库',
  'faq.import_hint': '列：question（问题）、similar_questions（相似问题，用换行或"|"分隔）、answer（答案）。任何一行有误则整个文件都不导入。',
});

const faq = {page: 1, pageSize: 20, total: 0, editing: 0, built: false};

/* The page's static part, built once. */
function buildFaqPage() {
  if (faq.built) return;
  faq.built = true;
  const label = (key, input) => el('label', {class: 'faq-field'}, el('span', {'data-i18n': key}), input);
  const section = el('section', {id: 'page-faq', class: 'page', hidden: ''},
    el('h1', {'data-i18n': 'faq.title'}),
    el('p', {class: 'hint', 'data-i18n': 'faq.hint'}),
    el('div', {class: 'row'},
      el('input', {id: 'faq-search', type: 'search', 'data-i18n-ph': 'faq.search'}),
      el('select', {id: 'faq-collection', class: 'coll-select', 'aria-label': 'Collection'},
        el('option', {value: '', 'data-i18n': 'coll.all'})),
      el('button', {id: 'faq-add', type: 'button', 'data-i18n': 'faq.add'}),
      el('button', {id: 'faq-import-btn', type: 'button', class: 'secondary', 'data-i18n': 'faq.import'}),
      el('input', {id: 'faq-import', type: 'file', accept: '.csv,.xlsx,text/csv', hidden: ''}),
      el('button', {id: 'faq-export-csv', type: 'button', class: 'secondary', 'data-i18n': 'faq.export_csv'}),
      el('button', {id: 'faq-export-xlsx', type: 'button', class: 'secondary', 'data-i18n': 'faq.export_xlsx'})),
    el('p', {class: 'hint small', 'data-i18n': 'faq.import_hint'}),
    el('form', {id: 'faq-form', class: 'faq-form detail', hidden: ''},
      el('h2', {id: 'faq-form-title'}),
      label('faq.question', el('input', {id: 'faq-q', autocomplete: 'off'})),
      label('faq.similar', el('textarea', {id: 'faq-sim', rows: '3'})),
      label('faq.answer', el('textarea', {id: 'faq-a', rows: '4'})),
      el('div', {class: 'row'},
        el('button', {id: 'faq-save', type: 'submit', 'data-i18n': 'faq.save'}),
        el('button', {id: 'faq-cancel', type: 'button', class: 'secondary', 'data-i18n': 'faq.cancel'}),
        el('span', {id: 'faq-status', class: 'status', role: 'status'})),
      el('div', {id: 'faq-versions', class: 'faq-versions'})),
    el('table', {class: 'grid faq-grid'},
      el('thead', {}, el('tr', {},
        el('th', {'data-i18n': 'faq.question'}), el('th', {'data-i18n': 'faq.answer'}),
        el('th', {'data-i18n': 'faq.uses'}), el('th', {'data-i18n': 'faq.version'}),
        el('th', {'data-i18n': 'faq.actions'}))),
      el('tbody', {id: 'faq-rows'})),
    el('div', {class: 'row faq-pager'},
      el('button', {id: 'faq-prev', type: 'button', class: 'secondary', 'data-i18n': 'faq.prev'}),
      el('span', {id: 'faq-total', class: 'status'}),
      el('button', {id: 'faq-next', type: 'button', class: 'secondary', 'data-i18n': 'faq.next'})));
  document.querySelector('main').append(section);

  let timer = 0;
  $('faq-search').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { faq.page = 1; loadFaq(); }, 250); });
  $('faq-collection').addEventListener('change', () => { faq.page = 1; loadFaq(); });
  $('faq-add').addEventListener('click', () => openFaqForm(null));
  $('faq-cancel').addEventListener('click', () => { $('faq-form').hidden = true; });
  $('faq-form').addEventListener('submit', (e) => { e.preventDefault(); saveFaq(); });
  $('faq-prev').addEventListener('click', () => { if (faq.page > 1) { faq.page--; loadFaq(); } });
  $('faq-next').addEventListener('click', () => { if (faq.page * faq.pageSize < faq.total) { faq.page++; loadFaq(); } });
  $('faq-import-btn').addEventListener('click', () => $('faq-import').click());
  $('faq-import').addEventListener('change', importFaq);
  $('faq-export-csv').addEventListener('click', () => exportFaq('csv'));
  $('faq-export-xlsx').addEventListener('click', () => exportFaq('xlsx'));
  $('lang').addEventListener('change', () => {
    if (state.page === 'faq') renderFaqRows(faq.rows || []);
    $('faq-form-title').textContent = faq.editing ? t('faq.editing').replace('{id}', faq.editing) : t('faq.new');
  });
  applyLang();
}

function faqQuery() {
  const p = new URLSearchParams({page: String(faq.page), page_size: String(faq.pageSize)});
  const q = $('faq-search').value.trim();
  const coll = $('faq-collection').value;
  if (q) p.set('q', q);
  if (coll) p.set('collection', coll);
  return p;
}

async function loadFaqCollections() {
  const sel = $('faq-collection');
  try {
    const data = await api('GET', '/api/collections');
    const keep = sel.value;
    sel.replaceChildren(el('option', {value: '', 'data-i18n': 'coll.all', text: t('coll.all')}));
    for (const c of data.collections || []) sel.append(el('option', {value: String(c.id), text: c.name}));
    sel.value = keep;
  } catch (e) { /* the list stays as it is; loadFaq reports auth errors */ }
}

async function loadFaq() {
  buildFaqPage();
  loadFaqCollections();
  const current = latest('faq');
  try {
    const data = await api('GET', '/api/faq?' + faqQuery().toString());
    if (!current()) return;
    faq.total = data.total;
    faq.rows = data.faq;
    renderFaqRows(data.faq);
  } catch (e) { showError(e); }
}

function renderFaqRows(rows) {
  const body = $('faq-rows');
  body.replaceChildren();
  if (!rows.length) body.append(el('tr', {}, el('td', {colspan: '5', class: 'hint', text: t('faq.none')})));
  for (const f of rows) {
    const q = el('td', {}, el('div', {class: 'faq-q', text: f.question}));
    for (const s of f.similar_questions) q.append(el('div', {class: 'faq-sim', text: s}));
    body.append(el('tr', {'data-id': String(f.id)}, q,
      el('td', {class: 'faq-answer', text: f.answer}),
      el('td', {class: 'num faq-uses', text: String(f.uses)}),
      el('td', {class: 'num', text: 'v' + f.version}),
      el('td', {}, el('div', {class: 'actions'},
        el('button', {type: 'button', class: 'faq-edit', text: t('faq.edit'), onclick: () => openFaqForm(f)}),
        el('button', {type: 'button', class: 'danger faq-del', text: t('faq.delete'), onclick: () => deleteFaq(f.id)})))));
  }
  $('faq-total').textContent = t('faq.total').replace('{n}', faq.total);
  $('faq-prev').disabled = faq.page <= 1;
  $('faq-next').disabled = faq.page * faq.pageSize >= faq.total;
}

async function openFaqForm(f) {
  faq.editing = f ? f.id : 0;
  $('faq-form-title').textContent = f ? t('faq.editing').replace('{id}', f.id) : t('faq.new');
  $('faq-q').value = f ? f.question : '';
  $('faq-sim').value = f ? f.similar_questions.join('\n') : '';
  $('faq-a').value = f ? f.answer : '';
  $('faq-status').textContent = '';
  $('faq-versions').replaceChildren();
  $('faq-form').hidden = false;
  $('faq-q').focus();
  if (!f) return;
  try {
    const data = await api('GET', '/api/faq/' + f.id + '/versions');
    const list = el('ol', {class: 'faq-version-list', reversed: ''});
    for (const v of data.versions) {
      list.append(el('li', {}, el('span', {class: 'meta', text: 'v' + v.version + ' · ' + new Date(v.created_at * 1000).toLocaleString() + ' · '}),
        el('span', {text: v.answer})));
    }
    $('faq-versions').replaceChildren(el('h3', {'data-i18n': 'faq.versions', text: t('faq.versions')}), list);
  } catch (e) { showError(e); }
}

async function saveFaq() {
  const body = {
    question: $('faq-q').value,
    similar_questions: $('faq-sim').value.split('\n').map((s) => s.trim()).filter((s) => s),
    answer: $('faq-a').value,
  };
  const coll = $('faq-collection').value;
  if (!faq.editing && coll) body.collection = coll;
  try {
    const data = faq.editing ? await api('PUT', '/api/faq/' + faq.editing, body) : await api('POST', '/api/faq', body);
    $('faq-status').textContent = t('faq.saved').replace('{v}', data.faq.version);
    $('faq-status').className = 'status st-done';
    faq.editing = data.faq.id;
    $('faq-form').dataset.savedId = String(data.faq.id);
    await loadFaq();
    openFaqForm(data.faq);
    $('faq-status').textContent = t('faq.saved').replace('{v}', data.faq.version);
  } catch (e) {
    $('faq-status').textContent = e.message;
    $('faq-status').className = 'status error';
  }
}

async function deleteFaq(id) {
  if (!confirm(t('faq.confirm'))) return;
  try {
    await api('DELETE', '/api/faq/' + id);
    if (faq.editing === id) $('faq-form').hidden = true;
    await loadFaq();
  } catch (e) { showError(e); }
}

async function importFaq() {
  const file = $('faq-import').files[0];
  $('faq-import').value = '';
  if (!file) return;
  const coll = $('faq-collection').value;
  const h = {};
  if (state.token) h['Authorization'] = 'Bearer ' + state.token;
  try {
    const r = await fetch('/api/faq/import' + (coll ? '?collection=' + encodeURIComponent(coll) : ''),
      {method: 'POST', headers: h, body: file});
    const data = await r.json();
    if (!r.ok) throw new ApiError(r.status, data.error.code, data.error.message);
    toast(t('faq.imported').replace('{n}', data.imported));
    faq.page = 1;
    await loadFaq();
  } catch (e) { showError(e); }
}

async function exportFaq(format) {
  const p = new URLSearchParams({format});
  const coll = $('faq-collection').value;
  if (coll) p.set('collection', coll);
  try {
    const r = await fetch('/api/faq/export?' + p.toString(), {headers: headers(false)});
    if (!r.ok) {
      const data = await r.json();
      throw new ApiError(r.status, data.error.code, data.error.message);
    }
    const url = URL.createObjectURL(await r.blob());
    const a = el('a', {href: url, download: 'faq.' + format});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (e) { showError(e); }
}

buildFaqPage();
if (location.hash === '#faq') show('faq');
