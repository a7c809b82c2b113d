/* web/static/loop.js: the customer-service loop in the browser UI: the Review page (the inbox of
 * fallbacks, low-confidence answers and thumbs-down, GET /api/review), the Dashboard (GET
 * /api/stats, charts drawn here as inline SVG: no chart library) and the thumbs under every chat
 * answer (POST /api/feedback). It loads before app.js and registers itself in window.kboxExtras
 * (strings in English and Chinese, page loaders, an answer hook); at run time it uses app.js's
 * helpers (el, t, api, state, toast, showError), which exist by the time a page is shown.
 * From a review item, staff write the correct answer (POST /api/faq {collection, question,
 * answer}), attach the question to an existing curated answer or a document's FAQ pair picked
 * from a searchable list (POST /api/faq/{id}/similar {question}; a document's pair becomes a
 * curated answer citing it, see similarForm),
 * both followed by POST /api/review/{id} {action: "resolved"}, or dismiss it (action "dismiss").
 * Data from users is placed with textContent only. The Dashboard reflows to one column at 360 px.
 * Tests: tests/web/loop.mjs (headless Chromium; screenshots of both pages in both languages). */
'use strict';

(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const PAGE_SIZE = 20;
  const view = {offset: 0};

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function day(offsetDays) {
    return new Date(Date.now() + offsetDays * 86400000).toISOString().slice(0, 10);
  }

  function when(unix) {
    return new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 16);
  }

  function pct(x) {
    return x === null || x === undefined ? '–' : Math.round(x * 100) + '%';
  }

  function label(key) {
    return el('span', {'data-i18n': key, text: t(key)});
  }

  function field(key, input) {
    return el('label', {class: 'loop-field'}, label(key), input);
  }

  /* A collection filter: "All collections" and the collections by name (GET /api/collections).
   * Questions asked without naming a collection (the widget's and the chat's default) were asked
   * over every collection and are counted under "All collections" only; the hint says so. */
  function collSelect(id) {
    const sel = el('select', {id, class: 'loop-coll'}, el('option', {value: '', 'data-i18n': 'coll.all', text: t('coll.all')}));
    api('GET', '/api/collections').then((data) => {
      for (const c of data.collections || []) sel.append(el('option', {value: c.name, text: c.name}));
    }).catch(() => { /* the page's own request reports a login problem */ });
    return sel;
  }

  /* A search hit that is a FAQ pair of a document ("Q: question\n[Q: similar\n]A: answer", as
   * ingestion writes pairs whatever their markers were) as {question, answer, document,
   * document_id}, else null. */
  function faqPair(hit) {
    const m = /^Q: (.+)\n(?:Q: .*\n)*A: ([\s\S]+)$/.exec(hit.text || '');
    return m ? {question: m[1].trim(), answer: m[2].trim(), document: hit.document, document_id: hit.document_id} : null;
  }

  function query(params) {
    const q = Object.entries(params).filter(([, v]) => v !== '' && v !== undefined && v !== null)
      .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v));
    return q.length ? '?' + q.join('&') : '';
  }

  /* ---- thumbs under chat answers ------------------------------------------------------------------ */

  function thumbs(data, bubble) {
    if (!data.message_id || bubble.querySelector('.votes')) return;
    const box = el('div', {class: 'votes'});
    let vote = 0;
    const post = (comment) => api('POST', '/api/feedback', {message_id: data.message_id, vote, comment, secret: data.conversation_secret});
    const pick = (v) => {
      vote = v;
      up.setAttribute('aria-pressed', String(v > 0));
      down.setAttribute('aria-pressed', String(v < 0));
      post('').then(() => {
        if (box.querySelector('input')) return;
        const note = el('input', {maxlength: '2000', 'data-i18n-ph': 'loop.comment', placeholder: t('loop.comment')});
        const done = el('span', {class: 'hint'});
        box.append(note, el('button', {type: 'button', class: 'secondary', 'data-i18n': 'loop.send', text: t('loop.send'),
          onclick: () => post(note.value.trim()).then(() => { done.textContent = t('loop.thanks'); }).catch(showError)}), done);
      }).catch(showError);
    };
    const up = el('button', {type: 'button', class: 'vote vote-up', 'aria-pressed': 'false', title: t('loop.up'), 'aria-label': t('loop.up'), text: '▲ ' + t('loop.up'), onclick: () => pick(1)});
    const down = el('button', {type: 'button', class: 'vote vote-down', 'aria-pressed': 'false', title: t('loop.down'), 'aria-label': t('loop.down'), text: '▼ ' + t('loop.down'), onclick: () => pick(-1)});
    box.append(up, down);
    bubble.append(box);
  }

  /* ---- review ------------------------------------------------------------------------------------- */

  function reviewFilters(page) {
    const kind = el('select', {id: 'review-kind'},
      el('option', {value: '', 'data-i18n': 'loop.kind.all', text: t('loop.kind.all')}),
      el('option', {value: 'fallback', 'data-i18n': 'loop.kind.fallback', text: t('loop.kind.fallback')}),
      el('option', {value: 'low_confidence', 'data-i18n': 'loop.kind.low_confidence', text: t('loop.kind.low_confidence')}),
      el('option', {value: 'thumbs_down', 'data-i18n': 'loop.kind.thumbs_down', text: t('loop.kind.thumbs_down')}));
    const channel = el('select', {id: 'review-channel'},
      el('option', {value: '', 'data-i18n': 'loop.channel.all', text: t('loop.channel.all')}),
      ...['ui', 'widget', 'api', 'openai'].map((c) => el('option', {value: c, 'data-i18n': 'loop.channel.' + c, text: t('loop.channel.' + c)})));
    const refresh = () => { view.offset = 0; loadReview(); };
    const coll = collSelect('review-collection');
    for (const x of [kind, channel, coll]) x.addEventListener('change', refresh);
    const from = el('input', {id: 'review-from', type: 'date'});
    const to = el('input', {id: 'review-to', type: 'date'});
    page.append(el('div', {class: 'row loop-filters'}, field('loop.kind', kind), field('loop.channel', channel),
      field('loop.collection', coll), field('loop.from', from), field('loop.to', to),
      el('button', {type: 'button', id: 'review-refresh', 'data-i18n': 'docs.refresh', text: t('docs.refresh'), onclick: refresh})),
      el('p', {class: 'hint loop-coll-hint', 'data-i18n': 'loop.coll_hint', text: t('loop.coll_hint')}));
  }

  async function resolveWith(item, card, call) {
    try {
      await call();
      await api('POST', '/api/review/' + item.message_id, {action: 'resolved'});
      card.remove();
      toast(t('loop.resolved'));
    } catch (e) {
      showError(e);
    }
  }

  /* The two forms of an item: a correct answer (a new curated answer) or a similar question. */
  function itemForms(item, card) {
    const forms = el('div', {class: 'loop-forms'});
    const answerForm = () => {
      const text = el('textarea', {class: 'loop-answer', rows: '3', 'data-i18n-ph': 'loop.answer.ph', placeholder: t('loop.answer.ph')});
      forms.replaceChildren(text, el('button', {type: 'button', class: 'loop-save', 'data-i18n': 'loop.save', text: t('loop.save'),
        onclick: () => {
          if (!text.value.trim()) { toast(t('loop.answer.empty')); return; }
          resolveWith(item, card, () => api('POST', '/api/faq', {collection: item.collection_id ? String(item.collection_id) : 'default',
            question: item.question, answer: text.value.trim()}));
        }}));
      text.focus();
    };
    /* The entry to attach to is picked from a list (searched as one types), not typed as an id
     * nobody knows by heart: the collection's curated answers (GET /api/faq?q=) and, for a search
     * text, the FAQ pairs of ingested documents (POST /api/search: chunks "Q: ...\nA: ..."). A
     * curated answer takes the question as one more similar question (POST /api/faq/{id}/similar);
     * a document's pair cannot change without editing the document, so it becomes a curated answer
     * with the pair's question and answer, citing the document, and the question as its similar
     * question (POST /api/faq). */
    const similarForm = () => {
      const search = el('input', {class: 'loop-faq-search', type: 'search', 'data-i18n-ph': 'loop.faq_search', placeholder: t('loop.faq_search')});
      const pick = el('select', {class: 'loop-faq-pick', 'aria-label': t('loop.faq_pick')});
      const coll = item.collection_id > 0 ? item.collection_id : '';
      let seq = 0, pairs = [], docs = null;
      const fill = async () => {
        const mine = ++seq, q = search.value.trim();
        let data, found = [];
        try {
          data = await api('GET', '/api/faq' + query({collection: coll, q, page_size: 50}));
          if (q) {
            /* only listed documents: a curated answer's own hidden search document is no pair */
            docs = docs || new Set((await api('GET', '/api/documents')).documents.map((d) => d.id));
            const hits = (await api('POST', '/api/search', Object.assign({query: q, top_k: 10}, coll ? {collection: String(coll)} : {}))).hits;
            found = hits.map(faqPair).filter((x) => x && docs.has(x.document_id));
          }
        } catch (e) { showError(e); return; }
        if (mine !== seq) return; /* a later search already answered */
        pairs = found;
        pick.replaceChildren(...data.faq.map((f) => el('option', {value: 'c' + f.id, text: '#' + f.id + ' ' + f.question})),
          ...found.map((x, i) => el('option', {value: 'd' + i, class: 'loop-doc-pair', text: '[' + x.document + '] ' + x.question})));
        if (!pick.options.length) pick.append(el('option', {value: '', 'data-i18n': 'loop.faq_none', text: t('loop.faq_none')}));
      };
      const attach = () => {
        const v = pick.value;
        if (v[0] === 'c') return api('POST', '/api/faq/' + Number(v.slice(1)) + '/similar', {question: item.question});
        const x = pairs[Number(v.slice(1))];
        return api('POST', '/api/faq', {collection: coll ? String(coll) : 'default', question: x.question,
          similar_questions: [item.question], answer: x.answer, citations: [x.document_id]});
      };
      let timer = 0;
      search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(fill, 200); });
      forms.replaceChildren(search, pick, el('button', {type: 'button', class: 'loop-attach', 'data-i18n': 'loop.attach', text: t('loop.attach'),
        onclick: () => {
          if (!pick.value) { toast(t('loop.faq_pick')); return; }
          resolveWith(item, card, attach);
        }}));
      fill();
      search.focus();
    };
    const dismiss = async () => {
      try {
        await api('POST', '/api/review/' + item.message_id, {action: 'dismiss'});
        card.remove();
      } catch (e) { showError(e); }
    };
    return [el('div', {class: 'row loop-actions'},
      el('button', {type: 'button', class: 'loop-write', 'data-i18n': 'loop.write', text: t('loop.write'), onclick: answerForm}),
      el('button', {type: 'button', class: 'secondary loop-similar', 'data-i18n': 'loop.similar', text: t('loop.similar'), onclick: similarForm}),
      el('button', {type: 'button', class: 'secondary loop-dismiss', 'data-i18n': 'loop.dismiss', text: t('loop.dismiss'), onclick: dismiss})), forms];
  }

  function reviewCard(item) {
    const card = el('article', {class: 'loop-item', 'data-message-id': String(item.message_id)});
    const badges = el('div', {class: 'loop-badges'},
      ...item.kinds.map((k) => el('span', {class: 'badge badge-' + k, 'data-i18n': 'loop.kind.' + k, text: t('loop.kind.' + k)})),
      el('span', {class: 'hint loop-meta', text: when(item.created_at) + ' · ' + t('loop.channel.' + item.channel) + ' · ' +
        t('loop.mode.' + item.mode) + ' · ' + item.confidence.toFixed(2)}));
    card.append(badges, el('div', {class: 'loop-q', text: item.question}), el('div', {class: 'loop-a', text: item.answer}));
    if (item.comment) card.append(el('div', {class: 'loop-comment', text: '“' + item.comment + '”'}));
    card.append(...itemForms(item, card));
    return card;
  }

  async function loadReview() {
    const page = document.getElementById('page-review');
    if (!page.querySelector('h1')) {
      page.append(el('h1', {'data-i18n': 'nav.review', text: t('nav.review')}),
        el('p', {class: 'hint', 'data-i18n': 'loop.review.hint', text: t('loop.review.hint')}));
      reviewFilters(page);
      page.append(el('p', {id: 'review-off', class: 'notice', hidden: ''}), el('div', {id: 'review-list'}),
        el('div', {class: 'row loop-pager'},
          el('button', {type: 'button', class: 'secondary', id: 'review-prev', 'data-i18n': 'loop.prev', text: t('loop.prev'),
            onclick: () => { view.offset = Math.max(0, view.offset - PAGE_SIZE); loadReview(); }}),
          el('span', {id: 'review-count', class: 'hint'}),
          el('button', {type: 'button', class: 'secondary', id: 'review-next', 'data-i18n': 'loop.next', text: t('loop.next'),
            onclick: () => { view.offset += PAGE_SIZE; loadReview(); }})));
    }
    const val = (id) => document.getElementById(id).value.trim();
    let data;
    const current = latest('review');
    try {
      data = await api('GET', '/api/review' + query({kind: val('review-kind'), channel: val('review-channel'),
        collection: val('review-collection'), from: val('review-from'), to: val('review-to'), offset: view.offset, limit: PAGE_SIZE}));
    } catch (e) { showError(e); return; }
    if (!current()) return;
    const off = document.getElementById('review-off');
    off.hidden = data.enabled;
    off.textContent = data.enabled ? '' : t('loop.off');
    const list = document.getElementById('review-list');
    list.replaceChildren(...data.items.map(reviewCard));
    if (!data.items.length) list.append(el('p', {class: 'hint', 'data-i18n': 'loop.empty', text: t('loop.empty')}));
    document.getElementById('review-count').textContent = data.total ? (data.offset + 1) + '–' + (data.offset + data.items.length) + ' / ' + data.total + (data.total_capped ? '+' : '') : '';
    document.getElementById('review-prev').disabled = data.offset === 0;
    document.getElementById('review-next').disabled = data.items.length < PAGE_SIZE ||
      (!data.total_capped && data.offset + data.items.length >= data.total);
  }

  /* ---- dashboard ------------------------------------------------------------------------------------- */

  /* The days of [from, to] (YYYY-MM-DD; at most 400, else the days that have questions) with their
   * counts, 0 for days without questions, so the bars keep the calendar's spacing. */
  function everyDay(days, from, to) {
    const have = new Map(days.map((d) => [d.day, d.n]));
    const a = Date.parse((from || (days[0] || {}).day || day(0)) + 'T00:00:00Z');
    const b = Date.parse((to || (days[days.length - 1] || {}).day || day(0)) + 'T00:00:00Z');
    if (!(a <= b) || (b - a) / 86400000 > 400) return days;
    const out = [];
    for (let x = a; x <= b; x += 86400000) {
      const d = new Date(x).toISOString().slice(0, 10);
      out.push({day: d, n: have.get(d) || 0});
    }
    return out;
  }

  /* Questions per day as bars, with the first and last day under the axis and the peak above it. */
  function dayChart(days) {
    const w = 600, h = 200, pad = 30;
    const box = svg('svg', {viewBox: `0 0 ${w} ${h}`, class: 'loop-chart', role: 'img', 'aria-label': t('loop.per_day')});
    const max = Math.max(1, ...days.map((d) => d.n));
    const bw = (w - 2 * pad) / Math.max(1, days.length);
    box.append(svg('line', {x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: '#a0aec0'}));
    days.forEach((d, i) => {
      const bh = ((h - 2 * pad) * d.n) / max;
      const r = svg('rect', {x: pad + i * bw + bw * 0.1, y: h - pad - bh, width: Math.max(1, bw * 0.8), height: bh, fill: '#2b6cb0', class: 'bar'});
      r.append(svg('title', {}, d.day + ': ' + d.n));
      box.append(r);
    });
    box.append(svg('text', {x: pad, y: 18, 'font-size': 14, fill: '#4a5568'}, String(max)));
    if (days.length) {
      box.append(svg('text', {x: pad, y: h - 6, 'font-size': 14, fill: '#4a5568'}, days[0].day));
      box.append(svg('text', {x: w - pad, y: h - 6, 'font-size': 14, fill: '#4a5568', 'text-anchor': 'end'}, days[days.length - 1].day));
    }
    return box;
  }

  /* The answered / fallback / handed-off shares as one stacked bar with its legend. */
  function shareBar(s) {
    const w = 600, h = 28;
    const parts = [['answered', s.answered, '#38a169'], ['fallback', s.fallback, '#dd6b20'], ['handed_off', s.handed_off, '#805ad5']];
    const box = svg('svg', {viewBox: `0 0 ${w} ${h}`, class: 'loop-share', role: 'img', 'aria-label': t('loop.shares')});
    let x = 0;
    for (const [key, v, color] of parts) {
      if (!v) continue;
      const r = svg('rect', {x, y: 0, width: v * w, height: h, fill: color, class: 'share-' + key});
      r.append(svg('title', {}, t('loop.' + key) + ' ' + pct(v)));
      box.append(r);
      x += v * w;
    }
    if (x === 0) box.append(svg('rect', {x: 0, y: 0, width: w, height: h, fill: '#e2e8f0'}));
    const legend = el('div', {class: 'loop-legend'}, ...parts.map(([key, v, color]) =>
      el('span', {class: 'legend-' + key}, el('i', {class: 'swatch swatch-' + key, title: color}), t('loop.' + key) + ' ' + pct(v))));
    return el('div', {}, box, legend);
  }

  function card(key, value, note) {
    return el('div', {class: 'loop-card'}, el('div', {class: 'hint', 'data-i18n': key, text: t(key)}),
      el('div', {class: 'loop-num', text: value}), note ? el('div', {class: 'hint', text: note}) : null);
  }

  function topList(key, rows, name) {
    return el('div', {class: 'loop-top'}, el('h2', {'data-i18n': key, text: t(key)}),
      rows.length ? el('ol', {}, ...rows.map((r) => el('li', {}, el('span', {text: r[name]}), el('b', {text: ' ' + r.n}))))
        : el('p', {class: 'hint', text: '–'}));
  }

  async function loadDashboard() {
    const page = document.getElementById('page-dashboard');
    if (!page.querySelector('h1')) {
      const from = el('input', {id: 'dash-from', type: 'date', value: day(-29)});
      const to = el('input', {id: 'dash-to', type: 'date', value: day(0)});
      const coll = collSelect('dash-collection');
      coll.addEventListener('change', loadDashboard);
      page.append(el('h1', {'data-i18n': 'nav.dashboard', text: t('nav.dashboard')}),
        el('div', {class: 'row loop-filters'}, field('loop.from', from), field('loop.to', to), field('loop.collection', coll),
          el('button', {type: 'button', id: 'dash-refresh', 'data-i18n': 'docs.refresh', text: t('docs.refresh'), onclick: loadDashboard})),
        el('p', {class: 'hint loop-coll-hint', 'data-i18n': 'loop.coll_hint', text: t('loop.coll_hint')}),
        el('div', {id: 'dash-body'}));
    }
    const val = (id) => document.getElementById(id).value.trim();
    let s;
    const current = latest('dashboard');
    try {
      s = await api('GET', '/api/stats' + query({from: val('dash-from'), to: val('dash-to'), collection: val('dash-collection')}));
    } catch (e) { showError(e); return; }
    if (!current()) return;
    const body = document.getElementById('dash-body');
    body.replaceChildren(...[
      s.enabled ? null : el('p', {class: 'notice', text: t('loop.off')}),
      el('div', {class: 'loop-cards'},
        card('loop.questions', String(s.questions)),
        card('loop.answered', pct(s.shares.answered), String(s.answered)),
        card('loop.fallback', pct(s.shares.fallback), String(s.fallback)),
        card('loop.handed_off', pct(s.shares.handed_off), String(s.handed_off) + ' ' + t('loop.handed_off.none')),
        card('loop.thumbs', pct(s.thumbs.up_rate), '▲ ' + s.thumbs.up + ' · ▼ ' + s.thumbs.down),
        card('loop.latency', Math.round(s.latency_ms.p50) + ' / ' + Math.round(s.latency_ms.p95) + ' ms', 'p50 / p95'),
        card('loop.modes', String(s.modes.curated || 0) + ' ' + t('loop.mode.curated'),
          Object.keys(s.modes).map((m) => t('loop.mode.' + m) + ' ' + s.modes[m]).join(' · '))),
      el('h2', {'data-i18n': 'loop.per_day', text: t('loop.per_day')}), dayChart(everyDay(s.per_day, val('dash-from'), val('dash-to'))),
      el('h2', {'data-i18n': 'loop.shares', text: t('loop.shares')}), shareBar(s.shares),
      el('div', {class: 'loop-tops'}, topList('loop.top', s.top_questions, 'question'),
        topList('loop.unanswered', s.top_unanswered, 'question'), topList('loop.docs', s.top_documents, 'document'))].filter(Boolean));
    body.dataset.questions = String(s.questions);
  }

  /* Pages re-render in the new language (their data-i18n labels app.js already switched). */
  document.getElementById('lang').addEventListener('change', () => {
    if (!document.getElementById('page-review').hidden) loadReview();
    if (!document.getElementById('page-dashboard').hidden) loadDashboard();
  });

  window.kboxExtras = window.kboxExtras || [];
  window.kboxExtras.push({
    pages: {review: loadReview, dashboard: loadDashboard},
    onAnswer: thumbs,
    i18n: {
      en: {
        'nav.review': 'Review', 'nav.dashboard': 'Dashboard',
        'loop.up': 'Helpful', 'loop.down': 'Not helpful', 'loop.comment': 'Tell us more (optional)', 'loop.send': 'Send',
        'loop.thanks': 'Thanks for your feedback!',
        'loop.review.hint': 'Answers that fell back, answered with low confidence or got a thumbs-down. Fix them once: the fix serves every later paraphrase.',
        'loop.kind': 'Kind', 'loop.kind.all': 'All kinds', 'loop.kind.fallback': 'no answer', 'loop.kind.low_confidence': 'low confidence',
        'loop.kind.thumbs_down': 'thumbs down', 'loop.channel': 'Channel', 'loop.channel.all': 'All channels',
        'loop.channel.ui': 'chat page', 'loop.channel.widget': 'widget', 'loop.channel.api': 'API', 'loop.channel.openai': 'OpenAI API',
        'loop.collection': 'Collection', 'loop.from': 'From', 'loop.to': 'To',
        'loop.coll_hint': 'Questions asked without naming a collection (the widget and the chat by default) are searched over every collection and count under "All collections" only.',
        'loop.write': 'Write the correct answer', 'loop.similar': 'Attach as similar question', 'loop.dismiss': 'Dismiss',
        'loop.answer.ph': 'The correct answer', 'loop.answer.empty': 'Write the answer first.', 'loop.save': 'Save answer',
        'loop.faq_search': 'Search the FAQ entries', 'loop.faq_pick': 'Pick the FAQ entry to attach the question to',
        'loop.faq_none': 'No FAQ entry matches: write the answer instead.', 'loop.attach': 'Attach', 'loop.resolved': 'Resolved',
        'loop.prev': 'Newer', 'loop.next': 'Older', 'loop.empty': 'Nothing to review.',
        'loop.off': 'Conversation logging is off (log.enabled = false): nothing is logged, so there is nothing to review.',
        'loop.questions': 'Questions', 'loop.answered': 'Answered', 'loop.fallback': 'No answer', 'loop.handed_off': 'Handed off',
        'loop.handed_off.none': 'passed to a person (Inbox)', 'loop.thumbs': 'Thumbs up', 'loop.latency': 'Latency',
        'loop.modes': 'Answers by mode', 'loop.mode.curated': 'curated', 'loop.mode.faq': 'FAQ', 'loop.mode.extractive': 'extractive',
        'loop.mode.generative': 'generative', 'loop.mode.fallback': 'no answer',
        'loop.per_day': 'Questions per day', 'loop.shares': 'Answered, no answer, handed off',
        'loop.top': 'Top questions', 'loop.unanswered': 'Top unanswered', 'loop.docs': 'Most cited documents',
      },
      zh: {
        'nav.review': '待处理', 'nav.dashboard': '统计',
        'loop.up': '有帮助', 'loop.down': '没有帮助', 'loop.comment': '补充说明（可选）', 'loop.send': '发送',
        'loop.thanks': '感谢您的反馈！',
        'loop.review.hint': '没有答案、置信度低或被点踩的回答。修正一次，之后同类问题都会用上。',
        'loop.kind': '类型', 'loop.kind.all': '全部类型', 'loop.kind.fallback': '无答案', 'loop.kind.low_confidence': '置信度低',
        'loop.kind.thumbs_down': '点踩', 'loop.channel': '渠道', 'loop.channel.all': '全部渠道',
        'loop.channel.ui': '对话页', 'loop.channel.widget': '网页挂件', 'loop.channel.api': 'API', 'loop.channel.openai': 'OpenAI 接口',
        'loop.collection': '知识库', 'loop.from': '开始日期', 'loop.to': '结束日期',
        'loop.coll_hint': '未指定知识库的提问（网页挂件和对话页默认如此）会在所有知识库中检索，只计入“全部知识库”。',
        'loop.write': '填写正确答案', 'loop.similar': '作为相似问题添加', 'loop.dismiss': '忽略',
        'loop.answer.ph': '正确的答案', 'loop.answer.empty': '请先填写答案。', 'loop.save': '保存答案',
        'loop.faq_search': '搜索问答条目', 'loop.faq_pick': '选择要添加此问题的问答条目',
        'loop.faq_none': '没有匹配的问答条目：请直接填写答案。', 'loop.attach': '添加', 'loop.resolved': '已处理',
        'loop.prev': '较新', 'loop.next': '较早', 'loop.empty': '没有待处理的内容。',
        'loop.off': '对话记录已关闭（log.enabled = false）：不记录任何内容，因此没有待处理项。',
        'loop.questions': '提问数', 'loop.answered': '已回答', 'loop.fallback': '无答案', 'loop.handed_off': '转人工',
        'loop.handed_off.none': '已转人工客服（收件箱）', 'loop.thumbs': '点赞率', 'loop.latency': '响应时间',
        'loop.modes': '各类回答', 'loop.mode.curated': '人工答案', 'loop.mode.faq': '问答对', 'loop.mode.extractive': '摘录',
        'loop.mode.generative': '生成', 'loop.mode.fallback': '未答出',
        'loop.per_day': '每日提问数', 'loop.shares': '已回答、无答案、转人工',
        'loop.top': '热门问题', 'loop.unanswered': '热门未解答问题', 'loop.docs': '引用最多的文档',
      },
    },
  });
})();
