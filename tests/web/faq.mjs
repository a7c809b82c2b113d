// tests/web/faq.mjs KBOX SRC_DIR BUILD_DIR: the FAQ page (web/static/faq.js) in headless Debian
// Chromium (/usr/bin/chromium) driven by playwright-core, against a real `kbox serve`:
//   1. with a sample document indexed, add a curated answer through the page's form (question,
//      a similar question, answer) and see its row; edit it (a new version, listed under Versions);
//   2. ask a paraphrase in the chat and get the curated answer, cited, with mode "curated"; the
//      FAQ list then shows one use;
//   3. import a CSV through the page (a bad one is refused with its row number, nothing imported),
//      search the list, export CSV and XLSX, import the XLSX back, delete an entry;
//   4. screenshots of the FAQ page in English and Chinese (BUILD_DIR/screenshots/faq-en.png,
//      faq-zh.png), where e2e.mjs saves its own, and one at 360 px wide, which it must fit.
// Exit 77 (skip) without chromium or playwright-core.
import fs from 'node:fs';
import path from 'node:path';
import {browserOrSkip, check, startKbox} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);

async function main() {
  const k = await startKbox(kbox, []);
  const browser = await launch();
  const tmp = fs.mkdtempSync(path.join(k.dir, 'csv-'));
  let failed = null;
  try {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}, acceptDownloads: true});
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => d.accept());
    await page.goto(k.url + '/');
    await page.fill('#token', k.token);
    await page.click('#token-save');
    await page.setInputFiles('#file-input', [path.join(src, 'samples/en/returns-shipping.html')]);
    await page.waitForSelector('#upload-list li[data-name="returns-shipping.html"][data-state="indexed"]', {timeout: 60000});

    // ---- 1. add and edit through the form ----
    await page.click('#nav button[data-page="faq"]');
    await page.waitForSelector('#page-faq:not([hidden])');
    await page.waitForSelector('#faq-rows td.hint');
    await page.click('#faq-add');
    await page.fill('#faq-q', 'Do you deliver to business addresses?');
    await page.fill('#faq-sim', 'Can the courier bring my parcel to the office?');
    await page.fill('#faq-a', 'Yes. Put the company name in the address; the courier hands it to your reception.');
    await page.click('#faq-save');
    await page.waitForSelector('#faq-rows tr[data-id]');
    check((await page.textContent('#faq-status')).includes('1'), 'saved as version 1');
    const id = await page.getAttribute('#faq-rows tr[data-id]', 'data-id');
    await page.fill('#faq-a', 'Yes. Put the company name in the address; the courier hands the parcel to your reception.');
    await page.click('#faq-save');
    await page.waitForSelector('#faq-versions li >> nth=1');
    check(await page.locator('#faq-versions li').count() === 2, 'two versions listed');
    check((await page.textContent(`#faq-rows tr[data-id="${id}"]`)).includes('v2'), 'the row shows v2');

    // ---- 2. a paraphrase in the chat gets the curated answer ----
    await page.click('#nav button[data-page="chat"]');
    await page.fill('#chat-input', 'Will the parcel come to my office?');
    await page.click('#chat-send');
    const bot = page.locator('#chat-log .msg.bot').last();
    await bot.locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 30000});
    const answer = await bot.locator('.answer-text').textContent();
    check(answer.includes('hands the parcel to your reception'), 'curated answer (v2) in the chat: ' + answer);
    check((await bot.locator('.meta').textContent()).startsWith('curated'), 'mode curated shown');
    check(await bot.locator('.chip').count() === 1, 'the answer is cited');
    await page.click('#nav button[data-page="faq"]');
    await page.waitForFunction((i) => {
      const c = document.querySelector(`#faq-rows tr[data-id="${i}"] .faq-uses`);
      return c && c.textContent === '1';
    }, id, {timeout: 10000});

    // ---- 3. import, search, export ----
    const bad = path.join(tmp, 'bad.csv');
    fs.writeFileSync(bad, 'question,similar_questions,answer\nDo you sell gift cards?,,"Yes, from 10 GBP."\nDo gift cards expire?,,\n');
    await page.setInputFiles('#faq-import', bad);
    await page.waitForSelector('#toast:not([hidden])');
    check((await page.textContent('#toast')).includes('row 3'), 'a bad import names its row');
    check(await page.locator('#faq-rows tr[data-id]').count() === 1, 'nothing imported');
    const good = path.join(tmp, 'good.csv');
    fs.writeFileSync(good, 'question,similar_questions,answer\nDo you sell gift cards?,Can I buy a voucher?|Gift voucher,"Yes, from 10 GBP."\nDo gift cards expire?,,After 24 months.\n');
    await page.setInputFiles('#faq-import', good);
    await page.waitForFunction(() => document.querySelectorAll('#faq-rows tr[data-id]').length === 3, null, {timeout: 10000});
    await page.fill('#faq-search', 'voucher');
    await page.waitForFunction(() => document.querySelectorAll('#faq-rows tr[data-id]').length === 1, null, {timeout: 10000});
    await page.fill('#faq-search', '');
    await page.waitForFunction(() => document.querySelectorAll('#faq-rows tr[data-id]').length === 3, null, {timeout: 10000});
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#faq-export-csv')]);
    const csv = fs.readFileSync(await download.path(), 'utf8');
    check(csv.startsWith('"question","similar_questions","answer"'), 'CSV export header');
    check(csv.includes('Gift voucher'), 'CSV export holds the similar questions');
    const [xdown] = await Promise.all([page.waitForEvent('download'), page.click('#faq-export-xlsx')]);
    const xlsx = fs.readFileSync(await xdown.path());
    check(xdown.suggestedFilename() === 'faq.xlsx' && xlsx.subarray(0, 4).equals(Buffer.from('PK\x03\x04')), 'XLSX export is a zip');
    // the XLSX imports back through the page (three more entries), then one is deleted
    const back = path.join(tmp, 'back.xlsx');
    fs.writeFileSync(back, xlsx);
    await page.setInputFiles('#faq-import', back);
    await page.waitForFunction(() => document.querySelectorAll('#faq-rows tr[data-id]').length === 6, null, {timeout: 10000});
    const gone = await page.getAttribute('#faq-rows tr[data-id] >> nth=0', 'data-id');
    check(gone !== id, 'the newest row is an imported one');
    await page.click(`#faq-rows tr[data-id="${gone}"] .faq-del`); /* the confirm dialog is accepted */
    await page.waitForFunction(() => document.querySelectorAll('#faq-rows tr[data-id]').length === 5, null, {timeout: 10000});
    const del = await fetch(k.url + '/api/faq/' + gone, {headers: {Authorization: 'Bearer ' + k.token}});
    check(del.status === 404, 'the deleted entry is gone: ' + del.status);

    // ---- 4. screenshots in both languages ----
    await page.click(`#faq-rows tr[data-id="${id}"] .faq-edit`);
    await page.waitForSelector('#faq-versions li >> nth=1');
    await page.screenshot({path: path.join(shots, 'faq-en.png'), fullPage: true});
    await page.selectOption('#lang', 'zh');
    check(await page.textContent('#nav button[data-page="faq"]') === '问答库', 'nav in Chinese');
    check(await page.textContent('#page-faq h1') === '常见问题与人工答案', 'FAQ title in Chinese');
    check((await page.textContent(`#faq-rows tr[data-id="${id}"] .faq-edit`)) === '编辑', 'row buttons in Chinese');
    check(await page.textContent('#faq-form-title') === '编辑人工答案 #' + id, 'the open form\'s title in Chinese');
    check(await page.textContent('#faq-versions h3') === '历史版本', 'the versions heading in Chinese');
    check(await page.textContent('#faq-collection option[value=""]') === '全部知识库', 'the collection list in Chinese');
    await page.screenshot({path: path.join(shots, 'faq-zh.png'), fullPage: true});
    // a narrow phone screen still shows the list
    await page.setViewportSize({width: 360, height: 780});
    const over = await page.evaluate(() => [document.documentElement.scrollWidth - document.documentElement.clientWidth,
      document.getElementById('page-faq').scrollWidth - document.getElementById('page-faq').clientWidth]);
    check(over[0] <= 1 && over[1] <= 1, 'the FAQ page fits 360 px (overflow ' + over.join(', ') + ' px)');
    await page.screenshot({path: path.join(shots, 'faq-zh-360.png'), fullPage: true});
    check(errors.length === 0, 'no page errors: ' + errors.join('; '));
    console.log(`faq: ok (screenshots in ${shots})`);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
    const {code} = await k.stop();
    if (!failed && code !== 0) failed = new Error('kbox serve exited ' + code + ' on SIGTERM');
  }
  if (failed) {
    console.error(failed.stack || failed);
    console.error('--- kbox log ---\n' + k.log().slice(-4000));
    process.exit(1);
  }
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
