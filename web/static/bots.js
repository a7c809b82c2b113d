/* web/static/bots.js: the Bots page of the kbox UI (GET/POST/PUT/DELETE /api/bots, web/api_bots.c):
 * the list of bots with their collections and public page, a form to create or edit one (id, name,
 * collections, greeting, persona, fallback text, strict mode, answer model, widget origins, colour,
 * logo as a URL or a small uploaded image, language, public page on/off, and the handoff overrides:
 * on/off, keywords, fallbacks in a row, thumbs-down) and the embed snippet of the bot being edited.
 * Empty fields inherit the global settings (the Settings page).
 * It loads before app.js and registers itself in window.kboxExtras like loop.js (strings in English
 * and Chinese, the page loader); at run time it uses app.js's helpers (el, $, t, api, state, toast,
 * showError, applyLang). It builds its own <section id="page-bots">. Data is placed with
 * textContent only. Tests: tests/web/bots.mjs (headless Chromium, screenshots in both languages). */
'use strict';

(function () {
  const LOGO_MAX = 64 * 1024; /* RAG_BOT_LOGO_MAX: bytes of the data: URL */
  const bots = {built: false, editing: '', rows: []};

  function build() {
    if (bots.built) return;
    bots.built = true;
    const label = (key, input) => el('label', {class: 'faq-field'}, el('span', {'data-i18n': key}), input);
    const opt = (value, key) => el('option', {value, 'data-i18n': key});
    const section = el('section', {id: 'page-bots', class: 'page'},
      el('h1', {'data-i18n': 'bots.title'}),
      el('p', {class: 'hint', 'data-i18n': 'bots.hint'}),
      el('div', {class: 'row'}, el('button', {id: 'bot-add', type: 'button', 'data-i18n': 'bots.add'})),
      el('form', {id: 'bot-form', class: 'faq-form detail', hidden: ''},
        el('h2', {id: 'bot-form-title'}),
        label('bots.id', el('input', {id: 'bot-id', autocomplete: 'off', pattern: '[a-z0-9][a-z0-9-]{0,31}', required: ''})),
        label('bots.name', el('input', {id: 'bot-name', autocomplete: 'off'})),
        label('bots.collections', el('select', {id: 'bot-collections', multiple: '', size: '4'})),
        el('p', {class: 'hint small', 'data-i18n': 'bots.collections_hint'}),
        label('bots.greeting', el('input', {id: 'bot-greeting'})),
        label('bots.persona', el('textarea', {id: 'bot-persona', rows: '3'})),
        label('bots.fallback', el('input', {id: 'bot-fallback'})),
        label('bots.strict', el('select', {id: 'bot-strict'}, opt('inherit', 'bots.inherit'), opt('true', 'bots.on'), opt('false', 'bots.off'))),
        label('bots.model', el('select', {id: 'bot-model'}, opt('', 'bots.inherit'), opt('extractive', 'bots.extractive'))),
        label('bots.origins', el('textarea', {id: 'bot-origins', rows: '2', placeholder: 'https://shop.example.com'})),
        label('bots.color', el('input', {id: 'bot-color', placeholder: '#2b6cb0'})),
        label('bots.logo', el('input', {id: 'bot-logo', placeholder: 'https://…/logo.png'})),
        el('div', {class: 'row'},
          el('input', {id: 'bot-logo-file', type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp'}),
          el('img', {id: 'bot-logo-preview', class: 'bot-logo', alt: '', hidden: ''})),
        label('bots.lang', el('select', {id: 'bot-lang'}, opt('', 'bots.inherit'), el('option', {value: 'en', text: 'English'}), el('option', {value: 'zh', text: '中文'}))),
        el('label', {class: 'check'}, el('input', {id: 'bot-public', type: 'checkbox'}), el('span', {'data-i18n': 'bots.public'})),
        label('bots.handoff', el('select', {id: 'bot-handoff'}, opt('inherit', 'bots.inherit'), opt('true', 'bots.on'), opt('false', 'bots.off'))),
        label('bots.handoff_keywords', el('input', {id: 'bot-handoff-keywords', placeholder: 'human, agent, 转人工'})),
        label('bots.handoff_after', el('input', {id: 'bot-handoff-after', type: 'number', min: '0', max: '100'})),
        label('bots.handoff_thumbs', el('select', {id: 'bot-handoff-thumbs'}, opt('inherit', 'bots.inherit'), opt('true', 'bots.on'), opt('false', 'bots.off'))),
        el('div', {class: 'row'},
          el('button', {id: 'bot-save', type: 'submit', 'data-i18n': 'bots.save'}),
          el('button', {id: 'bot-cancel', type: 'button', class: 'secondary', 'data-i18n': 'bots.cancel'}),
          el('span', {id: 'bot-status', class: 'status', role: 'status'})),
        el('div', {id: 'bot-embed', hidden: ''},
          el('p', {class: 'hint', 'data-i18n': 'bots.snippet'}),
          el('pre', {id: 'bot-snippet', class: 'snippet'}),
          el('p', {class: 'hint'}, el('span', {'data-i18n': 'bots.page'}), ' ', el('a', {id: 'bot-page-link', target: '_blank', rel: 'noopener'})))),
      el('table', {class: 'grid bots-grid'},
        el('thead', {}, el('tr', {},
          el('th', {'data-i18n': 'bots.id'}), el('th', {'data-i18n': 'bots.name'}),
          el('th', {'data-i18n': 'bots.collections'}), el('th', {'data-i18n': 'bots.public'}),
          el('th', {'data-i18n': 'bots.actions'}))),
        el('tbody', {id: 'bot-rows'})));
    section.hidden = state.page !== 'bots';
    document.querySelector('main').append(section);
    $('bot-add').addEventListener('click', () => open(null));
    $('bot-cancel').addEventListener('click', () => { $('bot-form').hidden = true; });
    $('bot-form').addEventListener('submit', (e) => { e.preventDefault(); save(); });
    $('bot-logo-file').addEventListener('change', pickLogo);
    $('bot-logo').addEventListener('input', () => preview($('bot-logo').value.trim()));
    $('lang').addEventListener('change', () => { if (state.page === 'bots') { render(); title(); } });
    applyLang();
  }

  function preview(src) {
    const img = $('bot-logo-preview');
    img.hidden = !/^(https?:\/\/|data:image\/)/.test(src);
    if (!img.hidden) img.src = src;
  }

  /* A small image becomes a data: URL in the logo field; the server refuses more than LOGO_MAX. */
  function pickLogo() {
    const f = $('bot-logo-file').files[0];
    if (!f) return;
    const rd = new FileReader();
    rd.onload = () => {
      if (String(rd.result).length > LOGO_MAX) { toast(t('bots.logo_big')); return; }
      $('bot-logo').value = rd.result;
      preview(rd.result);
    };
    rd.readAsDataURL(f);
  }

  async function fillChoices(b) {
    const sel = $('bot-collections');
    const model = $('bot-model');
    try {
      const data = await api('GET', '/api/collections');
      const chosen = new Set((b ? b.collections : []).map((c) => c.name));
      sel.replaceChildren();
      for (const c of data.collections || []) sel.append(el('option', {value: c.name, text: c.name, ...(chosen.has(c.name) ? {selected: ''} : {})}));
    } catch (e) { showError(e); }
    try {
      const data = await api('GET', '/api/models');
      for (const o of Array.from(model.options)) if (o.value && o.value !== 'extractive') o.remove();
      for (const m of data.models || []) if (m.kind === 'generative') model.append(el('option', {value: m.file, text: m.file}));
    } catch (e) { /* models stay inherit/extractive */ }
    model.value = b ? b.model : '';
  }

  function snippet(id) {
    $('bot-embed').hidden = !id;
    if (!id) return;
    $('bot-snippet').textContent = '<script src="' + location.origin + '/widget.js" data-bot="' + id + '"></script>';
    const link = $('bot-page-link');
    link.href = '/b/' + encodeURIComponent(id);
    link.textContent = location.origin + '/b/' + id;
  }

  function open(b) {
    bots.editing = b ? b.id : '';
    $('bot-form').hidden = false;
    title();
    $('bot-id').value = b ? b.id : '';
    $('bot-id').disabled = !!b;
    $('bot-name').value = b ? b.name : '';
    $('bot-greeting').value = b ? b.own.greeting : '';
    $('bot-persona').value = b ? b.persona : '';
    $('bot-fallback').value = b ? b.fallback : '';
    $('bot-strict').value = b ? String(b.strict) : 'inherit';
    $('bot-origins').value = b ? b.origins.join('\n') : '';
    $('bot-color').value = b ? b.own.color : '';
    $('bot-logo').value = b ? b.logo : '';
    $('bot-lang').value = b ? b.own.lang : '';
    $('bot-public').checked = b ? b.public_page : true;
    $('bot-handoff').value = b ? String(b.handoff) : 'inherit';
    $('bot-handoff-keywords').value = b ? b.handoff_keywords : '';
    $('bot-handoff-after').value = b && b.handoff_after_fallbacks !== 'inherit' ? String(b.handoff_after_fallbacks) : '';
    $('bot-handoff-thumbs').value = b ? String(b.handoff_on_thumbs_down) : 'inherit';
    $('bot-status').textContent = '';
    $('bot-logo-file').value = '';
    preview(b ? b.logo : '');
    snippet(b ? b.id : '');
    fillChoices(b);
    $('bot-form').scrollIntoView({block: 'nearest'});
  }

  function title() {
    $('bot-form-title').textContent = bots.editing ? t('bots.editing').replace('{id}', bots.editing) : t('bots.new');
  }

  /* a select's "inherit" | "true" | "false" as the JSON value the API takes */
  function tri(v) {
    return v === 'inherit' ? 'inherit' : v === 'true';
  }

  async function save() {
    const strict = $('bot-strict').value;
    const body = {
      name: $('bot-name').value.trim(),
      collections: Array.from($('bot-collections').selectedOptions, (o) => o.value),
      greeting: $('bot-greeting').value, persona: $('bot-persona').value, fallback: $('bot-fallback').value,
      strict: strict === 'inherit' ? 'inherit' : strict === 'true',
      model: $('bot-model').value,
      origins: $('bot-origins').value.split(/[\s,]+/).filter(Boolean),
      color: $('bot-color').value.trim(), logo: $('bot-logo').value.trim(), lang: $('bot-lang').value,
      public_page: $('bot-public').checked,
      handoff: tri($('bot-handoff').value), handoff_keywords: $('bot-handoff-keywords').value.trim(),
      handoff_after_fallbacks: $('bot-handoff-after').value.trim() === '' ? 'inherit' : Number($('bot-handoff-after').value),
      handoff_on_thumbs_down: tri($('bot-handoff-thumbs').value),
    };
    try {
      let data;
      if (bots.editing) data = await api('PUT', '/api/bots/' + encodeURIComponent(bots.editing), body);
      else data = await api('POST', '/api/bots', Object.assign({id: $('bot-id').value.trim()}, body));
      bots.editing = data.bot.id;
      $('bot-id').disabled = true;
      $('bot-status').textContent = t('bots.saved');
      title();
      snippet(data.bot.id);
      load();
    } catch (e) {
      $('bot-status').textContent = e.message;
      showError(e);
    }
  }

  async function remove(b) {
    if (!confirm(t('bots.confirm').replace('{id}', b.id))) return;
    try {
      await api('DELETE', '/api/bots/' + encodeURIComponent(b.id));
      if (bots.editing === b.id) $('bot-form').hidden = true;
      load();
    } catch (e) { showError(e); }
  }

  function render() {
    const body = $('bot-rows');
    body.replaceChildren();
    for (const b of bots.rows) {
      const colls = b.collections.length ? b.collections.map((c) => c.name).join(', ') : t('bots.all');
      const page = b.public_page ? el('a', {href: '/b/' + encodeURIComponent(b.id), target: '_blank', rel: 'noopener', text: '/b/' + b.id}) : t('bots.off');
      const sw = el('span', {class: 'swatch'});
      sw.style.background = /^#[0-9a-fA-F]{3,6}$/.test(b.color) ? b.color : '#ccc'; /* CSSOM: allowed by the CSP */
      body.append(el('tr', {'data-bot': b.id},
        el('td', {}, sw, b.id),
        el('td', {text: b.name}), el('td', {text: colls}), el('td', {}, page),
        el('td', {},
          el('button', {type: 'button', class: 'secondary bot-edit', text: t('bots.edit'), onclick: () => open(b)}),
          el('button', {type: 'button', class: 'secondary bot-delete', text: t('bots.delete'), onclick: () => remove(b)}))));
    }
  }

  async function load() {
    build();
    try {
      const data = await api('GET', '/api/bots');
      bots.rows = data.bots || [];
      render();
    } catch (e) { showError(e); }
  }

  window.kboxExtras = window.kboxExtras || [];
  window.kboxExtras.push({
    pages: {bots: load},
    i18n: {
      en: {
        'nav.bots': 'Bots', 'bots.title': 'Bots',
        'bots.hint': 'A bot answers from its collections with its own greeting, persona and rules, on your website (widget), on its own page and through the OpenAI API (model = its id). Empty fields use the global settings.',
        'bots.add': 'New bot', 'bots.new': 'New bot', 'bots.editing': 'Edit bot {id}', 'bots.id': 'Id', 'bots.name': 'Name',
        'bots.collections': 'Collections', 'bots.collections_hint': 'None selected: every collection.',
        'bots.greeting': 'Greeting', 'bots.persona': 'Persona (system prompt)', 'bots.fallback': 'Fallback text',
        'bots.strict': 'Strict mode', 'bots.model': 'Answer model', 'bots.origins': 'Allowed website origins (one per line)',
        'bots.color': 'Theme colour', 'bots.logo': 'Logo (URL, or upload a small image)', 'bots.lang': 'Language',
        'bots.public': 'Public page', 'bots.save': 'Save', 'bots.cancel': 'Cancel', 'bots.saved': 'Saved',
        'bots.snippet': 'Paste this into your website:', 'bots.page': 'Public page:', 'bots.inherit': 'Global setting',
        'bots.on': 'On', 'bots.off': 'Off', 'bots.extractive': 'Extractive (quote the documents)', 'bots.all': 'All collections',
        'bots.actions': 'Actions', 'bots.edit': 'Edit', 'bots.delete': 'Delete', 'bots.confirm': 'Delete bot {id}?',
        'bots.logo_big': 'The image is too large: at most about 48 KB.',
        'bots.handoff': 'Handoff to a person', 'bots.handoff_keywords': 'Handoff keywords (comma-separated; empty: global list)',
        'bots.handoff_after': 'Offer a person after this many fallbacks in a row (empty: global; 0: never)',
        'bots.handoff_thumbs': 'Offer a person on a thumbs-down',
      },
      zh: {
        'nav.bots': '机器人', 'bots.title': '机器人',
        'bots.hint': '每个机器人只从自己的知识库作答，有自己的欢迎语、人设和规则，可嵌入网站（小部件）、拥有独立页面，也可通过 OpenAI 接口调用（model 填写其 ID）。留空的项目使用全局设置。',
        'bots.add': '新建机器人', 'bots.new': '新建机器人', 'bots.editing': '编辑机器人 {id}', 'bots.id': 'ID', 'bots.name': '名称',
        'bots.collections': '知识库', 'bots.collections_hint': '不选：使用全部知识库。',
        'bots.greeting': '欢迎语', 'bots.persona': '人设（系统提示词）', 'bots.fallback': '无答案时的回复',
        'bots.strict': '严格模式', 'bots.model': '回答模型', 'bots.origins': '允许嵌入的网站来源（每行一个）',
        'bots.color': '主题颜色', 'bots.logo': '标志（网址，或上传一张小图片）', 'bots.lang': '语言',
        'bots.public': '公开页面', 'bots.save': '保存', 'bots.cancel': '取消', 'bots.saved': '已保存',
        'bots.snippet': '将以下代码粘贴到您的网站：', 'bots.page': '公开页面：', 'bots.inherit': '全局设置',
        'bots.on': '开', 'bots.off': '关', 'bots.extractive': '抽取式（直接引用文档）', 'bots.all': '全部知识库',
        'bots.actions': '操作', 'bots.edit': '编辑', 'bots.delete': '删除', 'bots.confirm': '确定删除机器人 {id} 吗？',
        'bots.logo_big': '图片太大：最多约 48 KB。',
        'bots.handoff': '转人工', 'bots.handoff_keywords': '转人工关键词（逗号分隔；留空：全局列表）',
        'bots.handoff_after': '连续多少次无答案后提供人工（留空：全局；0：从不）',
        'bots.handoff_thumbs': '点踩时提供人工',
      },
    },
  });
})();
