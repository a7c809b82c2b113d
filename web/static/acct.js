/* web/static/acct.js: accounts in the kbox UI: the login page, the first owner's setup page (the
 * one-time link "/#setup=TOKEN" that kbox serve prints when no owner exists), the Account page
 * (password change, log out, log out everywhere), and the owner pages Users, API keys and Audit
 * (web/session.c, web/api_users.c, web/api_keys.c, web/api_audit.c).
 *
 * Who is logged in decides what shows: boot() asks GET /api/me (the session cookie, or the
 * break-glass admin token typed at the top right, which app.js sends as Authorization: Bearer) and
 * keeps {role, csrf} in state.me / state.csrf; app.js sends state.csrf as X-CSRF-Token with every
 * request. Each page names its least role (PAGE_ROLE, the same levels as web/routes.c); nav items
 * above the caller's role are hidden and show() of such a page lands on the first allowed one. The
 * server still checks every call: hiding is a courtesy, not the fence.
 * It loads before app.js and registers in window.kboxExtras like bots.js (strings in English and
 * Chinese, page loaders, boot, allow, landing); at run time it uses app.js's helpers (el, $, t, api,
 * state, toast, showError, applyLang, show). Data is placed with textContent only. A key's secret
 * is shown once, in the answer to its creation. Tests: tests/web/acct.mjs (headless Chromium). */
'use strict';

(function () {
  const RANK = {public: 0, viewer: 1, agent: 2, editor: 3, owner: 4};
  /* least role per page; pages not named here need a viewer */
  const PAGE_ROLE = {
    login: 'public', setup: 'public', account: 'viewer', chat: 'viewer', hits: 'viewer',
    review: 'agent', inbox: 'agent', documents: 'agent', dashboard: 'agent',
    upload: 'editor', faq: 'editor', bots: 'editor', keys: 'editor',
    settings: 'owner', users: 'owner', audit: 'owner',
  };
  const SCOPES = ['ask', 'documents:read', 'documents:write', 'faq:read', 'faq:write', 'logs:read', 'logs:write',
    'review:write', 'settings:read', 'settings:write', 'metrics:read', 'audit:read'];
  const acct = {built: false, setupToken: '', audit: [], collections: []};

  function role() { return (state.me && state.me.role) || 'public'; }

  function allow(page) {
    if (page === 'setup') return !!acct.setupToken;
    if (page === 'login') return !state.me;
    return RANK[role()] >= RANK[PAGE_ROLE[page] || 'viewer'] && !!state.me;
  }

  function landing() {
    if (acct.setupToken) return 'setup';
    if (!state.me) return 'login';
    for (const p of ['upload', 'documents', 'review', 'chat']) if (allow(p)) return p;
    return 'chat';
  }

  /* Hides nav items the caller may not use and shows who is logged in. */
  function applyNav() {
    for (const b of document.querySelectorAll('#nav button')) b.hidden = !allow(b.dataset.page);
    const who = $('me-name');
    if (who) {
      who.hidden = !state.me;
      who.textContent = state.me ? state.me.actor.replace(/^user:/, '') + ' · ' + t('role.' + role()) : '';
    }
  }

  async function whoami() {
    try {
      const me = await api('GET', '/api/me');
      state.me = me;
      state.csrf = me.csrf || '';
    } catch (e) {
      state.me = null;
      state.csrf = '';
    }
    applyNav();
  }

  /* The setup link's token, taken out of the address bar (so it is not left in the history). */
  function takeSetupToken() {
    const m = /^#setup=([0-9a-f]{64})$/.exec(location.hash);
    if (!m) return false;
    acct.setupToken = m[1];
    history.replaceState(null, '', '/#setup');
    return true;
  }

  async function boot() {
    takeSetupToken();
    if (!acct.hashWatch) { /* the link pasted into a tab that has the UI open already */
      acct.hashWatch = true;
      window.addEventListener('hashchange', () => { if (takeSetupToken()) show('setup'); });
    }
    build();
    await whoami();
    window.kboxAuthLost = () => { state.me = null; state.csrf = ''; applyNav(); show('login'); };
  }

  /* ---- pages ------------------------------------------------------------------------------------ */

  const field = (key, input) => el('label', {class: 'acct-field'}, el('span', {'data-i18n': key}), input);
  const opt = (value, key) => el('option', {value, 'data-i18n': key});
  const roleSelect = (id) => el('select', id ? {id} : {}, opt('viewer', 'role.viewer'), opt('agent', 'role.agent'),
    opt('editor', 'role.editor'), opt('owner', 'role.owner'));

  function build() {
    if (acct.built) return;
    acct.built = true;
    const main = document.querySelector('main');
    main.append(
      el('section', {id: 'page-login', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'login.title'}),
        el('form', {id: 'login-form', class: 'acct-form detail'},
          field('login.email', el('input', {id: 'login-email', type: 'email', autocomplete: 'username', required: ''})),
          field('login.password', el('input', {id: 'login-password', type: 'password', autocomplete: 'current-password', required: ''})),
          el('div', {class: 'row'}, el('button', {id: 'login-submit', type: 'submit', 'data-i18n': 'login.submit'}),
            el('span', {id: 'login-status', class: 'status error', role: 'status'})),
          el('p', {class: 'hint', 'data-i18n': 'login.hint'}))),
      el('section', {id: 'page-setup', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'setup.title'}),
        el('p', {class: 'hint', 'data-i18n': 'setup.hint'}),
        el('form', {id: 'setup-form', class: 'acct-form detail'},
          field('login.email', el('input', {id: 'setup-email', type: 'email', autocomplete: 'username', required: ''})),
          field('users.name', el('input', {id: 'setup-name', autocomplete: 'name'})),
          field('login.password', el('input', {id: 'setup-password', type: 'password', autocomplete: 'new-password', required: ''})),
          el('div', {class: 'row'}, el('button', {id: 'setup-submit', type: 'submit', 'data-i18n': 'setup.submit'}),
            el('span', {id: 'setup-status', class: 'status error', role: 'status'})))),
      el('section', {id: 'page-account', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'account.title'}),
        el('p', {id: 'account-who', class: 'hint'}),
        el('div', {class: 'row'},
          el('button', {id: 'logout', type: 'button', 'data-i18n': 'account.logout'}),
          el('button', {id: 'logout-all', type: 'button', class: 'secondary', 'data-i18n': 'account.logout_all'})),
        el('h2', {'data-i18n': 'account.password'}),
        el('form', {id: 'password-form', class: 'acct-form detail'},
          field('account.old', el('input', {id: 'pw-old', type: 'password', autocomplete: 'current-password', required: ''})),
          field('account.new', el('input', {id: 'pw-new', type: 'password', autocomplete: 'new-password', required: ''})),
          el('div', {class: 'row'}, el('button', {type: 'submit', 'data-i18n': 'account.change'}),
            el('span', {id: 'pw-status', class: 'status', role: 'status'})))),
      el('section', {id: 'page-users', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'users.title'}),
        el('form', {id: 'user-form', class: 'acct-form detail'},
          el('h2', {'data-i18n': 'users.add'}),
          field('login.email', el('input', {id: 'user-email', type: 'email', autocomplete: 'off', required: ''})),
          field('users.name', el('input', {id: 'user-name', autocomplete: 'off'})),
          field('users.role', roleSelect('user-role')),
          field('login.password', el('input', {id: 'user-password', type: 'password', autocomplete: 'new-password', required: ''})),
          field('users.collections', el('select', {id: 'user-collections', multiple: '', size: '3'})),
          el('p', {class: 'hint small', 'data-i18n': 'users.collections_hint'}),
          el('div', {class: 'row'}, el('button', {id: 'user-add', type: 'submit', 'data-i18n': 'users.add'}),
            el('span', {id: 'user-status', class: 'status', role: 'status'}))),
        el('table', {class: 'grid'},
          el('thead', {}, el('tr', {},
            el('th', {'data-i18n': 'login.email'}), el('th', {'data-i18n': 'users.name'}), el('th', {'data-i18n': 'users.role'}),
            el('th', {'data-i18n': 'users.collections'}), el('th', {'data-i18n': 'docs.actions'}))),
          el('tbody', {id: 'user-rows'}))),
      el('section', {id: 'page-keys', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'keys.title'}),
        el('p', {class: 'hint', 'data-i18n': 'keys.hint'}),
        el('form', {id: 'key-form', class: 'acct-form detail'},
          el('h2', {'data-i18n': 'keys.create'}),
          field('keys.name', el('input', {id: 'key-name', autocomplete: 'off'})),
          el('fieldset', {id: 'key-scopes', class: 'scopes'}, el('legend', {'data-i18n': 'keys.scopes'}),
            ...SCOPES.map((s) => el('label', {class: 'check'}, el('input', {type: 'checkbox', value: s}), s))),
          field('keys.bots', el('select', {id: 'key-bots', multiple: '', size: '3'})),
          field('keys.expires', el('input', {id: 'key-expires', type: 'date'})),
          field('keys.rate', el('input', {id: 'key-rate', type: 'number', min: '0', max: '1000000', value: '0'})),
          el('div', {class: 'row'}, el('button', {id: 'key-create', type: 'submit', 'data-i18n': 'keys.create'}),
            el('span', {id: 'key-status', class: 'status', role: 'status'}))),
        el('div', {id: 'key-secret-box', class: 'detail', hidden: ''},
          el('p', {'data-i18n': 'keys.once'}), el('pre', {id: 'key-secret', class: 'snippet'})),
        el('table', {class: 'grid'},
          el('thead', {}, el('tr', {},
            el('th', {'data-i18n': 'keys.prefix'}), el('th', {'data-i18n': 'keys.name'}), el('th', {'data-i18n': 'keys.scopes'}),
            el('th', {'data-i18n': 'keys.rate_col'}), el('th', {'data-i18n': 'keys.expires'}), el('th', {'data-i18n': 'keys.last_used'}),
            el('th', {'data-i18n': 'docs.actions'}))),
          el('tbody', {id: 'key-rows'}))),
      el('section', {id: 'page-audit', class: 'page', hidden: ''},
        el('h1', {'data-i18n': 'audit.title'}),
        el('table', {class: 'grid'},
          el('thead', {}, el('tr', {},
            el('th', {'data-i18n': 'audit.at'}), el('th', {'data-i18n': 'audit.actor'}), el('th', {'data-i18n': 'audit.action'}),
            el('th', {'data-i18n': 'audit.target'}), el('th', {'data-i18n': 'audit.detail'}), el('th', {text: 'IP'}))),
          el('tbody', {id: 'audit-rows'})),
        el('div', {class: 'row'}, el('button', {id: 'audit-more', type: 'button', class: 'secondary', 'data-i18n': 'audit.more'}))));
    const tools = document.querySelector('.tools');
    tools.prepend(el('button', {id: 'me-name', type: 'button', class: 'secondary', hidden: '', onclick: () => show('account')}));
    $('login-form').addEventListener('submit', login);
    $('setup-form').addEventListener('submit', setup);
    $('password-form').addEventListener('submit', changePassword);
    $('logout').addEventListener('click', () => logout('/api/logout'));
    $('logout-all').addEventListener('click', () => logout('/api/logout/all'));
    $('user-form').addEventListener('submit', addUser);
    $('key-form').addEventListener('submit', createKey);
    $('audit-more').addEventListener('click', () => loadAudit(true));
    $('lang').addEventListener('change', applyNav);
  }

  /* ---- login, setup, logout, password ----------------------------------------------------------- */

  async function loggedIn(data) {
    state.me = null;
    await whoami();
    if (!state.me) state.csrf = data.csrf || '';
    applyLang();
    showWanted();
  }

  async function login(e) {
    e.preventDefault();
    $('login-status').textContent = '';
    try {
      const data = await api('POST', '/api/login', {email: $('login-email').value.trim(), password: $('login-password').value});
      $('login-password').value = '';
      await loggedIn(data);
    } catch (err) { $('login-status').textContent = err.message; }
  }

  async function setup(e) {
    e.preventDefault();
    $('setup-status').textContent = '';
    const body = {token: acct.setupToken, email: $('setup-email').value.trim(), name: $('setup-name').value.trim(),
      password: $('setup-password').value};
    try {
      await api('POST', '/api/setup', body);
      acct.setupToken = '';
      const data = await api('POST', '/api/login', {email: body.email, password: body.password});
      await loggedIn(data);
    } catch (err) { $('setup-status').textContent = err.message; }
  }

  async function logout(path) {
    try { await api('POST', path, {}); } catch (e) { showError(e); return; }
    state.me = null;
    state.csrf = '';
    applyNav();
    show('login');
  }

  async function changePassword(e) {
    e.preventDefault();
    try {
      /* the change ends every session of the account and starts a new one here: new cookie, new CSRF */
      const data = await api('POST', '/api/password', {old_password: $('pw-old').value, password: $('pw-new').value});
      if (data && data.csrf) state.csrf = data.csrf;
      $('pw-old').value = '';
      $('pw-new').value = '';
      $('pw-status').textContent = t('account.changed');
    } catch (err) { $('pw-status').textContent = err.message; }
  }

  function loadAccount() {
    $('account-who').textContent = state.me ? state.me.actor + ' · ' + t('role.' + role()) : '';
    $('logout-all').hidden = !(state.me && state.me.user_id);
    $('password-form').hidden = !(state.me && state.me.user_id);
  }

  /* ---- users ------------------------------------------------------------------------------------- */

  async function loadCollectionList() {
    try { acct.collections = (await api('GET', '/api/collections')).collections || []; } catch (e) { acct.collections = []; }
  }

  function collOptions(sel, chosen) {
    const ids = new Set(String(chosen || '').split(',').filter(Boolean));
    sel.replaceChildren(...acct.collections.map((c) => {
      const o = el('option', {value: String(c.id), text: c.name});
      o.selected = ids.has(String(c.id));
      return o;
    }));
  }

  const picked = (sel) => Array.from(sel.selectedOptions, (o) => o.value);

  function collNames(list) {
    if (!list) return t('users.all');
    return list.split(',').map((id) => (acct.collections.find((c) => String(c.id) === id) || {name: '#' + id}).name).join(', ');
  }

  async function loadUsers() {
    await loadCollectionList();
    collOptions($('user-collections'), '');
    let users = [];
    try { users = (await api('GET', '/api/users')).users; } catch (e) { showError(e); }
    const body = $('user-rows');
    body.replaceChildren();
    for (const u of users) {
      const sel = roleSelect();
      sel.value = u.role;
      for (const o of sel.options) o.textContent = t(o.dataset.i18n);
      sel.addEventListener('change', () => patchUser(u, {role: sel.value}));
      const colls = el('select', {multiple: '', size: '2', class: 'user-colls'});
      collOptions(colls, u.collections);
      colls.addEventListener('change', () => patchUser(u, {collections: picked(colls).join(',')}));
      body.append(el('tr', {'data-email': u.email},
        el('td', {text: u.email}), el('td', {text: u.name}), el('td', {}, sel),
        el('td', {}, colls, el('div', u.collections ? {class: 'meta', text: collNames(u.collections)} :
          {class: 'meta', text: t('users.all'), 'data-i18n': 'users.all'})),
        el('td', {}, el('div', {class: 'actions'},
          el('button', {type: 'button', class: 'secondary user-reset', text: t('users.reset'), 'data-i18n': 'users.reset', onclick: () => resetPassword(u)}),
          el('button', {type: 'button', class: 'danger user-remove', text: t('users.remove'), 'data-i18n': 'users.remove', onclick: () => removeUser(u)})))));
    }
  }

  async function addUser(e) {
    e.preventDefault();
    const body = {email: $('user-email').value.trim(), name: $('user-name').value.trim(), role: $('user-role').value,
      password: $('user-password').value, collections: picked($('user-collections')).join(',')};
    try {
      await api('POST', '/api/users', body);
      $('user-form').reset();
      $('user-status').textContent = '✓ ' + body.email;
      await loadUsers();
    } catch (err) { $('user-status').textContent = err.message; }
  }

  async function patchUser(u, change) {
    try { await api('PATCH', '/api/users/' + u.id, change); toast('✓ ' + u.email); } catch (e) { showError(e); }
    loadUsers();
  }

  async function resetPassword(u) {
    const pw = prompt(t('users.reset_prompt').replace('{email}', u.email));
    if (pw) patchUser(u, {password: pw});
  }

  async function removeUser(u) {
    if (!confirm(t('users.confirm').replace('{email}', u.email))) return;
    try { await api('DELETE', '/api/users/' + u.id); } catch (e) { showError(e); }
    loadUsers();
  }

  /* ---- API keys ---------------------------------------------------------------------------------- */

  const when = (s) => (s ? new Date(s * 1000).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en') : '–');

  async function loadKeys() {
    try {
      const bots = (await api('GET', '/api/bots')).bots || [];
      $('key-bots').replaceChildren(...bots.map((b) => el('option', {value: b.id, text: b.id + (b.name ? ' (' + b.name + ')' : '')})));
    } catch (e) { $('key-bots').replaceChildren(); }
    let keys = [];
    try { keys = (await api('GET', '/api/keys')).keys; } catch (e) { showError(e); }
    const body = $('key-rows');
    body.replaceChildren();
    for (const k of keys) {
      const state_ = k.revoked_at ? t('keys.revoked') + ' ' + when(k.revoked_at) : '';
      body.append(el('tr', {'data-prefix': k.prefix, class: k.revoked_at ? 'revoked' : ''},
        el('td', {}, el('code', {text: k.prefix})), el('td', {text: k.name}), el('td', {text: k.scopes.split(',').join(', ')}),
        el('td', {class: 'num', text: k.rate_per_min ? String(k.rate_per_min) : '–'}),
        el('td', {text: k.expires_at ? when(k.expires_at) : t('keys.never')}),
        el('td', {text: when(k.last_used)}),
        el('td', {}, k.revoked_at ? state_ :
          el('button', {type: 'button', class: 'danger key-revoke', text: t('keys.revoke'), 'data-i18n': 'keys.revoke', onclick: () => revokeKey(k)}))));
    }
  }

  async function createKey(e) {
    e.preventDefault();
    const scopes = Array.from(document.querySelectorAll('#key-scopes input:checked'), (c) => c.value)
      .concat(picked($('key-bots')).map((b) => 'bot:' + b));
    const day = $('key-expires').value;
    const body = {name: $('key-name').value.trim(), scopes, rate_per_min: Number($('key-rate').value) || 0,
      expires_at: day ? Math.floor(new Date(day + 'T23:59:59').getTime() / 1000) : 0};
    try {
      const data = await api('POST', '/api/keys', body);
      $('key-secret').textContent = data.secret;
      $('key-secret-box').hidden = false;
      $('key-status').textContent = '✓ ' + data.key.prefix;
      $('key-form').reset();
      await loadKeys();
    } catch (err) { $('key-status').textContent = err.message; }
  }

  async function revokeKey(k) {
    if (!confirm(t('keys.confirm').replace('{prefix}', k.prefix))) return;
    try { await api('DELETE', '/api/keys/' + k.id); } catch (e) { showError(e); }
    loadKeys();
  }

  /* ---- audit ------------------------------------------------------------------------------------- */

  async function loadAudit(more) {
    const before = more && acct.audit.length ? '&before=' + acct.audit[acct.audit.length - 1].id : '';
    let got = [];
    try { got = (await api('GET', '/api/audit?limit=100' + before)).entries; } catch (e) { showError(e); }
    acct.audit = more ? acct.audit.concat(got) : got;
    $('audit-more').hidden = got.length < 100;
    $('audit-rows').replaceChildren(...acct.audit.map((a) => el('tr', {'data-action': a.action},
      el('td', {text: when(a.at)}), el('td', {text: a.actor}), el('td', {}, el('code', {text: a.action})),
      el('td', {text: a.target}), el('td', {text: a.detail}), el('td', {text: a.ip}))));
  }

  window.kboxExtras = window.kboxExtras || [];
  window.kboxExtras.push({
    boot, allow, landing,
    pages: {login: () => {}, setup: () => {}, account: loadAccount, users: loadUsers, keys: loadKeys, audit: () => loadAudit(false)},
    i18n: {
      en: {
        'nav.users': 'Users', 'nav.keys': 'API keys', 'nav.audit': 'Audit',
        'role.public': 'not logged in', 'role.viewer': 'viewer', 'role.agent': 'agent', 'role.editor': 'editor', 'role.owner': 'owner',
        'login.title': 'Log in', 'login.email': 'Email', 'login.password': 'Password', 'login.submit': 'Log in',
        'login.hint': 'Ask an owner for an account. The break-glass admin token, if the server has one, goes in the box at the top right.',
        'setup.title': 'Create the owner account', 'setup.submit': 'Create owner',
        'setup.hint': 'This one-time link makes the first owner of this knowledge base. It works once.',
        'account.title': 'Account', 'account.logout': 'Log out', 'account.logout_all': 'Log out everywhere',
        'account.password': 'Change password', 'account.old': 'Current password', 'account.new': 'New password',
        'account.change': 'Change password', 'account.changed': 'Password changed',
        'users.title': 'Users', 'users.add': 'Add user', 'users.name': 'Name', 'users.role': 'Role',
        'users.collections': 'Collections', 'users.collections_hint': 'None selected: every collection.', 'users.all': 'All collections',
        'users.reset': 'Reset password', 'users.remove': 'Remove', 'users.confirm': 'Remove {email}? Their sessions end and their keys are revoked.',
        'users.reset_prompt': 'New password for {email} (their sessions end):',
        'keys.title': 'API keys', 'keys.hint': 'Keys for integrations: admin scopes, or bots (a bot key answers as that bot only). A key never has more rights than its creator.',
        'keys.create': 'Create key', 'keys.name': 'Name', 'keys.scopes': 'Scopes', 'keys.bots': 'Bots', 'keys.expires': 'Expires',
        'keys.rate': 'Requests per minute (0: no own limit)', 'keys.rate_col': 'Per minute', 'keys.once': 'Copy this key now: it is shown only once.',
        'keys.prefix': 'Key', 'keys.last_used': 'Last used', 'keys.revoke': 'Revoke', 'keys.revoked': 'revoked', 'keys.never': 'never',
        'keys.confirm': 'Revoke the key {prefix}? Programs using it stop working.',
        'audit.title': 'Audit log', 'audit.at': 'When', 'audit.actor': 'Who', 'audit.action': 'Action', 'audit.target': 'Target',
        'audit.detail': 'Detail', 'audit.more': 'Older entries',
      },
      zh: {
        'nav.users': '用户', 'nav.keys': 'API 密钥', 'nav.audit': '审计',
        'role.public': '未登录', 'role.viewer': '访客', 'role.agent': '客服', 'role.editor': '编辑', 'role.owner': '所有者',
        'login.title': '登录', 'login.email': '邮箱', 'login.password': '密码', 'login.submit': '登录',
        'login.hint': '请向所有者申请账号。如果服务器设置了应急管理员令牌，请填在右上角的输入框中。',
        'setup.title': '创建所有者账号', 'setup.submit': '创建所有者',
        'setup.hint': '这个一次性链接用于创建本知识库的第一个所有者，只能使用一次。',
        'account.title': '账号', 'account.logout': '退出登录', 'account.logout_all': '退出所有设备',
        'account.password': '修改密码', 'account.old': '当前密码', 'account.new': '新密码',
        'account.change': '修改密码', 'account.changed': '密码已修改',
        'users.title': '用户', 'users.add': '添加用户', 'users.name': '姓名', 'users.role': '角色',
        'users.collections': '知识库', 'users.collections_hint': '不选：可以访问全部知识库。', 'users.all': '全部知识库',
        'users.reset': '重置密码', 'users.remove': '删除', 'users.confirm': '确定删除 {email} 吗？其会话将结束，密钥将被吊销。',
        'users.reset_prompt': '{email} 的新密码（其会话将结束）：',
        'keys.title': 'API 密钥', 'keys.hint': '供集成使用的密钥：管理权限范围，或指定机器人（机器人密钥只能以该机器人身份回答）。密钥的权限不会超过创建者。',
        'keys.create': '创建密钥', 'keys.name': '名称', 'keys.scopes': '权限范围', 'keys.bots': '机器人', 'keys.expires': '过期时间',
        'keys.rate': '每分钟请求数（0：不单独限制）', 'keys.rate_col': '每分钟', 'keys.once': '请立即复制此密钥：它只显示这一次。',
        'keys.prefix': '密钥', 'keys.last_used': '最近使用', 'keys.revoke': '吊销', 'keys.revoked': '已吊销', 'keys.never': '永不',
        'keys.confirm': '确定吊销密钥 {prefix} 吗？使用它的程序将无法继续工作。',
        'audit.title': '审计日志', 'audit.at': '时间', 'audit.actor': '操作者', 'audit.action': '操作', 'audit.target': '对象',
        'audit.detail': '详情', 'audit.more': '更早的记录',
      },
    },
  });
})();
