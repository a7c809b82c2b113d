/* web/static/colls.js: a collection's own handoff triggers on the Documents page of the kbox UI
 * (GET/PUT /api/collections/{id}/handoff, web/api_docs.c; the rule that merges them with a bot's
 * and the global handoff.* keys is rag/coll_handoff.c's): pick a collection, then handoff on/off,
 * the keyword trigger (global list, off, or its own list), fallbacks in a row and thumbs-down,
 * each "Global setting" to inherit. Shown to those who may edit documents (editor, owner, the
 * admin token); the server checks every call.
 * It loads before app.js and registers itself in window.kboxExtras like bots.js (strings in English
 * and Chinese, a loader for the "documents" page); at run time it uses app.js's helpers (el, $, t,
 * api, toast, showError, applyLang, pageAllowed). Data is placed with textContent only.
 * Tests: tests/web/colls.mjs (headless Chromium, a screenshot in both languages). */
'use strict';

(function () {
  const ch = {built: false, list: [], last: null};

  function build() {
    if (ch.built) return;
    ch.built = true;
    const label = (key, input) => el('label', {class: 'faq-field'}, el('span', {'data-i18n': key}), input);
    const opt = (value, key) => el('option', {value, 'data-i18n': key});
    const tri = (id) => el('select', {id}, opt('inherit', 'colls.inherit'), opt('true', 'colls.on'), opt('false', 'colls.off'));
    const box = el('details', {id: 'coll-handoff', class: 'detail'},
      el('summary', {'data-i18n': 'colls.title'}),
      el('p', {class: 'hint', 'data-i18n': 'colls.hint'}),
      el('form', {id: 'coll-form', class: 'faq-form'},
        label('colls.collection', el('select', {id: 'coll-pick'})),
        label('colls.handoff', tri('coll-handoff-on')),
        label('colls.keywords_mode', el('select', {id: 'coll-kw-mode'},
          opt('inherit', 'colls.inherit'), opt('off', 'colls.off'), opt('own', 'colls.own'))),
        label('colls.keywords', el('input', {id: 'coll-kw', placeholder: 'human, agent, 转人工'})),
        label('colls.after', el('input', {id: 'coll-after', type: 'number', min: '0', max: '100'})),
        label('colls.thumbs', tri('coll-thumbs')),
        el('div', {class: 'row'}, el('button', {id: 'coll-save', type: 'submit', 'data-i18n': 'colls.save'})),
        el('p', {id: 'coll-effective', class: 'hint small'})));
    $('page-documents').append(box);
    $('coll-pick').addEventListener('change', () => loadOne());
    $('coll-kw-mode').addEventListener('change', () => { $('coll-kw').disabled = $('coll-kw-mode').value !== 'own'; });
    $('coll-form').addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
    $('lang').addEventListener('change', () => { if (ch.last) fill(ch.last, $('coll-form').dataset.coll); }); /* the "in force" line */
    applyLang();
  }

  function fill(h, id) {
    ch.last = h;
    $('coll-form').dataset.coll = id; /* which collection the form shows */
    $('coll-handoff-on').value = String(h.handoff);
    $('coll-kw-mode').value = h.handoff_keywords === false ? 'off' : h.handoff_keywords === 'inherit' ? 'inherit' : 'own';
    $('coll-kw').value = typeof h.handoff_keywords === 'string' && h.handoff_keywords !== 'inherit' ? h.handoff_keywords : '';
    $('coll-kw').disabled = $('coll-kw-mode').value !== 'own';
    $('coll-after').value = h.handoff_after_fallbacks === 'inherit' ? '' : String(h.handoff_after_fallbacks);
    $('coll-thumbs').value = String(h.handoff_on_thumbs_down);
    const e = h.effective_handoff;
    $('coll-effective').textContent = t('colls.effective')
      .replace('{on}', t(e.enabled ? 'colls.on' : 'colls.off'))
      .replace('{kw}', e.keywords_on ? e.keywords : t('colls.off'))
      .replace('{n}', e.after_fallbacks ? String(e.after_fallbacks) : t('colls.off'))
      .replace('{thumbs}', t(e.on_thumbs_down ? 'colls.on' : 'colls.off'));
  }

  async function loadOne() {
    const id = $('coll-pick').value;
    if (!id) return;
    try {
      const h = (await api('GET', '/api/collections/' + id + '/handoff')).handoff;
      if ($('coll-pick').value === id) fill(h, id); /* a later pick's answer wins, not a slower earlier one */
    } catch (e) { showError(e); }
  }

  async function save() {
    const id = $('coll-pick').value;
    const mode = $('coll-kw-mode').value, after = $('coll-after').value.trim();
    const tri = (v) => (v === 'inherit' ? 'inherit' : v === 'true');
    const body = {
      handoff: tri($('coll-handoff-on').value),
      handoff_keywords: mode === 'off' ? false : mode === 'inherit' || !$('coll-kw').value.trim() ? 'inherit' : $('coll-kw').value.trim(),
      handoff_after_fallbacks: after === '' ? 'inherit' : Number(after),
      handoff_on_thumbs_down: tri($('coll-thumbs').value),
    };
    try {
      const h = (await api('PUT', '/api/collections/' + id + '/handoff', body)).handoff;
      if ($('coll-pick').value === id) fill(h, id);
      toast(t('colls.saved'));
    } catch (e) { showError(e); }
  }

  async function load() {
    if (!pageAllowed('upload')) { if ($('coll-handoff')) $('coll-handoff').hidden = true; return; }
    build();
    $('coll-handoff').hidden = false;
    try { ch.list = (await api('GET', '/api/collections')).collections || []; } catch (e) { return; }
    const keep = $('coll-pick').value;
    $('coll-pick').replaceChildren(...ch.list.map((c) => el('option', {value: String(c.id), text: c.name})));
    if (ch.list.some((c) => String(c.id) === keep)) $('coll-pick').value = keep;
    await loadOne();
  }

  window.kboxExtras = window.kboxExtras || [];
  window.kboxExtras.push({
    pages: {documents: load},
    i18n: {
      en: {
        'colls.title': 'Handoff to a person, per collection',
        'colls.hint': 'Questions over this collection follow these triggers. A bot\'s own settings win; when a conversation searches several collections, a trigger that is off for any of them is off.',
        'colls.collection': 'Collection', 'colls.handoff': 'Handoff to a person', 'colls.keywords_mode': 'Keyword trigger',
        'colls.keywords': 'Keywords (comma-separated)', 'colls.after': 'Offer a person after this many fallbacks in a row (empty: global; 0: never)',
        'colls.thumbs': 'Offer a person on a thumbs-down', 'colls.inherit': 'Global setting', 'colls.on': 'On',
        'colls.off': 'Off', 'colls.own': 'Own list', 'colls.save': 'Save', 'colls.saved': 'Saved',
        'colls.effective': 'In force: handoff {on}; keywords: {kw}; after fallbacks: {n}; thumbs-down: {thumbs}.',
      },
      zh: {
        'colls.title': '按知识库设置转人工',
        'colls.hint': '针对该知识库的提问遵循以下触发条件。机器人自身的设置优先；一次对话检索多个知识库时，任一知识库关闭的触发条件即为关闭。',
        'colls.collection': '知识库', 'colls.handoff': '转人工', 'colls.keywords_mode': '关键词触发',
        'colls.keywords': '关键词（逗号分隔）', 'colls.after': '连续多少次无答案后提供人工（留空：全局；0：从不）',
        'colls.thumbs': '点踩时提供人工', 'colls.inherit': '全局设置', 'colls.on': '开',
        'colls.off': '关', 'colls.own': '自定义列表', 'colls.save': '保存', 'colls.saved': '已保存',
        'colls.effective': '当前生效：转人工 {on}；关键词：{kw}；连续无答案次数：{n}；点踩：{thumbs}。',
      },
    },
  });
})();
