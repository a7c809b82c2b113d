// tests/web/loop.mjs: the customer-service loop (issue #15, the log half) in headless Chromium:
//   1. a widget user on another (allowlisted) origin asks a question the documents cannot answer,
//      gives a thumbs-down with a comment (POST /api/feedback with the conversation's secret);
//   2. a UI user asks an answerable question and gives a thumbs-up;
//   3. the admin sees the widget question in Review (kinds "no answer" and "thumbs down", the
//      comment), in English and Chinese;
//   4. the Dashboard shows the two questions, one fallback, one thumbs-down and one thumbs-up,
//      its SVG charts, filters by collection from a list, and fits a 360 px wide screen;
//   5. Review fits a 360 px wide screen too (with the similar-question picker open); dismissing the
//      item takes it out of Review.
// Screenshots (review-en/zh, dashboard-en/zh, dashboard-360, review-360) go to BUILD_DIR/screenshots/, with
// e2e.mjs's. Exit 77 (skip) without chromium or playwright-core.
import fs from 'node:fs';
import path from 'node:path';
import {browserOrSkip, check, freePort, runWithServer, shopHtml, site, startKbox, uploadAndWait} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);

const MISS = 'Do you deliver to the Moon by rocket?';

async function stats(k) {
  const r = await fetch(k.url + '/api/stats', {headers: {Authorization: 'Bearer ' + k.token}});
  check(r.status === 200, 'stats ' + r.status);
  return r.json();
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

      // ---- 1. the widget: a question without an answer, thumbs-down with a comment ----
      const shopPage = await ctx.newPage();
      shopPage.on('pageerror', (e) => errors.push(String(e)));
      await shopPage.goto(`http://127.0.0.1:${pagePort}/`);
      await shopPage.waitForSelector('#kbox-widget', {state: 'attached'});
      await shopPage.click('#kbox-widget .bubble');
      await shopPage.fill('#kbox-widget input', MISS);
      await shopPage.click('#kbox-widget form button');
      const wbot = shopPage.locator('#kbox-widget .msg.bot[data-state="done"]').last();
      await wbot.waitFor();
      await wbot.locator('.vote-down').click();
      await wbot.locator('.votes input').waitFor();
      check(await wbot.locator('.vote-down').getAttribute('aria-pressed') === 'true', 'thumbs-down pressed');
      await wbot.locator('.votes input').fill('I asked about the Moon');
      await wbot.locator('.send-comment').click();
      await wbot.locator('.votes .note', {hasText: 'Thanks'}).waitFor();

      // ---- 2. the UI: an answer and a thumbs-up ----
      const page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(k.url + '/#chat');
      await page.fill('#token', k.token);
      await page.click('#token-save');
      await page.fill('#chat-input', 'How many days do I have to return a kettle?');
      await page.click('#chat-send');
      const bot = page.locator('#chat-log .msg.bot[data-state="done"]').last();
      await bot.waitFor();
      await bot.locator('.vote-up').click();
      await bot.locator('.votes input').waitFor();
      let s = await stats(k);
      check(s.questions === 2 && s.fallback === 1 && s.thumbs.up === 1 && s.thumbs.down === 1,
        'stats after the two answers: ' + JSON.stringify(s));
      check(s.modes.fallback === 1, 'one fallback by mode');

      // ---- 3. Review, in English then Chinese ----
      await page.click('#nav button[data-page="review"]');
      const item = page.locator('#review-list .loop-item').first();
      await item.waitFor();
      check((await item.locator('.loop-q').textContent()) === MISS, 'the widget question is first in Review');
      check(await item.locator('.badge-thumbs_down').count() === 1 && await item.locator('.badge-fallback').count() === 1,
        'kinds: no answer and thumbs down');
      check((await item.locator('.loop-comment').textContent()).includes('Moon'), 'the comment is shown');
      check((await item.locator('.loop-meta').textContent()).includes('widget · no answer'), 'channel and mode named');
      check(await page.locator('#review-list .loop-item').count() === 1, 'only the fallback is to review');
      await item.locator('.loop-write').click();
      await item.locator('textarea.loop-answer').waitFor();
      await page.screenshot({path: path.join(shots, 'review-en.png'), fullPage: true});
      await page.selectOption('#lang', 'zh');
      await page.locator('#page-review h1', {hasText: '待处理'}).waitFor();
      await page.locator('#review-list .badge-thumbs_down', {hasText: '点踩'}).waitFor();
      const meta = await page.locator('#review-list .loop-meta').first().textContent();
      check(meta.includes('网页挂件 · 未答出'), 'channel and mode in Chinese: ' + meta);
      check(await page.locator('#review-channel option[value="widget"]').textContent() === '网页挂件', 'channel filter in Chinese');
      await page.screenshot({path: path.join(shots, 'review-zh.png'), fullPage: true});

      // ---- 4. the Dashboard ----
      await page.click('#nav button[data-page="dashboard"]');
      await page.waitForSelector('#dash-body[data-questions="2"]');
      await page.locator('#dash-body h2', {hasText: '每日提问数'}).waitFor();
      check(await page.locator('#dash-body svg.loop-chart rect.bar').count() === 30, 'a bar for each of the 30 days');
      check(await page.locator('#dash-body .notice').count() === 0, 'no notice while logging is on');
      check(await page.locator('#dash-body svg.loop-share rect.share-fallback').count() === 1, 'a fallback share');
      check((await page.locator('#dash-body .loop-tops').textContent()).includes(MISS), 'top unanswered lists the question');
      await page.screenshot({path: path.join(shots, 'dashboard-zh.png'), fullPage: true});
      await page.selectOption('#lang', 'en');
      await page.locator('#dash-body h2', {hasText: 'Questions per day'}).waitFor();
      // the headings switch at once (data-i18n); the cards come with the re-render that refetches
      // /api/stats, so wait for them in English too
      await page.locator('#dash-body .loop-cards', {hasText: 'passed to a person'}).waitFor();
      const cards = await page.locator('#dash-body .loop-cards').textContent();
      check(cards.includes('▼ 1') && cards.includes('▲ 1'), 'one thumbs-down and one thumbs-up: ' + cards);
      check(cards.includes('0 passed to a person'), 'the handed-off card counts the handoffs: ' + cards);
      await page.screenshot({path: path.join(shots, 'dashboard-en.png'), fullPage: true});
      // the collection filter lists the collections; questions asked over every collection (the
      // widget's and chat's default) count under "All collections" only, as the hint says
      await page.waitForSelector('#dash-collection option[value="default"]', {state: 'attached'});
      check((await page.textContent('#page-dashboard .loop-coll-hint')).includes('All collections'), 'the collection hint');
      await page.selectOption('#dash-collection', 'default');
      await page.waitForSelector('#dash-body[data-questions="0"]');
      await page.selectOption('#dash-collection', '');
      await page.waitForSelector('#dash-body[data-questions="2"]');
      await page.setViewportSize({width: 360, height: 800});
      await page.click('#dash-refresh');
      await page.waitForSelector('#dash-body[data-questions="2"]');
      const over = await page.evaluate(() => {
        const p = document.getElementById('page-dashboard');
        return p.scrollWidth - p.clientWidth;
      });
      const head = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(head <= 1, 'the header fits 360 px too (overflow ' + head + ' px)');
      check(over <= 1, 'the Dashboard fits 360 px (overflow ' + over + ' px)');
      await page.screenshot({path: path.join(shots, 'dashboard-360.png'), fullPage: true});
      await page.setViewportSize({width: 1280, height: 900});

      // ---- 5. Review at 360 px, then dismiss ----
      await page.setViewportSize({width: 360, height: 800});
      await page.click('#nav button[data-page="review"]');
      await page.locator('#review-list .loop-item').first().waitFor();
      await page.locator('#review-list .loop-item').first().locator('.loop-similar').click();
      await page.locator('#review-list .loop-faq-pick').waitFor();
      const rover = await page.evaluate(() => [document.documentElement.scrollWidth - document.documentElement.clientWidth,
        document.getElementById('page-review').scrollWidth - document.getElementById('page-review').clientWidth]);
      check(rover[0] <= 1 && rover[1] <= 1, 'Review fits 360 px (overflow ' + rover.join(', ') + ' px)');
      await page.screenshot({path: path.join(shots, 'review-360.png'), fullPage: true});
      await page.setViewportSize({width: 1280, height: 900});
      await page.locator('#review-list .loop-item').first().locator('.loop-dismiss').click();
      await page.waitForFunction(() => !document.querySelector('#review-list .loop-item'));
      await page.click('#review-refresh');
      await page.locator('#review-list p.hint').waitFor();
      check(await page.locator('#review-list .loop-item').count() === 0, 'the dismissed item is gone after a reload');
      s = await stats(k);
      check(s.fallback === 1 && s.thumbs.down === 1, 'dismissing keeps the statistics');
      check(errors.length === 0, 'no page errors: ' + errors.join('; '));
      console.log(`loop: ok (screenshots in ${shots})`);
    } finally {
      await browser.close();
      shop.close();
    }
  });
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
