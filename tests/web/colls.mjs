// tests/web/colls.mjs KBOX SRC_DIR BUILD_DIR: a collection's own handoff triggers (issue #17 item 1)
// on the Documents page, in headless Debian Chromium (/usr/bin/chromium) driven by playwright-core,
// against a real `kbox serve`:
//   1. with collections "hr" and "shop", the Documents page's "Handoff to a person, per collection"
//      panel shows hr inheriting everything; switching hr's keyword trigger and thumbs-down off and
//      fallbacks to 0 there is saved (GET /api/collections/ID/handoff says so) and the "in force"
//      line says so;
//   2. a question over hr containing "human" then gets no handoff offer, the same over shop does;
//   3. a bad value is refused with the server's message naming the member and nothing changes;
//   4. screenshots of the panel in English and Chinese (BUILD_DIR/screenshots/colls-en.png, colls-zh.png).
// Exit 77 (skip) without chromium or the npm packages.
import path from 'node:path';
import {browserOrSkip, check, runWithServer, startKbox} from './common.mjs';

const [kbox, , build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);

async function main() {
  const k = await startKbox(kbox, []);
  const auth = {Authorization: 'Bearer ' + k.token, 'Content-Type': 'application/json'};
  const call = async (method, p, body) => {
    const r = await fetch(k.url + p, {method, headers: auth, body: body ? JSON.stringify(body) : undefined});
    return {status: r.status, json: await r.json()};
  };
  await runWithServer(k, async () => {
    const hr = (await call('POST', '/api/collections', {name: 'hr'})).json.id;
    await call('POST', '/api/collections', {name: 'shop'});
    const browser = await launch();
    try {
      const ctx = await browser.newContext({viewport: {width: 1280, height: 1000}});
      const ui = await ctx.newPage();
      const errors = [];
      ui.on('pageerror', (e) => errors.push(String(e)));
      await ui.goto(k.url + '/');
      await ui.selectOption('#lang', 'en');
      await ui.fill('#token', k.token);
      await ui.click('#token-save');
      await ui.click('#nav button[data-page="documents"]');
      await ui.waitForSelector('#coll-handoff');
      await ui.click('#coll-handoff summary');
      await ui.waitForSelector(`#coll-pick option[value="${hr}"]`, {state: 'attached'});
      await ui.selectOption('#coll-pick', String(hr));
      // the form shows hr (not the first collection, whose answer may arrive later) before it is edited
      await ui.waitForSelector(`#coll-form[data-coll="${hr}"]`, {state: 'attached'});
      await ui.waitForFunction(() => document.querySelector('#coll-effective').textContent.includes('human'));
      check(await ui.inputValue('#coll-kw-mode') === 'inherit', 'hr inherits the keyword trigger at first');

      // ---- 1. switch hr's keyword trigger, fallbacks and thumbs-down off ----
      await ui.selectOption('#coll-kw-mode', 'off');
      await ui.fill('#coll-after', '0');
      await ui.selectOption('#coll-thumbs', 'false');
      await ui.click('#coll-save');
      await ui.waitForFunction(() => /keywords: Off; after fallbacks: Off; thumbs-down: Off/.test(
        document.querySelector('#coll-effective').textContent));
      const got = (await call('GET', `/api/collections/${hr}/handoff`)).json.handoff;
      check(got.handoff_keywords === false && got.handoff_after_fallbacks === 0 && got.handoff_on_thumbs_down === false,
        'the settings were saved: ' + JSON.stringify(got));
      check(got.handoff === 'inherit', 'handoff on/off still inherits');

      // ---- 2. the keyword trigger is off over hr, on over shop ----
      const ask = async (coll) => (await call('POST', '/api/ask',
        {question: 'Can I talk to a human', collection: coll, channel: 'widget'})).json;
      check(!(await ask('hr')).handoff_offer, 'no handoff offer over hr');
      check((await ask('shop')).handoff_offer === 'keyword', 'a keyword offer over shop');

      // ---- 3. a bad value is named and changes nothing ----
      await ui.fill('#coll-after', '500');
      await ui.evaluate(() => document.querySelector('#coll-after').removeAttribute('max'));
      await ui.click('#coll-save');
      await ui.waitForFunction(() => document.body.textContent.includes('handoff_after_fallbacks must be 0 to 100'));
      check((await call('GET', `/api/collections/${hr}/handoff`)).json.handoff.handoff_after_fallbacks === 0,
        'the bad value changed nothing');

      // ---- 4. screenshots in both languages ----
      await ui.screenshot({path: path.join(shots, 'colls-en.png'), fullPage: true});
      await ui.selectOption('#lang', 'zh');
      await ui.waitForFunction(() => document.querySelector('#coll-handoff summary').textContent === '按知识库设置转人工');
      await ui.waitForFunction(() => document.querySelector('#coll-effective').textContent.startsWith('当前生效'));
      await ui.screenshot({path: path.join(shots, 'colls-zh.png'), fullPage: true});
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
    } finally {
      await browser.close();
    }
  });
  console.log('colls.mjs: ok');
}

main().catch((e) => { console.error(e); process.exit(1); });
