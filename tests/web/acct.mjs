// tests/web/acct.mjs KBOX SRC_DIR BUILD_DIR: accounts and roles in the UI (issue #16) in headless
// Debian Chromium (/usr/bin/chromium) driven by playwright-core, against a real `kbox serve` started
// with no owner account, plus the stock `openai` npm client:
//   1. the one-time setup link kbox serve printed makes the owner in the UI (setup page), who is
//      then logged in; the owner adds an editor limited to collection "shop" and a viewer on the
//      Users page, creates a bot over "shop" on the Bots page and a key scoped to that bot on the
//      API keys page (shown once); the Audit page lists these changes;
//   2. the owner logs out; the editor logs in: no Users, Audit or Settings in the nav; an upload
//      naming no collection lands in "shop" (the editor's only collection) and is indexed;
//   3. the bot's widget on a foreign 127.0.0.1 origin answers a question from that upload, cited;
//   4. a viewer who opens /#documents lands on Chat after logging in: no Documents nav item or
//      page, and GET /api/documents with its session is 403;
//   5. the `openai` client with the bot-scoped key sees only that bot and chats with it; the key
//      cannot list documents;
//   6. the viewer changes its password on the Account page and logs out everywhere;
//   7. the owner revokes the key (the client is then refused), resets the editor's password and
//      removes the viewer (whose session ends);
//   8. an agent limited to "shop" sees Documents without Delete or Re-ingest, and Review, but not
//      Upload; its Dashboard counts shop's questions only (one is logged in "hr") and its Review page
//      loads without an error, while GET /api/review?collection=hr is 404;
//   9. screenshots (BUILD_DIR/screenshots/acct-*.png): login, users, keys and audit in English and
//      Chinese, the editor's upload page and the viewer's chat page.
// Exit 77 (skip) without chromium or the npm packages.
import path from 'node:path';
import {browserOrSkip, check, requirePackage, runWithServer, site, startKbox} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);
const OpenAI = requirePackage('openai').default || requirePackage('openai');

async function login(page, url, email, password) {
  await page.goto('about:blank'); /* a new document: only a hash would differ, and that does not reload */
  await page.goto(url);
  await page.waitForSelector('#page-login:not([hidden])');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#me-name:not([hidden])');
}

async function main() {
  const k = await startKbox(kbox, []);
  const admin = {Authorization: 'Bearer ' + k.token, 'Content-Type': 'application/json'};
  const link = (k.stdout().match(/(http:\/\/\S+\/#setup=[0-9a-f]{64})/) || [])[1];
  check(link, 'kbox serve printed a setup link: ' + k.stdout());
  let snippet = '';
  const shop = await site(() => '<!doctype html><html><head><meta charset="utf-8"><title>Heronbrook shop</title></head>' +
    '<body><h1>Heronbrook Appliances</h1>' + snippet + '</body></html>');
  const browser = await launch();
  await runWithServer(k, async () => {
    try {
      const collId = {};
      for (const name of ['shop', 'hr']) {
        const r = await fetch(k.url + '/api/collections', {method: 'POST', headers: admin, body: JSON.stringify({name})});
        check(r.status === 201, 'collection ' + name + ': ' + r.status);
        collId[name] = (await r.json()).id;
      }
      const errors = [];

      // ---- 1. the owner: setup link, users, bot, key, audit ----
      const oc = await browser.newContext({viewport: {width: 1280, height: 900}});
      const ui = await oc.newPage();
      ui.on('pageerror', (e) => errors.push(String(e)));
      ui.on('dialog', (d) => d.accept(d.type() === 'prompt' ? 'reset-password-9' : undefined));
      await ui.goto(k.url + '/');
      await ui.selectOption('#lang', 'en');
      await ui.waitForSelector('#page-login:not([hidden])');
      check(await ui.locator('#nav button[data-page="documents"]').isHidden(), 'nobody logged in: no Documents nav');
      await ui.screenshot({path: path.join(shots, 'acct-login-en.png')});
      await ui.selectOption('#lang', 'zh');
      check(await ui.textContent('#page-login h1') === '登录', 'login page in Chinese');
      await ui.screenshot({path: path.join(shots, 'acct-login-zh.png')});
      await ui.selectOption('#lang', 'en');

      await ui.goto(link);
      await ui.waitForSelector('#page-setup:not([hidden])');
      check(!(await ui.evaluate(() => location.hash)).includes('setup='), 'the setup token leaves the address bar');
      await ui.fill('#setup-email', 'owner@example.com');
      await ui.fill('#setup-name', 'Olivia Owner');
      await ui.fill('#setup-password', 'owner-password-1');
      await ui.click('#setup-submit');
      await ui.waitForSelector('#me-name:not([hidden])');
      check((await ui.textContent('#me-name')).includes('owner@example.com'), 'logged in as the owner');
      const again = await fetch(k.url + '/api/setup', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({token: link.split('#setup=')[1], email: 'x@example.com', password: 'another-pass-1'})});
      check(again.status === 403, 'the setup link works once: ' + again.status);

      await ui.click('#nav button[data-page="users"]');
      await ui.waitForSelector('#page-users:not([hidden])');
      await ui.waitForSelector('#user-collections option:text("shop")');
      await ui.fill('#user-email', 'ed@example.com');
      await ui.fill('#user-name', 'Ed Editor');
      await ui.selectOption('#user-role', 'editor');
      await ui.fill('#user-password', 'editor-password-1');
      await ui.selectOption('#user-collections', {label: 'shop'});
      await ui.click('#user-add');
      await ui.waitForSelector('#user-rows tr[data-email="ed@example.com"]');
      await ui.fill('#user-email', 'vi@example.com');
      await ui.selectOption('#user-role', 'viewer');
      await ui.fill('#user-password', 'viewer-password-1');
      await ui.click('#user-add');
      await ui.waitForSelector('#user-rows tr[data-email="vi@example.com"]');
      check((await ui.textContent('#user-rows tr[data-email="ed@example.com"] .meta')) === 'shop', 'editor limited to shop');
      check(await ui.inputValue('#user-rows tr[data-email="ed@example.com"] select:not([multiple])') === 'editor', 'editor role');
      await ui.screenshot({path: path.join(shots, 'acct-users-en.png'), fullPage: true});
      await ui.selectOption('#lang', 'zh');
      check(await ui.textContent('#nav button[data-page="users"]') === '用户', 'Users nav in Chinese');
      check(await ui.textContent('#user-rows tr[data-email="ed@example.com"] .user-reset') === '重置密码', 'row buttons in Chinese');
      await ui.screenshot({path: path.join(shots, 'acct-users-zh.png'), fullPage: true});
      await ui.selectOption('#lang', 'en');

      await ui.click('#nav button[data-page="bots"]');
      await ui.waitForSelector('#bot-rows tr[data-bot="default"]');
      await ui.click('#bot-add');
      await ui.fill('#bot-id', 'shopbot');
      await ui.fill('#bot-name', 'Heronbrook helper');
      await ui.waitForSelector('#bot-collections option[value="shop"]');
      await ui.selectOption('#bot-collections', ['shop']);
      await ui.fill('#bot-greeting', 'Hello! Ask me about returns.');
      await ui.fill('#bot-origins', shop.origin);
      await ui.click('#bot-save');
      await ui.waitForSelector('#bot-rows tr[data-bot="shopbot"]');
      snippet = await ui.textContent('#bot-snippet');
      check(snippet.includes('data-bot="shopbot"'), 'embed snippet: ' + snippet);

      await ui.click('#nav button[data-page="keys"]');
      await ui.waitForSelector('#key-bots option[value="shopbot"]');
      await ui.fill('#key-name', 'website integration');
      await ui.selectOption('#key-bots', ['shopbot']);
      await ui.fill('#key-rate', '120');
      await ui.click('#key-create');
      await ui.waitForSelector('#key-secret-box:not([hidden])');
      const secret = (await ui.textContent('#key-secret')).trim();
      check(/^kbx_[0-9a-f]{8}_[0-9a-f]{40}$/.test(secret), 'the key is shown once: ' + secret);
      const row = ui.locator('#key-rows tr[data-prefix="' + secret.slice(0, 12) + '"]');
      await row.waitFor();
      check((await row.textContent()).includes('bot:shopbot'), 'key row lists its scope');
      check(!(await ui.textContent('#key-rows')).includes(secret), 'the list never shows the secret');
      await ui.screenshot({path: path.join(shots, 'acct-keys-en.png'), fullPage: true});
      await ui.selectOption('#lang', 'zh');
      check(await ui.textContent('#page-keys h1') === 'API 密钥', 'keys page in Chinese');
      await ui.screenshot({path: path.join(shots, 'acct-keys-zh.png'), fullPage: true});
      await ui.selectOption('#lang', 'en');

      await ui.click('#nav button[data-page="audit"]');
      await ui.waitForSelector('#audit-rows tr[data-action="key.create"]');
      for (const a of ['user.create', 'bot.create']) check(await ui.locator(`#audit-rows tr[data-action="${a}"]`).count() > 0, 'audit lists ' + a);
      check((await ui.textContent('#audit-rows')).includes('user:owner@example.com'), 'audit names the owner');
      await ui.screenshot({path: path.join(shots, 'acct-audit-en.png'), fullPage: true});
      await ui.selectOption('#lang', 'zh');
      check(await ui.textContent('#page-audit h1') === '审计日志', 'audit page in Chinese');
      await ui.screenshot({path: path.join(shots, 'acct-audit-zh.png'), fullPage: true});
      await ui.selectOption('#lang', 'en');

      await ui.click('#me-name');
      await ui.waitForSelector('#page-account:not([hidden])');
      await ui.click('#logout');
      await ui.waitForSelector('#page-login:not([hidden])');
      const me = await ui.evaluate(async () => (await fetch('/api/me')).status);
      check(me === 401, 'logged out: /api/me is ' + me);

      // ---- 2. the editor uploads to the bot's collection ----
      await login(ui, k.url + '/', 'ed@example.com', 'editor-password-1');
      await ui.waitForSelector('#page-upload:not([hidden])');
      for (const p of ['users', 'audit', 'settings']) check(await ui.locator(`#nav button[data-page="${p}"]`).isHidden(), 'editor: no ' + p);
      for (const p of ['upload', 'documents', 'bots']) check(await ui.locator(`#nav button[data-page="${p}"]`).isVisible(), 'editor: ' + p);
      await ui.setInputFiles('#file-input', [path.join(src, 'samples/en/returns-shipping.html')]);
      await ui.waitForSelector('#upload-list li[data-name="returns-shipping.html"][data-state="indexed"]', {timeout: 60000});
      await ui.screenshot({path: path.join(shots, 'acct-editor-upload.png'), fullPage: true});
      const docs = await (await fetch(k.url + '/api/documents?collection=shop', {headers: admin})).json();
      check(docs.documents.some((d) => d.name === 'returns-shipping.html'), 'the upload is in shop');
      const csrfless = await ui.evaluate(async () => (await fetch('/api/collections', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: '{"name":"x"}'})).status);
      check(csrfless === 403, 'a cookie POST without X-CSRF-Token is refused: ' + csrfless);

      // ---- 3. the bot's widget on a foreign origin ----
      const w = await oc.newPage();
      w.on('pageerror', (e) => errors.push(String(e)));
      await w.goto(shop.origin + '/');
      await w.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await w.click('#kbox-widget .bubble');
      await w.fill('#kbox-widget input', 'How many days do I have to return a product?');
      await w.click('#kbox-widget form button');
      const done = w.locator('#kbox-widget .msg.bot[data-state="done"]');
      await done.waitFor({timeout: 30000});
      check(/45/.test(await done.locator('.answer').textContent()), 'widget answer from the upload');
      check((await done.locator('.chip').first().textContent()).includes('returns-shipping.html'), 'widget cites the upload');

      // ---- 4. a viewer cannot reach Documents ----
      const vc = await browser.newContext({viewport: {width: 1280, height: 900}});
      const v = await vc.newPage();
      v.on('pageerror', (e) => errors.push(String(e)));
      await v.goto(k.url + '/#documents');
      await v.waitForSelector('#page-login:not([hidden])');
      await v.fill('#login-email', 'vi@example.com');
      await v.fill('#login-password', 'viewer-password-1');
      await v.click('#login-submit');
      await v.waitForSelector('#page-chat:not([hidden])');
      check(await v.locator('#page-documents').isHidden(), 'viewer: Documents page not shown');
      check(await v.locator('#nav button[data-page="documents"]').isHidden(), 'viewer: no Documents nav');
      const st = await v.evaluate(async () => (await fetch('/api/documents')).status);
      check(st === 403, 'viewer: GET /api/documents is ' + st);
      await v.screenshot({path: path.join(shots, 'acct-viewer.png'), fullPage: true});

      // ---- 5. the stock openai client with the bot-scoped key ----
      const client = new OpenAI({baseURL: k.url + '/v1', apiKey: secret, maxRetries: 0});
      const ids = [];
      for await (const m of await client.models.list()) ids.push(m.id);
      check(ids.length === 1 && ids[0] === 'shopbot', 'the bot key sees only its bot: ' + ids.join(','));
      const c = await client.chat.completions.create({model: 'shopbot',
        messages: [{role: 'user', content: 'How many days do I have to return a product?'}]});
      check(/45/.test(c.choices[0].message.content), 'bot key answer: ' + c.choices[0].message.content);
      const kd = await fetch(k.url + '/api/documents', {headers: {Authorization: 'Bearer ' + secret}});
      check(kd.status === 403, 'the bot key cannot list documents: ' + kd.status);

      // ---- 6. the viewer changes its password and logs out everywhere ----
      await v.click('#me-name');
      await v.waitForSelector('#page-account:not([hidden])');
      await v.fill('#pw-old', 'viewer-password-1');
      await v.fill('#pw-new', 'viewer-password-2');
      await v.click('#password-form button[type="submit"]');
      await v.waitForFunction(() => document.querySelector('#pw-status').textContent === 'Password changed');
      await v.click('#logout-all');
      await v.waitForSelector('#page-login:not([hidden])');
      const old = await fetch(k.url + '/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: 'vi@example.com', password: 'viewer-password-1'})});
      check(old.status === 401, 'the old password is refused: ' + old.status);
      await login(v, k.url + '/', 'vi@example.com', 'viewer-password-2');

      // ---- 7. the owner revokes the key, resets the editor's password, removes the viewer ----
      await ui.click('#me-name');
      await ui.click('#logout');
      await login(ui, k.url + '/', 'owner@example.com', 'owner-password-1');
      await ui.click('#nav button[data-page="keys"]');
      await row.locator('.key-revoke').click();
      await ui.waitForSelector('#key-rows tr.revoked[data-prefix="' + secret.slice(0, 12) + '"]');
      let revoked = 0;
      try {
        await client.chat.completions.create({model: 'shopbot', messages: [{role: 'user', content: 'Refund?'}]});
      } catch (e) { revoked = e.status; }
      check(revoked === 401, 'the openai client with a revoked key is refused: ' + revoked);
      const rk = await fetch(k.url + '/v1/models', {headers: {Authorization: 'Bearer ' + secret}});
      check(rk.status === 401 && (await rk.json()).error.code === 'EKEYREVOKED', 'revoked key: ' + rk.status);
      await ui.click('#nav button[data-page="users"]');
      await ui.click('#user-rows tr[data-email="ed@example.com"] .user-reset');
      await ui.waitForFunction(() => { const b = document.querySelector('#toast'); return !b.hidden && b.textContent === '✓ ed@example.com'; });
      const reset = await fetch(k.url + '/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: 'ed@example.com', password: 'reset-password-9'})});
      check(reset.status === 200, 'the owner reset the editor\'s password: ' + reset.status);
      await ui.click('#user-rows tr[data-email="vi@example.com"] .user-remove');
      await ui.waitForSelector('#user-rows tr[data-email="vi@example.com"]', {state: 'detached'});
      const gone = await v.evaluate(async () => (await fetch('/api/me')).status);
      check(gone === 401, 'a removed user\'s session ends: ' + gone);

      // ---- 8. an agent reads documents but cannot change them ----
      const ag = await fetch(k.url + '/api/users', {method: 'POST', headers: admin,
        body: JSON.stringify({email: 'ag@example.com', role: 'agent', password: 'agent-password-1', collections: [collId.shop]})});
      check(ag.status === 201, 'agent created: ' + ag.status);
      await login(v, k.url + '/#documents', 'ag@example.com', 'agent-password-1');
      await v.waitForSelector('#page-documents:not([hidden]) #doc-rows tr[data-id]');
      check(await v.locator('#doc-rows button.danger').count() === 0, 'agent: no Delete buttons');
      check(await v.locator('#nav button[data-page="upload"]').isHidden(), 'agent: no Upload nav');
      check(await v.locator('#nav button[data-page="review"]').isVisible(), 'agent: Review nav');
      // the agent is limited to "shop": its Dashboard and Review pages load that collection's log alone
      const hrAsk = await fetch(k.url + '/api/ask', {method: 'POST', headers: admin,
        body: JSON.stringify({question: 'Who signs the payroll quasar?', collection: 'hr', channel: 'api'})});
      check(hrAsk.status === 200, 'a logged question in hr: ' + hrAsk.status);
      const shopStats = await (await fetch(k.url + '/api/stats?collection=shop', {headers: admin})).json();
      const allStats = await (await fetch(k.url + '/api/stats', {headers: admin})).json();
      check(allStats.questions > shopStats.questions, `the log holds more than shop's questions: ${allStats.questions}`);
      await v.click('#nav button[data-page="dashboard"]');
      await v.waitForSelector(`#page-dashboard:not([hidden]) #dash-body[data-questions="${shopStats.questions}"]`);
      await v.click('#nav button[data-page="review"]');
      await v.waitForSelector('#page-review:not([hidden]) #review-list > *');
      check(!(await v.locator('#review-list').textContent()).includes('payroll quasar'), 'agent: no hr item to review');
      check(await v.locator('#toast').isHidden(), 'agent: no error on Dashboard or Review');
      const hrHidden = await v.evaluate(async () => (await fetch('/api/review?collection=hr')).status);
      check(hrHidden === 404, 'agent: the hr review list is 404: ' + hrHidden);
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
      console.log(`acct: ok (screenshots in ${shots})`);
    } finally {
      await browser.close();
      shop.srv.close();
    }
  });
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
