// tests/web/walk.mjs: issue #15's loop end to end in headless Chromium, as its "done when" walks it:
//   1. a widget user (a shop page on another, allowlisted origin) asks a question the documents
//      cannot answer (a fallback) and gives a thumbs-down;
//   2. the admin sees it in Review and writes the correct answer there (a curated answer through
//      POST /api/faq; the item is resolved and leaves the inbox);
//   3. the same widget user asks a paraphrase and gets the curated answer, cited, with mode
//      "curated" (checked in the widget and in the conversation log's export, which also names
//      the curated entry and its version);
//   4. the Dashboard shows one fallback, one thumbs-down and one curated answer;
//   5. another wording gets a thumbs-down; in Review the admin attaches it to the curated entry as
//      a similar question (the entry picked from the searchable list); asked again, it is answered;
//   6. a third wording is attached to a FAQ pair of an ingested document (samples/en/faq.md): the
//      pair becomes a curated answer citing the document, and the wording gets its answer.
// The pages' screenshots in both languages come from loop.mjs and faq.mjs. Exit 77 (skip) without
// chromium or playwright-core.
import fs from 'node:fs';
import path from 'node:path';
import {browserOrSkip, check, freePort, runWithServer, shopHtml, site, startKbox, uploadAndWait} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch} = browserOrSkip(build);

const MISS = 'Do you deliver parcels to the Moon?';
const PARAPHRASE = 'Can parcels be delivered to the Moon?';
const CURATED = 'No. We deliver parcels on Earth only, to 42 countries.';
const OTHER = 'Is lunar shipping an option?';
const THIRD = 'For how many months is a Kestrel covered by guarantee?';

async function admin(k, route) {
  const r = await fetch(k.url + route, {headers: {Authorization: 'Bearer ' + k.token}});
  check(r.status === 200, route + ' ' + r.status);
  return r;
}

async function ask(page, q) {
  const before = await page.locator('#kbox-widget .msg.bot[data-state="done"]').count();
  await page.fill('#kbox-widget form input', q);
  await page.click('#kbox-widget form button');
  const bot = page.locator('#kbox-widget .msg.bot[data-state="done"]').nth(before);
  await bot.waitFor();
  return bot;
}

async function main() {
  const pagePort = await freePort();
  const k = await startKbox(kbox, ['server.cors_origins=http://127.0.0.1:' + pagePort]);
  const samples = path.join(src, 'samples/en');
  await uploadAndWait(k, fs.readdirSync(samples).map((f) => path.join(samples, f)));
  const {srv: shop} = await site(() => shopHtml(k), pagePort);
  const browser = await launch();
  await runWithServer(k, async () => {
    try {
      const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
      const errors = [];

      // ---- 1. the widget: no answer, thumbs-down ----
      const shopPage = await ctx.newPage();
      shopPage.on('pageerror', (e) => errors.push(String(e)));
      await shopPage.goto(`http://127.0.0.1:${pagePort}/`);
      await shopPage.waitForSelector('#kbox-widget', {state: 'attached'});
      await shopPage.click('#kbox-widget .bubble');
      const miss = await ask(shopPage, MISS);
      await miss.locator('.vote-down').click();
      await miss.locator('.votes input').waitFor();

      // ---- 2. Review: the admin writes the correct answer ----
      const page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(k.url + '/#review');
      await page.fill('#token', k.token);
      await page.click('#token-save');
      await page.click('#nav button[data-page="review"]');
      const item = page.locator('#review-list .loop-item').first();
      await item.waitFor();
      check((await item.locator('.loop-q').textContent()) === MISS, 'the widget question is in Review');
      check(await item.locator('.badge-fallback').count() === 1 && await item.locator('.badge-thumbs_down').count() === 1,
        'it is a fallback with a thumbs-down');
      await item.locator('.loop-write').click();
      await item.locator('textarea.loop-answer').fill(CURATED);
      await item.locator('.loop-save').click();
      await page.waitForFunction(() => !document.querySelector('#review-list .loop-item'));
      const faq = await (await admin(k, '/api/faq')).json();
      check(JSON.stringify(faq).includes(CURATED), 'the written answer is a curated entry: ' + JSON.stringify(faq).slice(0, 300));

      // ---- 3. the same widget user asks a paraphrase: the curated answer, cited ----
      const hit = await ask(shopPage, PARAPHRASE);
      const text = await hit.locator('.answer').textContent();
      check(text.includes('42 countries'), 'the paraphrase gets the curated answer: ' + text);
      check(await hit.locator('.chips > *').count() >= 1, 'the curated answer is cited');
      const log = (await (await admin(k, '/api/logs/export?format=jsonl')).text()).trim().split('\n').map((l) => JSON.parse(l));
      const last = log[log.length - 1];
      check(last.question === PARAPHRASE && last.mode === 'curated', 'logged with mode curated: ' + JSON.stringify(last).slice(0, 300));
      check(last.curated_id > 0 && last.curated_version === 1, 'the log names the curated entry and its version');
      check(log[0].conversation_id === last.conversation_id, 'one widget conversation');

      // ---- 4. the Dashboard: one fallback, one thumbs-down, one curated answer ----
      await page.click('#nav button[data-page="dashboard"]');
      await page.waitForSelector('#dash-body[data-questions="2"]');
      const cards = await page.locator('#dash-body .loop-cards').textContent();
      check(cards.includes('▼ 1'), 'one thumbs-down: ' + cards);
      check(cards.includes('1 curated'), 'one curated answer: ' + cards);
      const s = await (await admin(k, '/api/stats')).json();
      check(s.fallback === 1 && s.thumbs.down === 1 && s.modes.curated === 1, 'stats: ' + JSON.stringify(s).slice(0, 300));

      // ---- 5. another wording gets a thumbs-down; the admin attaches it to the entry as a similar
      //         question, picked from the searchable list; asked again, it gets the curated answer ----
      const other = await ask(shopPage, OTHER);
      check(!(await other.locator('.answer').textContent()).includes('42 countries'), 'the other wording is not matched yet');
      await other.locator('.vote-down').click();
      await other.locator('.votes input').waitFor();
      await page.click('#nav button[data-page="review"]');
      const item2 = page.locator('#review-list .loop-item').first();
      await item2.waitFor();
      check((await item2.locator('.loop-q').textContent()) === OTHER, 'the other wording is in Review');
      await item2.locator('.loop-similar').click();
      await item2.locator('.loop-faq-search').fill('Moon');
      await page.waitForFunction(() => {
        const o = document.querySelector('#review-list .loop-faq-pick option');
        return o && o.value !== '' && o.textContent.includes('Moon');
      });
      check(await item2.locator('.loop-faq-pick option').count() === 1, 'the search finds the one entry');
      await item2.locator('.loop-attach').click();
      await page.waitForFunction(() => !document.querySelector('#review-list .loop-item'));
      const entry = (await (await admin(k, '/api/faq')).json()).faq[0];
      check(entry.similar_questions.includes(OTHER) && entry.version === 2,
        'attached as a similar question (version 2): ' + JSON.stringify(entry).slice(0, 300));
      const again = await ask(shopPage, OTHER);
      check((await again.locator('.answer').textContent()).includes('42 countries'), 'the attached wording gets the curated answer');

      // ---- 6. a wording that an ingested FAQ document's pair should answer: the admin attaches it
      //         to that pair (found by searching); the pair becomes a curated answer citing the
      //         document, and the wording gets its answer ----
      const third = await ask(shopPage, THIRD);
      await third.locator('.vote-down').click();
      await third.locator('.votes input').waitFor();
      await page.click('#review-refresh');
      const item3 = page.locator('#review-list .loop-item').first();
      await item3.waitFor();
      check((await item3.locator('.loop-q').textContent()) === THIRD, 'the third wording is in Review');
      await item3.locator('.loop-similar').click();
      await item3.locator('.loop-faq-search').fill('warranty grinder');
      const pairOpt = item3.locator('.loop-faq-pick option.loop-doc-pair', {hasText: 'How long is the warranty on my grinder?'});
      await pairOpt.first().waitFor({state: 'attached'});
      check((await pairOpt.first().textContent()).startsWith('[faq.md] '), 'the pair is named with its document');
      await item3.locator('.loop-faq-pick').selectOption(await pairOpt.first().getAttribute('value'));
      await item3.locator('.loop-attach').click();
      await page.waitForFunction(() => !document.querySelector('#review-list .loop-item'));
      const list = (await (await admin(k, '/api/faq')).json()).faq;
      const made = list.find((f) => f.question === 'How long is the warranty on my grinder?');
      check(list.length === 2 && made && made.similar_questions.includes(THIRD) && made.citations.length === 1 &&
        made.answer.includes('24-month warranty'), 'the pair became a curated answer citing faq.md: ' + JSON.stringify(list).slice(0, 500));
      const fixed = await ask(shopPage, THIRD);
      check((await fixed.locator('.answer').textContent()).includes('24-month warranty'), 'the third wording gets the pair\'s answer');
      check(await fixed.locator('.chips > *').count() >= 1, 'cited');
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
      console.log('walk: ok');
    } finally {
      await browser.close();
      shop.close();
    }
  });
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
