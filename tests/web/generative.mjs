// tests/web/generative.mjs KBOX SRC_DIR BUILD_DIR: generative answers and model choice in headless
// Chromium, against real `kbox serve` processes answering with synthetic GGUF models
// (`kbox model synth`: seeded random weights, so the text is noise, but loading, the prompt,
// streaming, grounding and strict mode are the real code paths).
//   1. server A, answer.model = a synthetic llama: the chat streams the answer; every sentence the
//      API scores below the support threshold is underlined (span.sentence.weak) with its score as
//      tooltip, and only those; no reasoning block appears for a model without reasoning. Strict
//      mode (switched on in the settings page): no weak sentence is left, and either the fallback
//      is shown or the note about removed sentences. The widget marks weak sentences too.
//   2. server A's settings page lists the models folder (two synthetic chat models, a bert
//      embedding model from ../shared when present, a broken file): "none" options, the broken file
//      disabled with its error as tooltip; a file deleted after listing is refused with the
//      server's error shown in red; choosing a model saves through PUT /api/settings, GET
//      /api/settings reports it and the next answer comes from it; a new embedding model shows its
//      re-embed job until it finishes. When the server
//      has no GET /api/models (404), the page must hide the selectors and say why instead.
//   3. server B, answer.model = the same synthetic model with a DeepSeek-R1 chat template (the
//      generation prompt opens <think>): the reasoning streams ("think" events) into a collapsed
//      <details> labelled "Reasoning" (推理过程 in Chinese) that opens on click; likewise in the widget.
// The SSE body each page received is read back through Playwright and the page is checked against
// it. Screenshots go to BUILD_DIR/screenshots/gen-*.png. Exit 77 (skip) without chromium or
// playwright-core.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {browserOrSkip, check, parseSSE, r1Variant, startKbox, synthModel, uploadAndWait} from './common.mjs';

const [kbox, src, build] = process.argv.slice(2);
const {launch, shots} = browserOrSkip(build);
/* rag/generate.c's cut-off (GEN_SUPPORT_MIN); the UI uses an answer's support_min when it has one */
const SUPPORT_MIN = 0.35;
const bert = path.join(src, '..', 'shared', 'conformance', 'bert_f32.gguf');

/* The models every server's folder gets. */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kbox-gen-models-'));
const llama = synthModel(kbox, path.join(work, 'llama.gguf'));
const r1 = r1Variant(llama, path.join(work, 'r1.gguf'));

function fillModels(dir) {
  const m = path.join(dir, 'models');
  fs.mkdirSync(m, {recursive: true});
  fs.copyFileSync(llama, path.join(m, 'llama.gguf'));
  fs.copyFileSync(r1, path.join(m, 'r1.gguf'));
  fs.copyFileSync(llama, path.join(m, 'gone.gguf')); /* deleted while the settings page lists it */
  fs.writeFileSync(path.join(m, 'broken.gguf'), 'this is not a GGUF file\n');
  if (fs.existsSync(bert)) fs.copyFileSync(bert, path.join(m, 'bert_f32.gguf'));
  return m;
}

async function getJSON(k, p) {
  const r = await fetch(k.url + p, {headers: {Authorization: 'Bearer ' + k.token}});
  return {status: r.status, body: await r.json().catch(() => null)};
}

/* Asks in the page's chat and returns {bot, events, done}: the answer's bubble and the SSE events
 * the page received. */
async function askInChat(page, question) {
  await page.evaluate(() => {
    window.__pieces = 0;
    const obs = new MutationObserver((muts) => {
      for (const m of muts) for (const n of m.addedNodes) if (n.nodeType === 3 && m.target.closest('.msg.bot .answer-text')) window.__pieces++;
    });
    obs.observe(document.querySelector('#chat-log'), {childList: true, subtree: true});
  });
  const resp = page.waitForResponse((r) => r.url().endsWith('/api/ask'));
  await page.fill('#chat-input', question);
  await page.click('#chat-send');
  const body = await (await resp).text();
  const bot = page.locator('#chat-log .msg.bot').last();
  await bot.locator('xpath=.').and(page.locator('[data-state="done"]')).waitFor({timeout: 60000});
  const events = parseSSE(body);
  const done = events.find((e) => e.event === 'done');
  check(done, 'the stream ends with a done event: ' + body.slice(-300));
  return {bot, events, done: done.data};
}

/* Applies the model selects after the list has loaded; resolves to the status text. */
async function applyModels(page, sel, value) {
  await page.waitForSelector('#models-pick[data-state="ready"]');
  await page.selectOption(sel, value);
  await page.click('#models-save');
  await page.waitForSelector('#models-status:is([data-state="saved"], [data-state="error"], [data-state="unchanged"])', {timeout: 60000});
  await page.waitForSelector('#models-pick[data-state="ready"]');
  return page.textContent('#models-status');
}

/* Sentences of an answer the page must underline: below the threshold and shown in the text. */
function weakSentences(done, shown) {
  const min = typeof done.support_min === 'number' ? done.support_min : SUPPORT_MIN;
  let at = 0;
  const out = [];
  for (const s of done.sentences) {
    const i = shown.indexOf(s.text, at);
    if (i < 0) continue;
    at = i + s.text.length;
    if (s.support < min) out.push(s);
  }
  return out;
}

/* Checks the weak marks in root (a page or a shadow root's locator) against the answer. */
async function checkWeakMarks(root, done, what) {
  const shown = done.answer;
  const want = weakSentences(done, shown);
  const spans = root.locator('.sentence.weak');
  check(await spans.count() === want.length, `${what}: ${want.length} weak sentence(s) marked, saw ${await spans.count()}`);
  for (let i = 0; i < want.length; i++) {
    const span = spans.nth(i);
    check(await span.textContent() === want[i].text, `${what}: weak mark ${i} covers its sentence`);
    const title = await span.getAttribute('title');
    check(title.includes(want[i].support.toFixed(2)), `${what}: tooltip shows the support ${want[i].support.toFixed(2)}: ${title}`);
    const style = await span.evaluate((e) => getComputedStyle(e).textDecorationStyle + ' ' + getComputedStyle(e).textDecorationLine);
    check(style === 'dotted underline', `${what}: weak sentence is underlined dotted (${style})`);
  }
  const strong = root.locator('.sentence:not(.weak)');
  for (let i = 0; i < await strong.count(); i++) {
    const sup = Number(await strong.nth(i).getAttribute('data-support'));
    check(sup >= SUPPORT_MIN, `${what}: an unmarked sentence has support ${sup} >= ${SUPPORT_MIN}`);
  }
  return want.length;
}

async function main() {
  // a page on another origin embeds the widget of server A (/a) or B (/b); both allow that origin
  const servers = {};
  const shop = http.createServer((req, res) => {
    const k = servers[req.url.slice(1)];
    res.writeHead(k ? 200 : 404, {'Content-Type': 'text/html; charset=utf-8'});
    res.end(k ? `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body><h1>Heronbrook</h1>
<script src="${k.url}/widget.js"></script></body></html>` : 'no');
  });
  await new Promise((res) => shop.listen(0, '127.0.0.1', res));
  const origin = `http://127.0.0.1:${shop.address().port}`;
  const common = ['server.cors_origins=' + origin, 'answer.max_tokens=48', 'answer.context=2048', 'log.level=warn'];
  const a = await startKbox(kbox, common, {setup: (dir) => ['answer.model=' + path.join(fillModels(dir), 'llama.gguf')]});
  const b = await startKbox(kbox, common, {setup: (dir) => ['answer.model=' + path.join(fillModels(dir), 'r1.gguf')]});
  servers.a = a;
  servers.b = b;

  const browser = await launch();
  let failed = null;
  const notes = [];
  try {
    const samples = [path.join(src, 'samples/en/returns-shipping.html')];
    await uploadAndWait(a, samples);
    await uploadAndWait(b, samples);
    const ctx = await browser.newContext({viewport: {width: 1280, height: 900}});
    const errors = [];

    // ---- 1. server A: streamed generative answer with weak-sentence marks ----
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(a.url + '/#chat');
    await page.fill('#token', a.token);
    await page.click('#token-save');
    let {bot, events, done} = await askInChat(page, 'How many days do I have to return a product?');
    check(done.mode === 'generative', 'server A answers generatively: ' + done.mode);
    const tokens = events.filter((e) => e.event === 'token');
    check(tokens.length > 2, `answer streamed as token events (${tokens.length})`);
    check(await page.evaluate(() => window.__pieces) > 2, 'the page appended the streamed pieces');
    check(done.sentences.length > 0, 'a generative answer has graded sentences');
    check(!done.reasoning && await bot.locator('details.reasoning').count() === 0,
      'no reasoning block for a model without reasoning');
    check(await bot.locator('.answer-text').textContent() === done.answer, 'the page shows the final answer text');
    const nWeak = await checkWeakMarks(bot, done, 'chat');
    check(nWeak > 0, 'random weights produce sentences the passages do not support: ' + JSON.stringify(done.sentences));
    check(await bot.locator('.weak-note').isVisible(), 'a note explains the underline');
    check((await bot.locator('.meta').textContent()).startsWith('generative'), 'the meta line says generative');
    await page.screenshot({path: path.join(shots, 'gen-weak.png'), fullPage: true});

    // strict mode, switched on in the settings page
    await page.click('#nav button[data-page="settings"]');
    await page.waitForFunction(() => document.querySelector('#answer-mode').textContent.startsWith('generative'));
    await page.check('#settings-form input[name="answer.strict"]');
    await page.click('#settings-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#settings-status').textContent === 'Saved');
    check((await getJSON(a, '/api/settings')).body.settings['answer.strict'] === true, 'strict mode saved');
    await page.click('#nav button[data-page="chat"]');
    ({bot, done} = await askInChat(page, 'When do I get my refund after a return?'));
    check(await bot.locator('.sentence.weak').count() === 0, 'strict mode leaves no weak sentence in the answer');
    const noteMatch = /\((\d+) sentences? not supported by the documents removed\.\)\s*$/.exec(done.answer);
    if (done.fallback) {
      const fallback = (await getJSON(a, '/api/settings')).body.settings['answer.fallback'];
      check(done.answer === fallback, 'strict mode with nothing supported answers the fallback');
      check(await bot.locator('.answer-text').textContent() === fallback, 'the page shows the fallback text');
      check(await bot.evaluate((e) => e.classList.contains('fallback')), 'the bubble is marked as a fallback');
      check((await bot.locator('.meta').textContent()).includes('not found in the documents'), 'meta says not found');
      notes.push('strict mode gave the fallback (all sentences unsupported); the removed-sentences note was checked on a string in the format of rag/generate.c only');
    } else {
      check(noteMatch, 'strict mode without fallback means some sentences were removed: ' + done.answer);
      check((await bot.locator('.strict-note').textContent()).includes(noteMatch[1]), 'the note gives the count');
      check(!(await bot.locator('.answer-text').textContent()).includes('not supported by the documents'),
        'the note is not part of the answer text');
    }
    await page.screenshot({path: path.join(shots, 'gen-strict.png'), fullPage: true});
    // Random weights never give a partly supported answer, so the note path is also run on a string
    // in rag's own format (read from rag/generate.c, so a change there fails here first).
    const gen = fs.readFileSync(path.join(src, 'rag/generate.c'), 'utf8');
    check(gen.includes('"\\n\\n(%d sentence%s not supported by the documents removed.)"'), 'rag/generate.c still writes the note the UI parses');
    const split = await page.evaluate(() => [splitStrictNote('Kettles ship free [1]. Returns take 45 days [2].\n\n(2 sentences not supported by the documents removed.)'),
      splitStrictNote('Kettles ship free.\n\n(1 sentence not supported by the documents removed.)'), splitStrictNote('No note (here).')]);
    check(split[0].dropped === 2 && split[0].text === 'Kettles ship free [1]. Returns take 45 days [2].', 'note split off: ' + JSON.stringify(split[0]));
    check(split[1].dropped === 1 && split[1].text === 'Kettles ship free.', 'singular note split off');
    check(split[2].dropped === 0 && split[2].text === 'No note (here).', 'an answer without the note is kept whole');
    const off = await fetch(a.url + '/api/settings', {method: 'PUT', body: JSON.stringify({'answer.strict': false}),
      headers: {Authorization: 'Bearer ' + a.token, 'Content-Type': 'application/json'}});
    check(off.status === 200, 'strict mode off');

    // the widget on another origin marks weak sentences too
    const shopA = await ctx.newPage();
    shopA.on('pageerror', (e) => errors.push(String(e)));
    await shopA.goto(origin + '/a');
    await shopA.waitForSelector('#kbox-widget', {state: 'attached'});
    await shopA.click('#kbox-widget .bubble');
    const wresp = shopA.waitForResponse((r) => r.url().endsWith('/api/ask'));
    await shopA.fill('#kbox-widget input', 'How many days do I have to return a product?');
    await shopA.click('#kbox-widget form button');
    const wdone = parseSSE(await (await wresp).text()).find((e) => e.event === 'done').data;
    const wbot = shopA.locator('#kbox-widget .msg.bot[data-state="done"]');
    await wbot.waitFor({timeout: 60000});
    check(await checkWeakMarks(wbot, wdone, 'widget') > 0, 'the widget marks weak sentences');
    await shopA.screenshot({path: path.join(shots, 'gen-widget-weak.png')});

    // ---- 2. server A's settings page: choosing models ----
    const models = await getJSON(a, '/api/models');
    await page.click('#nav button[data-page="settings"]');
    if (models.status === 404) {
      await page.waitForSelector('#models-note[data-reason="unavailable"]:not([hidden])');
      check(await page.locator('#models-pick').isHidden(), 'without /api/models the selectors are hidden');
      check((await page.textContent('#models-note')).includes('/api/models'), 'the note says why');
      notes.push('GET /api/models is 404 on this server: only the graceful degradation of the model choice was checked');
    } else {
      check(models.status === 200, 'GET /api/models: ' + models.status + ' ' + JSON.stringify(models.body));
      await page.waitForSelector('#models-pick[data-state="ready"]:not([hidden])');
      const opts = async (sel) => page.$$eval(sel + ' option', (os) => os.map((o) => ({value: o.value, disabled: o.disabled, title: o.title, text: o.textContent})));
      const answerOpts = await opts('#answer-model');
      const embedOpts = await opts('#embed-model');
      check(answerOpts[0].value === '' && embedOpts[0].value === '', 'both lists start with "none"');
      check(embedOpts[0].text.includes('built-in'), 'the embedding "none" says built-in');
      for (const f of ['llama.gguf', 'r1.gguf']) {
        const o = answerOpts.find((x) => x.value === f);
        check(o && !o.disabled, f + ' is offered as answer model');
        check(!embedOpts.some((x) => x.value === f), f + ' is not offered as embedding model');
      }
      const broken = models.body.models.find((m) => m.file === 'broken.gguf');
      check(broken && broken.error, 'the API reports broken.gguf with an error');
      const bo = [...answerOpts, ...embedOpts].find((x) => x.value === 'broken.gguf');
      check(bo && bo.disabled && bo.title === broken.error, 'broken.gguf is listed disabled with its error as tooltip');
      check((await page.textContent('#models-rows')).includes(broken.error), 'the table shows the error');
      for (const m of models.body.models.filter((x) => x.fits === false && !x.error))
        check(answerOpts.concat(embedOpts).some((x) => x.value === m.file && x.text.includes('does not fit')), m.file + ' marked as too large');
      check(await page.locator('#reembed').isHidden(), 'no re-embedding progress before an embedding model is chosen');
      await page.screenshot({path: path.join(shots, 'gen-settings-models.png'), fullPage: true});

      // a file that vanished after the page listed it: the server refuses, the page says why in red
      const before = (await getJSON(a, '/api/settings')).body.settings['answer.model'];
      fs.rmSync(path.join(a.dir, 'models', 'gone.gguf'));
      const refused = await applyModels(page, '#answer-model', 'gone.gguf');
      check(refused.includes('gone.gguf'), 'the refusal names the file: ' + refused);
      check(await page.locator('#models-status').evaluate((e) => getComputedStyle(e).color) === 'rgb(197, 48, 48)', 'the refusal is red');
      check((await getJSON(a, '/api/settings')).body.settings['answer.model'] === before, 'a refused model changes nothing');
      check(!(await page.$$eval('#answer-model option', (os) => os.map((o) => o.value))).includes('gone.gguf'), 'the list is reloaded');

      const status = await applyModels(page, '#answer-model', 'r1.gguf');
      check(status === 'Saved', 'answer model saved: ' + status);
      const s1 = (await getJSON(a, '/api/settings')).body.settings;
      check(/(^|\/)r1\.gguf$/.test(s1['answer.model']), 'GET /api/settings reports the new answer model: ' + s1['answer.model']);
      check(await page.inputValue('#answer-model') === 'r1.gguf', 'the page shows the saved choice');
      // the new model answers at once: it is the R1-style one, so the answer brings reasoning
      await page.click('#nav button[data-page="chat"]');
      ({bot, done} = await askInChat(page, 'How many days do I have to return a product?'));
      check(done.reasoning && await bot.locator('details.reasoning').count() === 1, 'the chosen R1 model answers with reasoning');

      await page.click('#nav button[data-page="settings"]');
      if (embedOpts.some((x) => x.value === 'bert_f32.gguf' && !x.disabled)) {
        const st = await applyModels(page, '#embed-model', 'bert_f32.gguf');
        check(st === 'Saved', 'embedding model saved: ' + st);
        const s2 = (await getJSON(a, '/api/settings')).body.settings;
        check(/(^|\/)bert_f32\.gguf$/.test(s2['embed.model'] || ''), 'GET /api/settings reports the embedding model: ' + s2['embed.model']);
        await page.waitForSelector('#reembed:not([hidden])', {timeout: 15000});
        await page.waitForSelector('#reembed[data-state="done"]', {timeout: 120000});
        check((await page.textContent('#reembed-text')) === 'finished', 're-embed job shown finished');
        await page.screenshot({path: path.join(shots, 'gen-settings-reembed.png'), fullPage: true});
      } else {
        notes.push('no bert GGUF (../shared absent): choosing an embedding model was not checked');
      }
    }

    // ---- 3. server B: an R1-style model; reasoning streams into a collapsed block ----
    const pb = await ctx.newPage();
    pb.on('pageerror', (e) => errors.push(String(e)));
    await pb.goto(b.url + '/#chat');
    await pb.fill('#token', b.token);
    await pb.click('#token-save');
    ({bot, events, done} = await askInChat(pb, 'How many days do I have to return a product?'));
    const thinks = events.filter((e) => e.event === 'think');
    check(thinks.length > 2, `reasoning streamed as think events (${thinks.length})`);
    check(done.reasoning && done.reasoning.length > 0, 'the answer carries its reasoning');
    const det = bot.locator('details.reasoning');
    check(await det.count() === 1, 'one reasoning block');
    check(!(await det.evaluate((d) => d.open)), 'the reasoning block starts collapsed');
    check(await det.locator('summary').textContent() === 'Reasoning', 'labelled Reasoning');
    check(await det.locator('.reasoning-text').isHidden(), 'collapsed: the reasoning text is not visible');
    check(await det.locator('.reasoning-text').textContent() === done.reasoning, 'the block holds the reasoning');
    if (!done.answer.trim()) check(await bot.locator('.answer-text .hint').isVisible(), 'an answer with only reasoning says so');
    await det.locator('summary').click();
    check(await det.evaluate((d) => d.open) && await det.locator('.reasoning-text').isVisible(), 'a click opens the reasoning');
    await pb.screenshot({path: path.join(shots, 'gen-reasoning.png'), fullPage: true});
    await pb.selectOption('#lang', 'zh');
    check(await det.locator('summary').textContent() === '推理过程', 'the label follows the language');
    await pb.selectOption('#lang', 'en');

    const shopB = await ctx.newPage();
    shopB.on('pageerror', (e) => errors.push(String(e)));
    await shopB.goto(origin + '/b');
    await shopB.waitForSelector('#kbox-widget', {state: 'attached'});
    await shopB.click('#kbox-widget .bubble');
    await shopB.fill('#kbox-widget input', 'How many days do I have to return a product?');
    await shopB.click('#kbox-widget form button');
    const wb = shopB.locator('#kbox-widget .msg.bot[data-state="done"]');
    await wb.waitFor({timeout: 60000});
    const wdet = wb.locator('details.reasoning');
    check(await wdet.count() === 1 && !(await wdet.evaluate((d) => d.open)), 'the widget shows the reasoning collapsed');
    check((await wdet.locator('.reasoning-text').textContent()).length > 0, 'the widget holds the reasoning text');
    await shopB.screenshot({path: path.join(shots, 'gen-widget-reasoning.png')});

    check(errors.length === 0, 'no page errors: ' + errors.join('; '));
    for (const n of notes) console.log('NOTE: ' + n);
    console.log(`generative: ok (screenshots in ${shots})`);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
    shop.close();
    for (const k of [a, b]) {
      const {code} = await k.stop();
      if (!failed && code !== 0) failed = new Error('kbox serve exited ' + code + ' on SIGTERM');
    }
    fs.rmSync(work, {recursive: true, force: true});
  }
  if (failed) {
    console.error(failed.stack || failed);
    console.error('--- kbox A log ---\n' + a.log().slice(-3000));
    console.error('--- kbox B log ---\n' + b.log().slice(-3000));
    process.exit(1);
  }
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
