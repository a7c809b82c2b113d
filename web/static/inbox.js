/* web/static/inbox.js: the Inbox page of the kbox UI (human handoff, web/api_handoff.c): the queue
 * of customers waiting for a person, conversations held by agents, tickets and the last closed
 * conversations, live (GET /api/inbox/stream), and the notifications that could not be delivered;
 * a conversation's whole history (the bot's answers
 * with their citations, then the customer's and agents' messages) with Take, Reply and Close.
 * While the Inbox stream is connected its user counts as online, so the widget offers live chat;
 * the stream stays open once the page was opened, until the tab closes.
 * Streams are read with fetch (an EventSource cannot send the Authorization header), and a
 * conversation's stream resumes after the last event id it saw. It loads before app.js and registers
 * in window.kboxExtras like bots.js (strings in English and Chinese, the page loader); at run time it
 * uses app.js's helpers (el, t, api, headers, toast, showError, applyLang). Data is placed with
 * textContent only. Tests: tests/web/handoff.mjs (headless Chromium, screenshots in both languages). */
'use strict';

(function () {
  const ib = {data: null, built: false, streaming: false, rows: [], closed: [], current: 0, last: 0, convAbort: null};

  /* Reads an SSE response: onEvent(name, data, id) per event. */
  async function readEvents(resp, onEvent) {
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const raw = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message';
        let id = 0;
        const data = [];
        for (const line of raw.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          else if (line.startsWith('id:')) id = Number(line.slice(3).trim());
        }
        if (data.length) onEvent(name, JSON.parse(data.join('\n')), id);
      }
    }
  }

  function build() {
    if (ib.built) return;
    ib.built = true;
    const section = el('section', {id: 'page-inbox', class: 'page'},
      el('h1', {'data-i18n': 'inbox.title'}),
      el('p', {class: 'hint', id: 'inbox-online'}),
      el('div', {id: 'inbox-failures', class: 'inbox-failures', hidden: ''}),
      el('div', {class: 'inbox-cols'},
        el('div', {class: 'inbox-list'},
          el('h2', {'data-i18n': 'inbox.open'}),
          el('table', {class: 'table'}, el('tbody', {id: 'inbox-rows'})),
          el('p', {class: 'hint', id: 'inbox-empty', 'data-i18n': 'inbox.empty'}),
          el('details', {}, el('summary', {'data-i18n': 'inbox.closed'}), el('table', {class: 'table'}, el('tbody', {id: 'inbox-closed'})))),
        el('div', {class: 'inbox-conv detail', id: 'inbox-conv', hidden: ''},
          el('h2', {id: 'inbox-conv-title'}),
          el('p', {class: 'hint', id: 'inbox-conv-meta'}),
          el('div', {id: 'inbox-log', class: 'inbox-log'}),
          el('form', {id: 'inbox-reply', class: 'row'},
            el('input', {id: 'inbox-text', maxlength: '4000', autocomplete: 'off'}),
            el('button', {type: 'submit', 'data-i18n': 'inbox.send'}),
            el('button', {type: 'button', id: 'inbox-take', 'data-i18n': 'inbox.take'}),
            el('button', {type: 'button', id: 'inbox-close', class: 'danger', 'data-i18n': 'inbox.close'})))));
    document.querySelector('main').append(section);
    document.getElementById('inbox-reply').addEventListener('submit', (e) => { e.preventDefault(); reply(); });
    document.getElementById('inbox-take').addEventListener('click', () => act('take'));
    document.getElementById('inbox-close').addEventListener('click', () => act('close'));
    /* rows are written with t(): write them again in the new language (app.js's handler ran first) */
    document.getElementById('lang').addEventListener('change', () => { if (ib.data) render(ib.data); });
    applyLang();
  }

  const when = (s) => (s ? new Date(s * 1000).toLocaleString() : '');

  function stateText(h) {
    if (h.kind === 'ticket') return t('inbox.ticket') + (h.state === 'closed' ? ' · ' + t('inbox.state.closed') : '');
    return t('inbox.state.' + h.state) + (h.agent_name ? ' · ' + h.agent_name : '');
  }

  function rowFor(h) {
    const who = h.kind === 'ticket' ? [h.name, h.contact].filter(Boolean).join(' · ') : (h.from_bot ? t('inbox.from_bot') : '');
    const tr = el('tr', {'data-handoff': String(h.id), 'data-state': h.state, 'data-kind': h.kind},
      el('td', {text: '#' + h.id}),
      el('td', {text: stateText(h)}),
      el('td', {text: who}),
      el('td', {text: when(h.created_at)}),
      el('td', {}, el('button', {type: 'button', class: 'inbox-open', text: t('inbox.view'), onclick: () => openConv(h.id)})));
    if (h.rating) tr.append(el('td', {text: '★'.repeat(h.rating)}));
    return tr;
  }

  function render(data) {
    ib.data = data;
    ib.rows = data.open || [];
    ib.closed = data.closed || [];
    const online = document.getElementById('inbox-online');
    online.textContent = t('inbox.online').replace('{n}', data.agents_online);
    online.dataset.online = String(data.agents_online);
    document.getElementById('inbox-rows').replaceChildren(...ib.rows.map(rowFor));
    document.getElementById('inbox-closed').replaceChildren(...ib.closed.map(rowFor));
    document.getElementById('inbox-empty').hidden = ib.rows.length > 0;
    /* notifications (webhook, e-mail) that gave up after their retries */
    const fails = data.notify_failures || [];
    const fbox = document.getElementById('inbox-failures');
    fbox.hidden = fails.length === 0;
    fbox.replaceChildren(el('strong', {text: t('inbox.notify_failed')}),
      ...fails.map((x) => el('div', {class: 'inbox-failure', text: '#' + x.handoff_id + ' · ' + x.channel + ' · ' + x.error + ' · ' + when(x.at)})));
    const cur = ib.rows.concat(ib.closed).find((h) => h.id === ib.current);
    if (cur) convButtons(cur);
  }

  /* The Inbox stream: the list now and after every change; reconnects while the tab lives. */
  async function stream() {
    if (ib.streaming) return;
    ib.streaming = true;
    for (;;) {
      try {
        const r = await fetch('/api/inbox/stream', {headers: headers(false)});
        if (!r.ok) throw new Error('HTTP ' + r.status);
        await readEvents(r, (name, data) => { if (name === 'inbox') render(data); });
      } catch (e) {
        /* not allowed, or the server restarted: try again shortly */
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
  }

  function logLine(cls, text, who) {
    const box = document.getElementById('inbox-log');
    box.append(el('div', {class: 'ib-msg ' + cls}, who ? el('span', {class: 'ib-who', text: who}) : null, text));
    box.scrollTop = box.scrollHeight;
  }

  function showEvent(e) {
    if (e.seq <= ib.last) return;
    ib.last = e.seq;
    if (e.kind === 'customer') logLine('ib-customer', e.text, t('inbox.customer'));
    else if (e.kind === 'agent') logLine('ib-agent', e.text, e.author);
    else logLine('ib-state', t('inbox.event.' + e.text.replace(/:.*/, '')) + (e.author ? ' · ' + e.author : '') +
      (e.text.startsWith('rated:') ? ' ' + '★'.repeat(Number(e.text.slice(6))) : ''));
  }

  function convButtons(h) {
    document.getElementById('inbox-take').hidden = !(h.state === 'queued' && h.kind === 'chat');
    document.getElementById('inbox-close').hidden = h.state === 'closed';
    document.getElementById('inbox-text').disabled = h.state !== 'taken';
    document.getElementById('inbox-conv-meta').textContent = stateText(h);
  }

  async function openConv(id) {
    if (ib.convAbort) ib.convAbort.abort();
    ib.current = id;
    ib.last = 0;
    try {
      const d = await api('GET', '/api/inbox/' + id);
      const h = d.handoff;
      document.getElementById('inbox-conv').hidden = false;
      document.getElementById('inbox-conv-title').textContent = '#' + h.id + (h.name ? ' · ' + h.name : '');
      const box = document.getElementById('inbox-log');
      box.replaceChildren();
      for (const b of d.bot) {
        logLine('ib-customer', b.question, t('inbox.customer'));
        const cites = el('div', {}, ...(b.citations || []).map((c) => el('span', {class: 'ib-cite', title: c.text || '', text: '[' + c.n + '] ' + (c.document || '')})));
        box.append(el('div', {class: 'ib-msg ib-bot'}, el('span', {class: 'ib-who', text: t('inbox.bot')}), b.answer, cites));
      }
      if (h.kind === 'ticket') logLine('ib-customer', h.message, [h.name, h.contact].filter(Boolean).join(' · '));
      for (const e of d.events) showEvent(e);
      convButtons(h);
      follow(id);
    } catch (e) {
      showError(e);
    }
  }

  /* The open conversation's stream, resumed after the last event shown. */
  async function follow(id) {
    const ctl = new AbortController();
    ib.convAbort = ctl;
    while (ib.current === id && !ctl.signal.aborted) {
      try {
        const r = await fetch('/api/inbox/' + id + '/stream?last_event_id=' + ib.last, {headers: headers(false), signal: ctl.signal});
        if (!r.ok) return;
        await readEvents(r, (name, data) => { if (ib.current === id) showEvent(data); });
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      await new Promise((res) => setTimeout(res, 1500));
    }
  }

  async function reply() {
    const input = document.getElementById('inbox-text');
    const text = input.value.trim();
    if (!text || !ib.current) return;
    try {
      await api('POST', '/api/inbox/' + ib.current + '/messages', {text});
      input.value = '';
    } catch (e) {
      showError(e);
    }
  }

  async function act(what) {
    if (!ib.current) return;
    try {
      await api('POST', '/api/inbox/' + ib.current + '/' + what, {});
    } catch (e) {
      showError(e);
    }
  }

  function load() {
    build();
    stream();
  }

  window.kboxExtras = window.kboxExtras || [];
  window.kboxExtras.push({
    pages: {inbox: load},
    i18n: {
      en: {
        'nav.inbox': 'Inbox', 'inbox.title': 'Inbox', 'inbox.open': 'Waiting and open', 'inbox.closed': 'Recently closed',
        'inbox.empty': 'Nobody is waiting.', 'inbox.online': 'Agents online: {n}', 'inbox.view': 'Open',
        'inbox.take': 'Take', 'inbox.close': 'Close', 'inbox.send': 'Send', 'inbox.ticket': 'Ticket',
        'inbox.state.queued': 'Waiting', 'inbox.state.taken': 'In progress', 'inbox.state.closed': 'Closed',
        'inbox.from_bot': 'after the bot', 'inbox.customer': 'Customer', 'inbox.bot': 'Bot',
        'inbox.event.queued': 'Asked for a person', 'inbox.event.taken': 'Taken', 'inbox.event.closed': 'Closed',
        'inbox.event.ticket': 'Left a message (ticket)', 'inbox.event.rated': 'Rated',
        'inbox.notify_failed': 'Notifications that could not be delivered:',
      },
      zh: {
        'nav.inbox': '人工客服', 'inbox.title': '人工客服收件箱', 'inbox.open': '排队与进行中', 'inbox.closed': '最近结束',
        'inbox.empty': '目前没有客户在排队。', 'inbox.online': '在线客服：{n}', 'inbox.view': '查看',
        'inbox.take': '接入', 'inbox.close': '结束', 'inbox.send': '发送', 'inbox.ticket': '留言工单',
        'inbox.state.queued': '排队中', 'inbox.state.taken': '进行中', 'inbox.state.closed': '已结束',
        'inbox.from_bot': '来自机器人对话', 'inbox.customer': '客户', 'inbox.bot': '机器人',
        'inbox.event.queued': '请求转人工', 'inbox.event.taken': '已接入', 'inbox.event.closed': '已结束',
        'inbox.event.ticket': '已留言（工单）', 'inbox.event.rated': '已评分',
        'inbox.notify_failed': '以下通知未能送达：',
      },
    },
  });
})();
