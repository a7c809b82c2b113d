/* web/static/widget.js: kbox's website chat widget. A page adds
 *   <script src="http://KBOX-HOST/widget.js" data-bot="ID"></script>
 * (or, as before bots, data-collection="NAME") and gets a chat bubble in the corner. With data-bot
 * the bot's settings come from GET /api/widget?bot=ID (name as title, greeting, colour, language,
 * logo) and every question names the bot, whose own origin list the server enforces. Optional
 * attributes override the settings: data-title, data-color, data-greeting, data-lang (en|zh).
 * data-page="1" (the bot's public page /b/ID, bot.js) shows the chat full-page without a bubble.
 *
 * It calls back only to the server it was loaded from (GET /api/widget, POST /api/ask with SSE,
 * POST /api/feedback for the thumbs under each logged answer, with the conversation's secret, and
 * the human handoff routes /api/handoff/*: "Talk to a person", the queue position, live chat over
 * an EventSource, the conversation back after a reload from a token in localStorage, rating, and the
 * ticket form out of hours or when nobody is online);
 * the server answers only origins listed in server.cors_origins, so on other sites the widget stays
 * hidden. Everything lives in a shadow root (the host page's CSS cannot break it, and it cannot
 * break the page), and all server text is placed with textContent, never parsed as HTML.
 * Tests: tests/web/e2e.mjs, tests/web/handoff.mjs. */
(function () {
  'use strict';
  const script = document.currentScript;
  if (!script || window.__kboxWidget) return;
  window.__kboxWidget = true;
  const base = new URL(script.src, location.href).origin;
  const opt = script.dataset;

  const TEXT = {
    en: {ph: 'Type your question', send: 'Send', sources: 'Sources', open: 'Open chat', close: 'Close',
      thinking: 'Thinking…', failed: 'Sorry, something went wrong: ', page: 'page', reasoning: 'Reasoning',
      support: 'support', weak: 'Weakly supported by the sources; support',
      weaknote: 'Dotted underline: the sources barely support that sentence.',
      dropped: '{n} sentence(s) the documents do not support were removed.',
      noanswer: 'No answer after the reasoning.', up: 'Helpful', down: 'Not helpful', comment: 'Tell us more (optional)',
      thanks: 'Thanks for your feedback!', csend: 'Send',
      person: 'Talk to a person', waiting: 'Waiting for an agent (position {n})', joined: '{name} joined the conversation',
      closed: 'The conversation was closed.', end: 'End chat', rate: 'How did {name} do?', rated: 'Thank you for rating!',
      ticketIntro: 'Nobody can chat right now. Leave a message and we will get back to you.',
      tname: 'Your name', tcontact: 'Email or phone', tmsg: 'Your message', tsend: 'Leave a message',
      ticketDone: 'Thanks! We received your message and will contact you.', agent: 'Agent'},
    zh: {ph: '请输入您的问题', send: '发送', sources: '来源', open: '打开聊天', close: '关闭',
      thinking: '思考中…', failed: '抱歉，出错了：', page: '页', reasoning: '推理过程',
      support: '支持度', weak: '来源对这句话的支持较弱；支持度',
      weaknote: '虚线下划线：来源对该句的支持很弱。',
      dropped: '已删除 {n} 个文档不支持的句子。', noanswer: '推理之后没有给出回答。', up: '有帮助', down: '没有帮助',
      comment: '补充说明（可选）', thanks: '感谢您的反馈！', csend: '发送',
      person: '转人工客服', waiting: '正在为您转接人工客服（排队第 {n} 位）', joined: '{name} 已接入对话',
      closed: '对话已结束。', end: '结束对话', rate: '请为 {name} 的服务评分', rated: '感谢您的评价！',
      ticketIntro: '当前没有客服在线。请留言，我们会尽快联系您。',
      tname: '您的姓名', tcontact: '邮箱或电话', tmsg: '留言内容', tsend: '提交留言',
      ticketDone: '感谢！我们已收到您的留言，会尽快与您联系。', agent: '客服'},
  };

  /* Grounding of generative answers, as in the main UI (app.js): sentences below the threshold
   * (the answer's support_min, else rag's 0.35) are underlined with their score as tooltip, and the
   * note strict mode appends about removed sentences is shown apart from the answer. */
  const SUPPORT_MIN = 0.35;
  const STRICT_NOTE = /\s*\((\d+) sentences? not supported by the documents removed\.\)\s*$/;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  }

  /* a speech-bubble icon drawn with SVG (no emoji font needed) */
  function chatIcon() {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '26');
    svg.setAttribute('height', '26');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
    p.setAttribute('fill', '#fff');
    svg.append(p);
    return svg;
  }

  function safeColor(c) {
    /* only plain CSS colour syntax reaches the stylesheet */
    return /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9., %]+\)|hsla?\([0-9., %deg]+\))$/.test(c || '') ? c : '#2b6cb0';
  }

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

  function css(color) {
    return `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif; }
.bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: ${color}; color: #fff; display: flex; align-items: center; justify-content: center; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(370px, calc(100vw - 40px)); height: min(540px, calc(100vh - 120px));
  background: #fff; color: #1a202c; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex;
  flex-direction: column; overflow: hidden; z-index: 2147483000; font-size: 14px; line-height: 1.45; }
.panel[hidden] { display: none; }
.panel.full { right: 0; bottom: 0; top: 0; left: 0; width: 100%; height: 100%; border-radius: 0; box-shadow: none; }
.panel.full .log { padding: 16px max(16px, calc(50% - 380px)); }
.panel.full form { padding: 10px max(16px, calc(50% - 380px)); }
.logo { width: 24px; height: 24px; border-radius: 4px; object-fit: contain; background: #fff; margin-right: 8px; vertical-align: middle; }
.head { background: ${color}; color: #fff; padding: 10px 14px; font-weight: 600; display: flex; justify-content: space-between; align-items: center; }
.head button { background: none; border: 0; color: #fff; font-size: 18px; cursor: pointer; }
.log { flex: 1; overflow-y: auto; padding: 10px; background: #f7f8fa; }
.msg { margin: 6px 0; padding: 8px 10px; border-radius: 10px; max-width: 88%; white-space: pre-wrap; word-wrap: break-word; }
.user { background: ${color}; color: #fff; margin-left: auto; width: fit-content; }
.bot { background: #fff; border: 1px solid #e2e8f0; }
.chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.chip { border: 1px solid ${color}; color: ${color}; background: #fff; border-radius: 12px; padding: 1px 8px; font-size: 12px; cursor: pointer; }
.passage { margin-top: 6px; font-size: 12px; color: #4a5568; background: #fefcbf; padding: 6px; border-radius: 6px; white-space: pre-wrap; }
.meta { font-size: 11px; color: #718096; }
details.reasoning { font-size: 12px; color: #718096; margin-bottom: 4px; white-space: normal; }
details.reasoning summary { cursor: pointer; }
.reasoning-text { border-left: 3px solid #e2e8f0; padding: 2px 6px; white-space: pre-wrap; font-style: italic; }
.sentence.weak { text-decoration: underline dotted #c53030; text-decoration-thickness: 2px; text-underline-offset: 3px; cursor: help; }
.note { font-size: 11px; color: #718096; margin-top: 4px; }
.cite-ref { background: none; border: 0; padding: 0 1px; color: ${color}; font: inherit; font-size: .85em; cursor: pointer; }
form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e2e8f0; }
input { flex: 1; padding: 7px 9px; border: 1px solid #cbd5e0; border-radius: 8px; font-size: 14px; }
.votes { display: flex; gap: 6px; align-items: center; margin-top: 6px; flex-wrap: wrap; }
.vote { background: #fff; border: 1px solid #cbd5e0; border-radius: 12px; padding: 1px 8px; cursor: pointer; font-size: 13px; }
.vote[aria-pressed="true"] { border-color: ${color}; background: ${color}; color: #fff; }
.votes input { flex: 1 1 140px; padding: 3px 6px; font-size: 12px; }
.votes .send-comment { background: ${color}; color: #fff; border: 0; border-radius: 8px; padding: 3px 8px; cursor: pointer; font-size: 12px; }
form button { background: ${color}; color: #fff; border: 0; border-radius: 8px; padding: 0 12px; cursor: pointer; font-size: 14px; }
.agent { background: #e6fffa; border: 1px solid #81e6d9; }
.agent .meta { display: block; margin-bottom: 2px; }
.status { font-size: 12px; color: #4a5568; text-align: center; margin: 8px 0; }
.person { background: #fff; border: 1px solid ${color}; color: ${color}; border-radius: 12px; padding: 2px 10px; cursor: pointer; font-size: 12px; margin-top: 6px; }
.bar { display: flex; justify-content: center; gap: 6px; padding: 4px 8px 0; }
.bar[hidden] { display: none; }
.ticket { display: flex; flex-direction: column; gap: 6px; padding: 8px; background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; margin: 6px 0; }
.ticket input, .ticket textarea { padding: 6px 8px; border: 1px solid #cbd5e0; border-radius: 8px; font: inherit; }
.ticket button { background: ${color}; color: #fff; border: 0; border-radius: 8px; padding: 6px; cursor: pointer; }
.stars { display: flex; gap: 4px; justify-content: center; }
.stars button { background: none; border: 0; font-size: 20px; color: #d69e2e; cursor: pointer; }
`;
  }

  function build(cfg) {
    const lang = (opt.lang || cfg.lang || 'en').startsWith('zh') ? 'zh' : 'en';
    const tx = TEXT[lang];
    const color = safeColor(opt.color || cfg.color);
    const title = opt.title || cfg.title || 'Ask us';
    const greeting = opt.greeting !== undefined ? opt.greeting : cfg.greeting;
    const collection = opt.collection || '';
    const bot = opt.bot || '';
    const full = opt.page === '1';
    const logo = /^(https?:\/\/|data:image\/(png|jpeg|gif|webp);base64,)/.test(cfg.logo || '') ? cfg.logo : '';
    let conversation = 'w-' + Math.random().toString(16).slice(2) + Date.now().toString(16);
    let secret = ''; /* the logged conversation's secret: feedback needs it, the next question sends it */

    const host = el('div', {id: 'kbox-widget'});
    const root = host.attachShadow({mode: 'open'});
    const style = el('style');
    style.textContent = css(color);
    const log = el('div', {class: 'log', part: 'log'});
    const input = el('input', {placeholder: tx.ph, 'aria-label': tx.ph});
    /* human handoff: the "Talk to a person" button and, while a person chats, "End chat" */
    const personBtn = el('button', {type: 'button', class: 'person person-main', text: tx.person, onclick: () => handoff('button')});
    const endBtn = el('button', {type: 'button', class: 'person end-chat', text: tx.end, onclick: () => endChat()});
    const bar = el('div', {class: 'bar'}, personBtn, endBtn);
    endBtn.hidden = true;
    bar.hidden = true;
    const panel = el('div', {class: 'panel', role: 'dialog', 'aria-label': title},
      el('div', {class: 'head'}, el('span', {}, logo ? el('img', {class: 'logo', src: logo, alt: ''}) : null, title),
        full ? null : el('button', {type: 'button', 'aria-label': tx.close, text: '×', onclick: () => { panel.hidden = true; }})),
      log,
      bar,
      el('form', {onsubmit: (e) => { e.preventDefault(); send(); }}, input, el('button', {type: 'submit', text: tx.send})));
    panel.hidden = !full;
    if (full) { panel.classList.add('full'); document.title = title; }
    const bubble = el('button', {class: 'bubble', type: 'button', 'aria-label': tx.open, title,
      onclick: () => { panel.hidden = !panel.hidden; if (!panel.hidden) input.focus(); }}, chatIcon());
    root.append(style, panel);
    if (!full) root.append(bubble);
    document.body.append(host);
    if (greeting) log.append(el('div', {class: 'msg bot', text: greeting}));

    /* the pages of the cited text: "5", or "4–5" when it runs over a page break */
    function pageLabel(c) {
      return c.page_end && c.page_end !== c.page ? c.page + '–' + c.page_end : String(c.page);
    }

    /* shows (or hides again) citation c's passage at the end of the answer box */
    function togglePassage(c, box) {
      const old = box.querySelector('.passage');
      if (old && old.dataset.n === String(c.n)) { old.remove(); return; }
      if (old) old.remove();
      const where = [c.document, c.heading_path, c.page ? tx.page + ' ' + pageLabel(c) : ''].filter(Boolean).join(' · ');
      box.append(el('div', {class: 'passage', 'data-n': String(c.n)}, el('div', {class: 'meta', text: where}), c.text || ''));
    }

    function chip(c, box) {
      return el('button', {class: 'chip', type: 'button', title: c.heading_path || '', onclick: () => togglePassage(c, box)},
        '[' + c.n + '] ' + c.document + (c.page ? ' p. ' + pageLabel(c) : ''));
    }

    /* str as text, each [n] naming a citation as a button that shows its passage */
    function marked(parent, str, cites, box) {
      const re = /\[(\d+)\]/g;
      let at = 0;
      let m;
      while ((m = re.exec(str)) !== null) {
        const c = cites.get(Number(m[1]));
        if (!c) continue;
        if (m.index > at) parent.append(document.createTextNode(str.slice(at, m.index)));
        parent.append(el('button', {type: 'button', class: 'cite-ref', 'data-n': String(c.n), title: c.document, onclick: () => togglePassage(c, box)}, m[0]));
        at = m.index + m[0].length;
      }
      if (at < str.length) parent.append(document.createTextNode(str.slice(at)));
    }

    function grounded(box, text, sentences, min, cites, msg) {
      box.replaceChildren();
      let at = 0;
      let weak = 0;
      for (const s of sentences || []) {
        if (!s || !s.text || typeof s.support !== 'number') continue;
        const i = text.indexOf(s.text, at);
        if (i < 0) continue; /* removed by strict mode */
        if (i > at) marked(box, text.slice(at, i), cites, msg);
        const score = s.support.toFixed(2);
        const isWeak = s.support < min;
        weak += isWeak ? 1 : 0;
        const span = el('span', {class: isWeak ? 'sentence weak' : 'sentence', 'data-support': score,
          title: (isWeak ? tx.weak : tx.support) + ' ' + score});
        marked(span, s.text, cites, msg);
        box.append(span);
        at = i + s.text.length;
      }
      if (at < text.length) marked(box, text.slice(at), cites, msg);
      return weak;
    }

    /* Thumbs up and down under an answer (POST /api/feedback with the conversation's secret); a
     * vote is sent at once, and an optional comment re-sends it with the text. */
    function votes(id) {
      const box = el('div', {class: 'votes'});
      let vote = 0;
      const post = (comment) => fetch(base + '/api/feedback', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(Object.assign({message_id: id, vote, comment, secret}, bot ? {bot} : {}))}).then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); });
      const pick = (v) => {
        vote = v;
        up.setAttribute('aria-pressed', String(v > 0));
        down.setAttribute('aria-pressed', String(v < 0));
        post('').then((body) => {
          if (body && body.handoff_offer && !box.querySelector('.person')) box.append(offer(body.handoff_offer));
          if (box.querySelector('input')) return;
          const note = el('input', {maxlength: '2000', placeholder: tx.comment, 'aria-label': tx.comment});
          const done = el('span', {class: 'note', text: ''});
          box.append(note, el('button', {type: 'button', class: 'send-comment', text: tx.csend,
            onclick: () => post(note.value.trim()).then(() => { done.textContent = tx.thanks; }).catch((e) => { done.textContent = tx.failed + e.message; })}), done);
        }).catch((e) => { box.append(el('span', {class: 'note', text: tx.failed + e.message})); });
      };
      const up = el('button', {type: 'button', class: 'vote vote-up', 'aria-pressed': 'false', 'aria-label': tx.up, title: tx.up, text: '▲ ' + tx.up, onclick: () => pick(1)});
      const down = el('button', {type: 'button', class: 'vote vote-down', 'aria-pressed': 'false', 'aria-label': tx.down, title: tx.down, text: '▼ ' + tx.down, onclick: () => pick(-1)});
      box.append(up, down);
      return box;
    }


    /* ---- human handoff (web/api_handoff.c) ----
     * ho.token is the conversation token, kept in localStorage (per server and bot) so a reload gets
     * the conversation back; messages go out with POST /api/handoff/messages and come in on an
     * EventSource (/api/handoff/stream), which resumes after the last event id by itself. Outside
     * hours, with nobody online, or after handoff.wait_seconds in the queue, a ticket form is shown. */
    const hoKey = 'kbox-handoff:' + base + ':' + (bot || collection || '');
    /* the status names the bot, else the widget's collection (data-collection): their handoff settings apply */
    const hoQuery = bot ? '?bot=' + encodeURIComponent(bot) : collection ? '?collection=' + encodeURIComponent(collection) : '';
    const ho = {token: '', live: false, es: null, last: 0, agent: '', status: null};
    let hoStatus = {enabled: false};

    function say(cls, text, meta) {
      const m = el('div', {class: 'msg ' + cls}, meta ? el('span', {class: 'meta', text: meta}) : null, text);
      log.append(m);
      log.scrollTop = log.scrollHeight;
      return m;
    }
    function statusLine(text) {
      if (!ho.status) { ho.status = el('div', {class: 'status', 'data-role': 'handoff-status'}); log.append(ho.status); }
      ho.status.textContent = text;
      log.scrollTop = log.scrollHeight;
    }
    function offer() {
      return el('button', {type: 'button', class: 'person', text: tx.person, onclick: () => handoff('button')});
    }
    function saveToken(t) {
      ho.token = t;
      try { if (t) localStorage.setItem(hoKey, t); else localStorage.removeItem(hoKey); } catch (e) { /* storage off */ }
    }
    async function api(method, path, body) {
      const r = await fetch(base + path, {method, headers: {'Content-Type': 'application/json'}, body: body ? JSON.stringify(body) : undefined});
      let data = null;
      try { data = await r.json(); } catch (e) { /* empty */ }
      if (!r.ok) throw new Error((data && data.error && data.error.message) || r.statusText);
      return data;
    }
    function setLive(on) {
      ho.live = on;
      personBtn.hidden = on || !hoStatus.enabled;
      endBtn.hidden = !on;
      bar.hidden = personBtn.hidden && endBtn.hidden;
    }
    function showEvent(e) {
      if (e.seq <= ho.last) return; /* already shown (history, then the stream) */
      ho.last = e.seq;
      if (e.kind === 'customer') say('user', e.text);
      else if (e.kind === 'agent') { ho.agent = e.author; say('bot agent', e.text, e.author || tx.agent); }
      else if (e.text === 'taken') { ho.agent = e.author; statusLine(tx.joined.replace('{name}', e.author || tx.agent)); }
      else if (e.text === 'ticket') { statusLine(tx.ticketDone); finish(false); }
      else if (e.text === 'closed') { statusLine(tx.closed); finish(true); }
    }
    function listen() {
      if (ho.es) ho.es.close();
      const es = new EventSource(base + '/api/handoff/stream?token=' + ho.token + '&last_event_id=' + ho.last);
      ho.es = es;
      const on = (name, fn) => es.addEventListener(name, (ev) => { try { fn(JSON.parse(ev.data)); } catch (x) { /* ignore */ } });
      on('message', showEvent);
      on('state', showEvent);
      on('position', (d) => { if (!ho.agent) statusLine(tx.waiting.replace('{n}', d.position)); });
      on('timeout', () => { if (!ho.agent) ticketForm(); });
    }
    function finish(rate) {
      if (ho.es) { ho.es.close(); ho.es = null; }
      const token = ho.token;
      saveToken('');
      setLive(false);
      if (rate && ho.agent) {
        const stars = el('div', {class: 'stars', 'data-role': 'rating'});
        for (let i = 1; i <= 5; i++) {
          stars.append(el('button', {type: 'button', 'data-stars': String(i), 'aria-label': String(i), text: '★', onclick: () => {
            api('POST', '/api/handoff/rate', {token, rating: i}).then(() => { stars.replaceWith(el('div', {class: 'status', text: tx.rated})); }).catch(() => {});
          }}));
        }
        log.append(el('div', {class: 'status', text: tx.rate.replace('{name}', ho.agent)}), stars);
        log.scrollTop = log.scrollHeight;
      }
    }
    function ticketForm() {
      if (log.querySelector('.ticket')) return;
      const name = el('input', {name: 'name', placeholder: tx.tname, 'aria-label': tx.tname, maxlength: '200'});
      const contact = el('input', {name: 'contact', placeholder: tx.tcontact, 'aria-label': tx.tcontact, maxlength: '254'});
      const text = el('textarea', {name: 'message', placeholder: tx.tmsg, 'aria-label': tx.tmsg, rows: '3', maxlength: '4000'});
      const err = el('div', {class: 'note'});
      const form = el('form', {class: 'ticket', onsubmit: (ev) => {
        ev.preventDefault();
        const c = contact.value.trim();
        const body = {name: name.value.trim(), message: text.value.trim()};
        if (c.includes('@')) body.email = c; else body.phone = c;
        if (ho.token) body.token = ho.token;
        if (bot) body.bot = bot;
        else if (collection) body.collection = collection; /* its own handoff settings apply */
        if (secret) body.conversation_secret = secret;
        api('POST', '/api/handoff/ticket', body).then(() => {
          form.replaceWith(el('div', {class: 'status', 'data-role': 'ticket-done', text: tx.ticketDone}));
          if (ho.es) { ho.es.close(); ho.es = null; }
          saveToken('');
          setLive(false);
        }).catch((x) => { err.textContent = tx.failed + x.message; });
      }}, el('div', {class: 'meta', text: tx.ticketIntro}), name, contact, text, el('button', {type: 'submit', text: tx.tsend}), err);
      log.append(form);
      log.scrollTop = log.scrollHeight;
    }
    async function handoff(trigger) {
      if (ho.token) return;
      try {
        const st = await api('GET', '/api/handoff/status' + hoQuery);
        if (!st.live) { ticketForm(); return; }
        const body = {trigger};
        if (bot) body.bot = bot;
        else if (collection) body.collection = collection;
        if (secret) body.conversation_secret = secret;
        const r = await api('POST', '/api/handoff', body);
        saveToken(r.token);
        ho.last = 0;
        ho.agent = '';
        setLive(true);
        statusLine(tx.waiting.replace('{n}', r.position));
        listen();
      } catch (e) {
        ticketForm(); /* refused (nobody online any more, hours): leave a message instead */
      }
    }
    async function sendToPerson(q) {
      try {
        await api('POST', '/api/handoff/messages', {token: ho.token, text: q});
      } catch (e) {
        say('bot', tx.failed + e.message);
      }
    }
    function endChat() {
      if (ho.token) api('POST', '/api/handoff/close', {token: ho.token}).catch(() => {});
    }
    /* a conversation in progress when the page was (re)loaded */
    async function resume() {
      let t = '';
      try { t = localStorage.getItem(hoKey) || ''; } catch (e) { /* storage off */ }
      if (!t) return;
      try {
        const c = await api('GET', '/api/handoff/conversation?token=' + encodeURIComponent(t));
        if (c.handoff.state === 'closed' || c.handoff.kind === 'ticket') { saveToken(''); return; }
        ho.token = t;
        setLive(true);
        for (const e of c.events) showEvent(e);
        if (!ho.agent) statusLine(tx.waiting.replace('{n}', c.position));
        listen();
      } catch (e) {
        saveToken('');
      }
    }
    api('GET', '/api/handoff/status' + hoQuery).then((st) => {
      hoStatus = st;
      setLive(ho.live);
    }).catch(() => {});
    resume();

    async function send() {
      const q = input.value.trim();
      if (!q) return;
      input.value = '';
      if (ho.token && ho.live) { sendToPerson(q); return; }
      log.append(el('div', {class: 'msg user', text: q}));
      const text = el('div', {class: 'answer', text: tx.thinking});
      const chips = el('div', {class: 'chips'});
      const msg = el('div', {class: 'msg bot', 'data-state': 'streaming'}, text, chips);
      let reasoning = null;
      const thoughts = () => {
        if (!reasoning) {
          reasoning = el('details', {class: 'reasoning'}, el('summary', {text: tx.reasoning}), el('div', {class: 'reasoning-text'}));
          msg.prepend(reasoning);
        }
        return reasoning.querySelector('.reasoning-text');
      };
      log.append(msg);
      log.scrollTop = log.scrollHeight;
      let got = false;
      const seen = new Set();
      try {
        const body = {question: q, conversation_id: conversation, stream: true, channel: 'widget'};
        if (secret) body.conversation_secret = secret;
        if (bot) body.bot = bot;
        else if (collection) body.collection = collection;
        const r = await fetch(base + '/api/ask', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
        if (!r.ok) {
          let m = r.statusText;
          try { m = (await r.json()).error.message; } catch (e) { /* not JSON */ }
          throw new Error(m);
        }
        await readSSE(r, (name, data) => {
          if (name === 'token') {
            if (!got) { text.textContent = ''; got = true; }
            text.append(document.createTextNode(data.text));
          } else if (name === 'think') {
            thoughts().append(document.createTextNode(data.text));
          } else if (name === 'citation') {
            if (!seen.has(data.n)) { seen.add(data.n); chips.append(chip(data, msg)); }
          } else if (name === 'done') {
            const m = STRICT_NOTE.exec(data.answer || '');
            const answer = m ? data.answer.slice(0, m.index) : data.answer || '';
            const min = typeof data.support_min === 'number' ? data.support_min : SUPPORT_MIN;
            const weak = grounded(text, answer, data.sentences, min, new Map(data.citations.map((c) => [c.n, c])), msg);
            if (data.reasoning) thoughts().textContent = data.reasoning;
            if (!answer.trim() && data.reasoning) text.append(el('span', {class: 'note', text: tx.noanswer}));
            if (m) msg.insertBefore(el('div', {class: 'note strict-note', title: m[0].trim(), text: tx.dropped.replace('{n}', m[1])}), chips);
            if (weak) msg.append(el('div', {class: 'note weak-note', text: tx.weaknote}));
            for (const c of data.citations) if (!seen.has(c.n)) { seen.add(c.n); chips.append(chip(c, msg)); }
            if (data.message_id) { secret = data.conversation_secret; msg.append(votes(data.message_id)); }
            if (data.handoff_offer) msg.append(offer(data.handoff_offer));
            msg.dataset.state = 'done';
          } else if (name === 'error') {
            throw new Error(data.error.message);
          }
          log.scrollTop = log.scrollHeight;
        });
      } catch (e) {
        text.textContent = tx.failed + e.message;
        msg.dataset.state = 'error';
      }
    }
  }

  function init() {
    fetch(base + '/api/widget' + (opt.bot ? '?bot=' + encodeURIComponent(opt.bot) : ''), {headers: {Accept: 'application/json'}})
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(build)
      /* a site missing from server.cors_origins (or the bot's origins) gets no CORS headers or a 403 */
      .catch((e) => { console.warn('kbox widget: not allowed on this site or server unreachable (' + (e.message || e) + ')'); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
