// tests/web/e2e.mjs KBOX SRC_DIR BUILD_DIR: the browser end-to-end test. Headless Debian Chromium
// (/usr/bin/chromium) driven by playwright-core:
//   1. the UI: upload a sample through the file picker, wait until it is indexed, ask in the chat,
//      see the answer stream in (several text pieces before "done") with a citation chip, open the
//      cited passage from the chip and from the [n] marker in the text, upload a PDF and see its
//      citation chip name the page ("p. 2"), switch the UI to Chinese
//      and ask a Chinese question with a cited answer;
//   2. the widget on a test page served from another origin (allowlisted): bubble, streamed answer,
//      citation, passage (from the chip and the marker); and on a page from an origin that is not allowlisted: no widget.
// Screenshots go to BUILD_DIR/screenshots/. Exit 77 (skip) without chromium or playwright-core.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {browserOrSkip, check, startKbox} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);

/* A page on another origin that embeds the widget. */
function startPageServer(widgetSrc) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Heronbrook shop</title></head>
<body style="font-family:sans-serif;background:#fafafa"><h1>Heronbrook Appliances</h1>
<p>Kettles and grinders. Questions? Use the chat bubble.</p>
<script src="${widgetSrc}" data-collection=""></script></body></html>`;
  const srv = http.createServer((req, res) => {
    res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
    res.end(html);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

/* Counts text pieces appended to answers: one per SSE token event, plus one when "done" replaces
 * the text; more than two means the answer arrived as a stream of token events. */
async function watchStreaming(page, rootSel) {
  await page.evaluate((sel) => {
    window.__pieces = 0;
    const root = sel === 'widget' ? document.querySelector('#kbox-widget').shadowRoot : document;
    const obs = new MutationObserver((muts) => {
      for (const m of muts) {
        for (const n of m.addedNodes) {
          const host = m.target.closest ? m.target.closest('.msg.bot') : null;
          if (n.nodeType === 3 && host) window.__pieces++;
        }
      }
    });
    obs.observe(root, {childList: true, subtree: true});
  }, rootSel);
}

async function main() {
  const pageSrv = await startPageServer('about:blank');
  const pagePort = pageSrv.address().port;
  pageSrv.close();
  // The widget page lives on 127.0.0.1:pagePort; only that origin is allowlisted.
  const allowed = `http://127.0.0.1:${pagePort}`;
  const k = await startKbox(kbox, ['server.cors_origins=' + allowed]);
  const widgetPage = await startPageServer(`${k.url}/widget.js`);
  await new Promise((res) => { widgetPage.close(); res(); });
  const shop = http.createServer((req, res) => {
    res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Heronbrook shop</title></head>
<body style="font-family:sans-serif;background:#fafafa"><h1>Heronbrook Appliances</h1>
<p>Kettles and grinders. Questions? Use the chat bubble.</p>
<script src="${k.url}/widget.js" data-collection=""></script></body></html>`);
  });
  await new Promise((res) => shop.listen(pagePort, '127.0.0.1', res));

  const browser = await launch();
  let failed = null;
  try {
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // ---- 1. the UI in English ----
    await page.goto(k.url + '/');
    await page.fill('#token', k.token);
    await page.click('#token-save');
    await page.setInputFiles('#file-input', [
      path.join(src, 'samples/en/returns-shipping.html'),
      path.join(src, 'samples/zh/faq.md'),
    ]);
    await page.waitForSelector('#upload-list li[data-name="returns-shipping.html"][data-state="indexed"]', {timeout: 60000});
    await page.waitForSelector('#upload-list li[data-name="faq.md"][data-state="indexed"]', {timeout: 60000});
    await page.screenshot({path: path.join(shots, 'upload.png'), fullPage: true});

    await page.click('#nav button[data-page="documents"]');
    await page.waitForSelector('#doc-rows tr[data-id]');
    await page.fill('#doc-filter', 'returns');
    check(await page.locator('#doc-rows tr[data-id]').count() === 1, 'document filter shows one row');
    await page.fill('#doc-filter', '');
    await page.locator('#doc-rows tr[data-id]').first().locator('button').first().click();
    await page.waitForSelector('#doc-detail .chunk');
    await page.screenshot({path: path.join(shots, 'documents.png'), fullPage: true});

    await page.click('#nav button[data-page="chat"]');
    await watchStreaming(page, 'page');
    await page.fill('#chat-input', 'How many days do I have to return a product?');
    await page.click('#chat-send');
    const bot = page.locator('#chat-log .msg.bot').last();
    await bot.locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 30000});
    const pieces = await page.evaluate(() => window.__pieces);
    check(pieces > 2, `answer streamed in pieces (saw ${pieces})`);
    const answer = await bot.locator('.answer-text').textContent();
    check(/45/.test(answer), 'English answer mentions 45 days: ' + answer);
    const chips = bot.locator('.chip');
    check(await chips.count() >= 1, 'answer has a citation chip');
    await chips.first().click();
    await page.waitForSelector('#cite-panel:not([hidden])');
    const citedDoc = await page.textContent('#cite-doc');
    check(citedDoc === 'returns-shipping.html', 'citation opens returns-shipping.html, got ' + citedDoc);
    check((await page.textContent('#cite-text')).includes('45'), 'cited passage shows the 45 days');
    await page.screenshot({path: path.join(shots, 'chat-en.png'), fullPage: true});
    await page.click('#cite-close');
    // the [n] marker in the answer text opens the same passage, and the text reads as before
    const ref = bot.locator('.answer-text .cite-ref');
    check(await ref.count() >= 1, 'the [n] marker in the answer is a button');
    check(/^\[\d+\]$/.test(await ref.first().textContent()), 'the marker keeps its text');
    check(await bot.locator('.answer-text').textContent() === answer, 'markers do not change the answer text');
    await ref.first().click();
    await page.waitForSelector('#cite-panel:not([hidden])');
    check(await page.textContent('#cite-doc') === 'returns-shipping.html', 'the marker opens its passage');
    await page.click('#cite-close');

    // a PDF citation names the page of the quoted sentence: "p. 2"
    await page.click('#nav button[data-page="upload"]');
    await page.setInputFiles('#file-input', path.join(src, 'samples/formats/en/employee-handbook.pdf'));
    await page.waitForSelector('#upload-list li[data-name="employee-handbook.pdf"][data-state="indexed"]', {timeout: 60000});
    await page.click('#nav button[data-page="chat"]');
    await page.click('#chat-new');
    await page.fill('#chat-input', 'How many days of paid annual leave do full-time employees receive?');
    await page.click('#chat-send');
    const botPdf = page.locator('#chat-log .msg.bot').last();
    await botPdf.locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 30000});
    const pdfChip = botPdf.locator('.chip', {hasText: 'employee-handbook.pdf'}).first();
    check(await pdfChip.count() === 1, 'the leave answer cites the handbook PDF');
    check((await pdfChip.textContent()).endsWith('employee-handbook.pdf p. 2'), 'the chip names page 2: ' +
      await pdfChip.textContent());
    await pdfChip.click();
    await page.waitForSelector('#cite-panel:not([hidden])');
    check(await page.textContent('#cite-page') === '2', 'the passage panel shows page 2');
    await page.click('#cite-close');

    // hit testing shows the three scores
    await page.click('#nav button[data-page="hits"]');
    await page.fill('#hits-query', 'refund');
    await page.click('#hits-form button[type="submit"]');
    await page.waitForSelector('#hits-rows tr td.num');
    await page.screenshot({path: path.join(shots, 'hits.png'), fullPage: true});

    // document text is data, never markup: an uploaded document cannot run script in the UI
    const evil = path.join(build, 'xss-sample.txt');
    fs.writeFileSync(evil, 'The zorblax gadget <img src=x onerror="window.__xss=1"> costs <b>five</b> pounds.\n' +
      '<script>window.__xss=2</script> Zorblax gadgets ship on Fridays.\n');
    await page.click('#nav button[data-page="upload"]');
    await page.setInputFiles('#file-input', evil);
    await page.waitForSelector('#upload-list li[data-name="xss-sample.txt"][data-state="indexed"]', {timeout: 60000});
    await page.click('#nav button[data-page="hits"]');
    await page.fill('#hits-query', 'zorblax gadget');
    await page.click('#hits-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#hits-rows').textContent.includes('zorblax'));
    check((await page.textContent('#hits-rows')).includes('onerror='), 'markup shown as text in hit testing');
    await page.click('#nav button[data-page="chat"]');
    await page.fill('#chat-input', 'How much does the zorblax gadget cost?');
    await page.click('#chat-send');
    await page.locator('#chat-log .msg.bot').last().locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 30000});
    await page.locator('#chat-log .msg.bot').last().locator('.chip').first().click();
    await page.click('#nav button[data-page="documents"]');
    await page.waitForSelector('#doc-rows tr[data-id]');
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss) === undefined, 'no script from a document ran');
    check(await page.locator('img[src="x"]').count() === 0, 'no element was created from document text');

    // ---- the UI in Chinese ----
    await page.selectOption('#lang', 'zh');
    check((await page.textContent('#nav button[data-page="chat"]')) === '问答', 'navigation switched to Chinese');
    await page.click('#nav button[data-page="chat"]');
    await page.click('#chat-new');
    await page.fill('#chat-input', '鹪鹩电水壶的价格是多少？');
    await page.click('#chat-send');
    const botZh = page.locator('#chat-log .msg.bot').last();
    await botZh.locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 30000});
    const answerZh = await botZh.locator('.answer-text').textContent();
    check(/£?89/.test(answerZh), 'Chinese answer gives the Wren price: ' + answerZh);
    check(await botZh.locator('.chip').count() >= 1, 'Chinese answer has a citation');
    await botZh.locator('.chip').first().click();
    await page.waitForSelector('#cite-panel:not([hidden])');
    check((await page.textContent('#cite-doc')) === 'faq.md', 'Chinese citation opens faq.md');
    check((await page.textContent('#page-chat h1')) === '向文档提问', 'chat title is Chinese');
    await page.screenshot({path: path.join(shots, 'chat-zh.png'), fullPage: true});
    await page.click('#nav button[data-page="settings"]');
    await page.waitForFunction(() => document.querySelector('#answer-mode').textContent.startsWith('抽取式'));
    // settings go through rag_setting_set and reach the widget
    await page.fill('#settings-form input[name="widget.title"]', '鹭溪客服');
    await page.click('#settings-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#settings-status').textContent === '已保存');
    check(await page.inputValue('#settings-form input[name="widget.title"]') === '鹭溪客服', 'title saved');
    await page.screenshot({path: path.join(shots, 'settings-zh.png'), fullPage: true});
    check(errors.length === 0, 'no page errors: ' + errors.join('; '));

    // ---- 2. the widget on another (allowlisted) origin ----
    const shopPage = await ctx.newPage();
    shopPage.on('pageerror', (e) => errors.push(String(e)));
    await shopPage.goto(`http://127.0.0.1:${pagePort}/`);
    await shopPage.waitForSelector('#kbox-widget', {state: 'attached'});
    await shopPage.click('#kbox-widget .bubble');
    check((await shopPage.textContent('#kbox-widget .head span')) === '鹭溪客服', 'widget title from settings');
    await watchStreaming(shopPage, 'widget');
    await shopPage.fill('#kbox-widget input', 'When do I get my refund after a return?');
    await shopPage.click('#kbox-widget form button');
    const wbot = shopPage.locator('#kbox-widget .msg.bot[data-state="done"]');
    await wbot.waitFor({timeout: 30000});
    const wpieces = await shopPage.evaluate(() => window.__pieces);
    check(wpieces > 2, `widget answer streamed (saw ${wpieces})`);
    const wtext = await wbot.textContent();
    check(/7 working days/.test(wtext), 'widget answer mentions 7 working days: ' + wtext);
    await wbot.locator('.chip').first().click();
    await shopPage.waitForSelector('#kbox-widget .passage');
    // an [n] marker in the widget's answer toggles its passage like the chip
    const wref = wbot.locator('.answer .cite-ref').first();
    check(await wbot.locator('.answer .cite-ref').count() >= 1, 'the widget answer has a clickable marker');
    const wn = await wref.getAttribute('data-n');
    const wpass = shopPage.locator(`#kbox-widget .passage[data-n="${wn}"]`);
    await wref.click();
    if (await wpass.count() === 0) await wref.click(); /* the chip had shown this one: it closed */
    check(await wpass.count() === 1, 'the widget marker shows passage ' + wn);
    await shopPage.screenshot({path: path.join(shots, 'widget.png')});

    // ---- a page from an origin that is not allowlisted gets no widget ----
    const other = await ctx.newPage();
    const warned = [];
    other.on('console', (m) => { if (m.type() === 'warning') warned.push(m.text()); });
    await other.goto(`http://localhost:${pagePort}/`);
    await other.waitForTimeout(1500);
    check(await other.locator('#kbox-widget').count() === 0, 'no widget on a non-allowlisted origin');
    check(warned.some((w) => w.includes('kbox widget: not allowed')), 'widget warns that the site is not allowed');
    check(errors.length === 0, 'no page errors: ' + errors.join('; '));
    console.log(`e2e: ok (screenshots in ${shots})`);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
    shop.close();
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
