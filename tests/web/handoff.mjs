// tests/web/handoff.mjs KBOX SRC_DIR BUILD_DIR: human handoff (issue #17) in headless Debian Chromium
// (/usr/bin/chromium) driven by playwright-core, against a real `kbox serve`, with two pages: a
// customer's widget on a foreign site (a second 127.0.0.1 port listed in server.cors_origins) and an
// agent's Inbox in the admin UI:
//   0. the agent opens the Inbox (the agent is now online); the customer asks the bot a question and
//      gets a cited answer;
//   1. the customer presses "Talk to a person" and sees "Waiting for an agent (position 1)";
//   2. the agent sees the conversation live, opens it (the bot's answer and its citation are there)
//      and takes it;
//   3. they exchange two messages each way, live;
//   4. the customer reloads the page mid-conversation and gets the whole conversation back, once,
//      and the chat goes on;
//   5. the agent closes the conversation; the customer sees it and rates the agent 5 stars.
// Then, outside business hours (handoff.hours set so that now is outside), a customer on a Chinese
// widget gets the ticket form instead of live chat, leaves a message, and it reaches the Inbox.
// Every handoff notifies a webhook that refuses connections: the Inbox shows those failures.
// Screenshots of both sides in English and Chinese: BUILD_DIR/screenshots/handoff-widget-en.png,
// handoff-inbox-en.png, handoff-widget-zh.png (the ticket form), handoff-ticket-done-zh.png,
// handoff-inbox-zh.png. Exit 77 (skip) without
// chromium or the npm packages.
import path from 'node:path';
import {browserOrSkip, check, runWithServer, site, startKbox, uploadAndWait} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);

async function main() {
  let kboxUrl = '';
  let lang = 'en';
  const shop = await site(() => `<!doctype html><html><head><meta charset="utf-8"><title>Heronbrook shop</title></head>
<body style="font-family:sans-serif;background:#fafafa"><h1>Heronbrook Appliances</h1><p>Questions? Use the chat bubble.</p>
<script src="${kboxUrl}/widget.js" data-lang="${lang}" data-title="Heronbrook"></script></body></html>`);
  /* a webhook target that refuses connections: each notification fails at once (no retries) and
   * the Inbox lists it, naming the host but not the URL's key */
  const k = await startKbox(kbox, ['server.cors_origins=' + shop.origin, 'handoff.webhook_url=http://127.0.0.1:9/hook?key=UIKEY7',
    'handoff.notify_retries=0']);
  kboxUrl = k.url;
  const auth = {Authorization: 'Bearer ' + k.token, 'Content-Type': 'application/json'};
  const browser = await launch();
  await runWithServer(k, async () => {
    try {
      await uploadAndWait(k, [path.join(src, 'samples/en/returns-shipping.html')]);
      const errors = [];
      const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});

      // ---- 0. the agent's Inbox (online) and the customer's question to the bot ----
      const ui = await ctx.newPage();
      ui.on('pageerror', (e) => errors.push('ui: ' + e));
      ui.on('dialog', (d) => d.accept());
      await ui.goto(k.url + '/');
      await ui.selectOption('#lang', 'en');
      await ui.fill('#token', k.token);
      await ui.click('#token-save');
      await ui.click('#nav button[data-page="inbox"]');
      await ui.waitForSelector('#page-inbox:not([hidden])');
      await ui.waitForSelector('#inbox-online[data-online="1"]', {timeout: 15000});

      const cust = await (await browser.newContext({viewport: {width: 900, height: 800}})).newPage();
      cust.on('pageerror', (e) => errors.push('widget: ' + e));
      await cust.goto(shop.origin + '/');
      await cust.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await cust.click('#kbox-widget .bubble');
      await cust.fill('#kbox-widget form input', 'How many days do I have to return a product?');
      await cust.click('#kbox-widget form button[type="submit"]');
      const done = cust.locator('#kbox-widget .msg.bot[data-state="done"]');
      await done.waitFor({timeout: 30000});
      check(/45/.test(await done.locator('.answer').textContent()), 'the bot answered from the shop page');

      // ---- 1. the customer asks for a person ----
      const person = cust.locator('#kbox-widget .person-main');
      await person.waitFor({state: 'visible', timeout: 10000});
      await person.click();
      const status = cust.locator('#kbox-widget [data-role="handoff-status"]');
      await status.waitFor({timeout: 10000});
      check((await status.textContent()) === 'Waiting for an agent (position 1)', 'waiting: ' + await status.textContent());

      // ---- 2. the agent sees it live, opens the history (bot answer + citation) and takes it ----
      const row = ui.locator('#inbox-rows tr[data-state="queued"][data-kind="chat"]');
      await row.waitFor({timeout: 10000});
      await row.locator('.inbox-open').click();
      await ui.locator('#inbox-log .ib-bot').waitFor({timeout: 10000});
      check((await ui.textContent('#inbox-log .ib-bot')).includes('45'), 'the agent sees the bot answer');
      check((await ui.textContent('#inbox-log .ib-cite')).includes('returns-shipping.html'), 'and its citation');
      await ui.click('#inbox-take');
      await ui.locator('#inbox-rows tr[data-state="taken"]').waitFor({timeout: 10000});
      await cust.waitForFunction(() => {
        const s = document.querySelector('#kbox-widget').shadowRoot.querySelector('[data-role="handoff-status"]');
        return s && /joined the conversation/.test(s.textContent);
      }, null, {timeout: 10000});

      // ---- 3. two messages each way, live ----
      const custSay = async (text) => {
        await cust.fill('#kbox-widget form input', text);
        await cust.click('#kbox-widget form button[type="submit"]');
        await ui.locator('#inbox-log .ib-customer', {hasText: text}).waitFor({timeout: 10000});
      };
      const agentSay = async (text) => {
        await ui.fill('#inbox-text', text);
        await ui.click('#inbox-reply button[type="submit"]');
        await cust.locator('#kbox-widget .msg.agent', {hasText: text}).waitFor({timeout: 10000});
      };
      await custSay('Hello, my kettle leaks from the bottom.');
      await agentSay('Sorry to hear that! Which model is it?');
      await custSay('It is the KX-200, bought last month.');
      await agentSay('Thanks. I have started a free replacement for you.');
      await cust.screenshot({path: path.join(shots, 'handoff-widget-en.png')});
      await ui.screenshot({path: path.join(shots, 'handoff-inbox-en.png'), fullPage: true});

      // ---- 4. the customer reloads mid-conversation: everything back, once; the chat goes on ----
      await cust.reload();
      await cust.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await cust.click('#kbox-widget .bubble');
      await cust.locator('#kbox-widget .msg.agent', {hasText: 'free replacement'}).waitFor({timeout: 10000});
      const texts = await cust.locator('#kbox-widget .msg.user, #kbox-widget .msg.agent').allTextContents();
      check(texts.filter((x) => x.includes('kettle leaks')).length === 1, 'history once: ' + JSON.stringify(texts));
      check(texts.filter((x) => x.includes('Which model')).length === 1, 'agent message once');
      check(texts.length === 4, 'four messages after the reload: ' + JSON.stringify(texts));
      await custSay('Great, thank you!');
      await agentSay('You are welcome.');

      // ---- 5. the agent closes; the customer sees it and rates ----
      await ui.click('#inbox-close');
      const stars = cust.locator('#kbox-widget [data-role="rating"]');
      await stars.waitFor({timeout: 10000});
      check((await cust.textContent('#kbox-widget .log')).includes('The conversation was closed.'), 'customer sees closed');
      await stars.locator('button[data-stars="5"]').click();
      await cust.locator('#kbox-widget .status', {hasText: 'Thank you for rating!'}).waitFor({timeout: 10000});
      await ui.locator('#inbox-log .ib-state', {hasText: 'Rated'}).waitFor({timeout: 10000});
      const r = await (await fetch(k.url + '/api/inbox', {headers: auth})).json();
      check(r.closed.length === 1 && r.closed[0].rating === 5 && r.open.length === 0, 'closed and rated: ' + JSON.stringify(r));

      // ---- out of hours: the ticket form in Chinese ----
      const h = new Date().getUTCHours();
      const hours = h < 10 ? 'Mon-Sun 12:00-23:00' : 'Mon-Sun 01:00-09:00';
      const set = await fetch(k.url + '/api/settings', {method: 'PUT', headers: auth, body: JSON.stringify({'handoff.hours': hours})});
      check(set.status === 200, 'handoff.hours set: ' + set.status);
      lang = 'zh';
      const zc = await (await browser.newContext({viewport: {width: 900, height: 800}})).newPage();
      zc.on('pageerror', (e) => errors.push('widget zh: ' + e));
      await zc.goto(shop.origin + '/');
      await zc.waitForSelector('#kbox-widget', {state: 'attached', timeout: 15000});
      await zc.click('#kbox-widget .bubble');
      const zperson = zc.locator('#kbox-widget .person-main');
      await zperson.waitFor({state: 'visible', timeout: 10000});
      check((await zperson.textContent()) === '转人工客服', 'button in Chinese');
      await zperson.click();
      await zc.locator('#kbox-widget form.ticket').waitFor({timeout: 10000});
      await zc.fill('#kbox-widget form.ticket input[name="name"]', '张三');
      await zc.fill('#kbox-widget form.ticket input[name="contact"]', '13800000000');
      await zc.fill('#kbox-widget form.ticket textarea', '水壶漏水，请联系我。');
      await zc.screenshot({path: path.join(shots, 'handoff-widget-zh.png')});
      await zc.click('#kbox-widget form.ticket button[type="submit"]');
      await zc.locator('#kbox-widget [data-role="ticket-done"]').waitFor({timeout: 10000});
      check((await zc.textContent('#kbox-widget [data-role="ticket-done"]')).startsWith('感谢'), 'ticket confirmed in Chinese');
      await zc.screenshot({path: path.join(shots, 'handoff-ticket-done-zh.png')});
      await ui.selectOption('#lang', 'zh');
      const ticket = ui.locator('#inbox-rows tr[data-kind="ticket"]');
      await ticket.waitFor({timeout: 10000});
      check((await ticket.textContent()).includes('张三') && (await ticket.textContent()).includes('13800000000'), 'ticket row');
      await ticket.locator('.inbox-open').click();
      await ui.locator('#inbox-log .ib-customer', {hasText: '水壶漏水'}).waitFor({timeout: 10000});
      check((await ui.textContent('#page-inbox h1')) === '人工客服收件箱', 'Inbox title in Chinese');
      await ui.locator('#inbox-failures .inbox-failure').first().waitFor({timeout: 15000});
      const fails = await ui.textContent('#inbox-failures');
      check(fails.startsWith('以下通知未能送达') && fails.includes('127.0.0.1:9') && !fails.includes('UIKEY7'), 'failures: ' + fails);
      await ui.screenshot({path: path.join(shots, 'handoff-inbox-zh.png'), fullPage: true});
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
      console.log(`handoff: ok (screenshots in ${shots})`);
    } finally {
      await browser.close();
      shop.srv.close();
    }
  });
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
