// tests/web/bots.mjs KBOX SRC_DIR BUILD_DIR: bots (issue #16 item 3) in headless Debian Chromium
// (/usr/bin/chromium) driven by playwright-core, against a real `kbox serve`, plus the stock `openai`
// npm client:
//   1. with the handbook in collection "hr" and the shop's page in collection "shop", create a bot
//      on the Bots page (id, name, collection "shop", greeting, colour, the foreign site's origin)
//      and read its embed snippet;
//   2. a foreign site (a second 127.0.0.1 port serving a tiny page holding that snippet) shows the
//      bot's widget with its name and greeting; a question gets a cited answer from the shop's page;
//   3. a second foreign site not in the bot's origins gets no widget (the server refuses it);
//   4. the bot's public page /b/ID answers full-page and offers "Talk to a person"; with handoff
//      switched off for the bot on the Bots page it does not; switched off, the page is 404;
//   5. the `openai` client with a key scoped to the bot (made by an editor: keys belong to accounts)
//      lists just that bot as a model and chats with it (answered from "shop" only);
//   6. screenshots of the Bots page in English and Chinese and of the widget and the public page
//      (BUILD_DIR/screenshots/bots-en.png, bots-zh.png, bots-widget.png, bots-page.png).
// Exit 77 (skip) without chromium or the npm packages.
import path from 'node:path';
import {browserOrSkip, check, requirePackage, runWithServer, site, startKbox, uploadAndWait} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);
const OpenAI = requirePackage('openai').default || requirePackage('openai');

async function main() {
  const k = await startKbox(kbox, []);
  const auth = {Authorization: 'Bearer ' + k.token, 'Content-Type': 'application/json'};
  let snippet = '';
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>Heronbrook shop</title></head>
<body style="font-family:sans-serif;background:#fafafa"><h1>Heronbrook Appliances</h1><p>Questions? Use the chat bubble.</p>`;
  const shop = await site(() => page + snippet + '</body></html>');
  const other = await site(() => page + snippet + '</body></html>');
  const browser = await launch();
  await runWithServer(k, async () => {
    try {
      for (const name of ['shop', 'hr']) {
        const r = await fetch(k.url + '/api/collections', {method: 'POST', headers: auth, body: JSON.stringify({name})});
        check(r.status === 201, 'collection ' + name + ' created: ' + r.status);
      }
      await uploadAndWait(k, [path.join(src, 'samples/en/returns-shipping.html')], 'shop');
      await uploadAndWait(k, [path.join(src, 'samples/en/employee-handbook.txt')], 'hr');

      // ---- 1. create the bot on the Bots page ----
      const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
      const ui = await ctx.newPage();
      const errors = [];
      ui.on('pageerror', (e) => errors.push(String(e)));
      ui.on('dialog', (d) => d.accept());
      await ui.goto(k.url + '/');
      await ui.selectOption('#lang', 'en');
      await ui.fill('#token', k.token);
      await ui.click('#token-save');
      await ui.click('#nav button[data-page="bots"]');
      await ui.waitForSelector('#page-bots:not([hidden])');
      await ui.waitForSelector('#bot-rows tr[data-bot="default"]');
      await ui.click('#bot-add');
      await ui.fill('#bot-id', 'shopbot');
      await ui.fill('#bot-name', 'Heronbrook helper');
      await ui.waitForSelector('#bot-collections option[value="shop"]');
      await ui.selectOption('#bot-collections', ['shop']);
      await ui.fill('#bot-greeting', 'Hello! Ask me about returns and delivery.');
      await ui.fill('#bot-color', '#2f855a');
      await ui.fill('#bot-origins', shop.origin);
      await ui.click('#bot-save');
      await ui.waitForSelector('#bot-rows tr[data-bot="shopbot"]');
      check((await ui.textContent('#bot-status')) === 'Saved', 'saved');
      snippet = await ui.textContent('#bot-snippet');
      check(snippet.includes('data-bot="shopbot"') && snippet.includes(k.url + '/widget.js'), 'embed snippet: ' + snippet);
      check((await ui.textContent('#bot-rows tr[data-bot="shopbot"]')).includes('shop'), 'row lists collection shop');
      await ui.screenshot({path: path.join(shots, 'bots-en.png'), fullPage: true});
      await ui.selectOption('#lang', 'zh');
      check(await ui.textContent('#nav button[data-page="bots"]') === '机器人', 'nav in Chinese');
      check(await ui.textContent('#page-bots h1') === '机器人', 'Bots title in Chinese');
      check(await ui.textContent('#bot-rows tr[data-bot="shopbot"] .bot-edit') === '编辑', 'row buttons in Chinese');
      await ui.screenshot({path: path.join(shots, 'bots-zh.png'), fullPage: true});
      await ui.selectOption('#lang', 'en');

      // ---- 2. the widget on the allowed foreign site: a cited answer from the bot's collection ----
      const w = await ctx.newPage();
      w.on('pageerror', (e) => errors.push(String(e)));
      await w.goto(shop.origin + '/');
      await w.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await w.click('#kbox-widget .bubble');
      check((await w.textContent('#kbox-widget .head span')) === 'Heronbrook helper', 'widget title is the bot name');
      check((await w.textContent('#kbox-widget .msg.bot')) === 'Hello! Ask me about returns and delivery.', 'bot greeting');
      await w.fill('#kbox-widget input', 'How many days do I have to return a product?');
      await w.click('#kbox-widget form button');
      const done = w.locator('#kbox-widget .msg.bot[data-state="done"]');
      await done.waitFor({timeout: 30000});
      const text = await done.locator('.answer').textContent();
      check(/45/.test(text), 'answer from the shop page: ' + text);
      check(await done.locator('.chip').count() > 0, 'the answer is cited');
      check((await done.locator('.chip').first().textContent()).includes('returns-shipping.html'), 'cites the shop page');
      await w.screenshot({path: path.join(shots, 'bots-widget.png')});

      // ---- 3. a site not in the bot's origins: refused by the server, no widget ----
      const o = await ctx.newPage();
      await o.goto(other.origin + '/');
      const refused = await o.evaluate(async (base) => {
        const r = await fetch(base + '/api/widget?bot=shopbot').catch((e) => ({status: 0, e: String(e)}));
        return r.status;
      }, k.url);
      check(refused === 0 || refused === 403, 'foreign origin refused: ' + refused);
      const direct = await fetch(k.url + '/api/widget?bot=shopbot', {headers: {Origin: other.origin}});
      check(direct.status === 403, 'server refuses the other origin: ' + direct.status);
      check((await direct.json()).error.message.includes(other.origin), 'the error names the origin');
      await o.waitForTimeout(1000);
      check(await o.locator('#kbox-widget').count() === 0, 'no widget on a site not in the bot\'s origins');

      // ---- 4. the public page ----
      const p = await ctx.newPage();
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(k.url + '/b/shopbot');
      await p.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      check(await p.locator('#kbox-widget .bubble').count() === 0, 'full page: no bubble');
      await p.fill('#kbox-widget input', 'Can I get my refund after a return?');
      await p.click('#kbox-widget form button');
      const pd = p.locator('#kbox-widget .msg.bot[data-state="done"]');
      await pd.waitFor({timeout: 30000});
      check(await pd.locator('.chip').count() > 0, 'public page answer cited');
      check(await p.title() === 'Heronbrook helper', 'page title is the bot name');
      await p.screenshot({path: path.join(shots, 'bots-page.png')});
      // ---- 4b. the bot's own handoff setting: set on the Bots page, "Talk to a person" follows it ----
      await p.waitForFunction(() => {
        const b = document.querySelector('#kbox-widget').shadowRoot.querySelector('.person-main');
        return b && !b.hidden;
      }, null, {timeout: 10000});
      await ui.click('#bot-rows tr[data-bot="shopbot"] .bot-edit');
      check(await ui.inputValue('#bot-handoff') === 'inherit', 'handoff inherits by default');
      await ui.selectOption('#bot-handoff', 'false');
      await ui.fill('#bot-handoff-keywords', 'store manager');
      await ui.click('#bot-save');
      await ui.waitForFunction(() => document.querySelector('#bot-status').textContent === 'Saved');
      const hb = await (await fetch(k.url + '/api/bots/shopbot', {headers: auth})).json();
      check(hb.bot.handoff === false && hb.bot.handoff_keywords === 'store manager' &&
            hb.bot.handoff_after_fallbacks === 'inherit', 'handoff settings saved from the form: ' + JSON.stringify(hb.bot));
      await p.reload();
      await p.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await p.waitForTimeout(1500); // the widget's GET /api/handoff/status?bot= has answered
      check(await p.evaluate(() => {
        const b = document.querySelector('#kbox-widget').shadowRoot.querySelector('.person-main');
        return !b || b.hidden || b.closest('[hidden]') !== null;
      }), 'no "Talk to a person" for a bot with handoff off');
      let r = await fetch(k.url + '/api/bots/shopbot', {method: 'PUT', headers: auth, body: JSON.stringify({public_page: false})});
      check(r.status === 200, 'public page switched off');
      r = await fetch(k.url + '/b/shopbot');
      check(r.status === 404, '/b/shopbot is 404 when off: ' + r.status);

      // ---- 5. the stock openai client with the bot as model ----
      r = await fetch(k.url + '/api/users', {method: 'POST', headers: auth,
        body: JSON.stringify({email: 'ed@example.com', role: 'editor', password: 'editor-password-1'})});
      check(r.status === 201, 'editor created: ' + r.status);
      const ses = await (await fetch(k.url + '/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({email: 'ed@example.com', password: 'editor-password-1', token: true})})).json();
      r = await fetch(k.url + '/api/keys', {method: 'POST', headers: {Authorization: 'Bearer ' + ses.token, 'Content-Type': 'application/json'},
        body: JSON.stringify({name: 'shop site', scopes: ['bot:shopbot']})});
      check(r.status === 201, 'bot key created: ' + r.status);
      const botKey = (await r.json()).secret;
      const client = new OpenAI({baseURL: k.url + '/v1', apiKey: botKey, maxRetries: 0});
      const ids = [];
      for await (const m of await client.models.list()) ids.push(m.id);
      check(ids.length === 1 && ids[0] === 'shopbot', 'models list just the key\'s bot: ' + ids.join(','));
      const c = await client.chat.completions.create({model: 'shopbot',
        messages: [{role: 'user', content: 'How many days do I have to return a product?'}]});
      check(c.model === 'shopbot', 'model echoed');
      check(/45/.test(c.choices[0].message.content), 'bot answers from shop: ' + c.choices[0].message.content);
      check(c.citations.every((x) => x.document === 'returns-shipping.html'), 'cites only the bot\'s collection');
      const h = await client.chat.completions.create({model: 'shopbot',
        messages: [{role: 'user', content: 'How many days of paid annual leave do employees get?'}]});
      check(!(h.citations || []).some((x) => x.document === 'employee-handbook.txt'), 'hr handbook is not the bot\'s');
      const chunks = [];
      const stream = await client.chat.completions.create({model: 'shopbot', stream: true,
        messages: [{role: 'user', content: 'How many days do I have to return a product?'}]});
      for await (const ch of stream) chunks.push(ch.choices[0]?.delta?.content || '');
      check(/45/.test(chunks.join('')), 'streamed answer: ' + chunks.join(''));
      let notFound = false;
      try {
        await client.chat.completions.create({model: 'no-such-bot', messages: [{role: 'user', content: 'hi'}]});
      } catch (e) { notFound = e.status === 404; }
      check(notFound, 'unknown model is 404');
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
      console.log(`bots: ok (screenshots in ${shots})`);
    } finally {
      await browser.close();
      shop.srv.close();
      other.srv.close();
    }
  });
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
