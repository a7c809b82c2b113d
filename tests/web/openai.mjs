// tests/web/openai.mjs KBOX SRC_DIR BUILD_DIR: the official `openai` npm client, unchanged, pointed at
// kbox's /v1: list models (collections), chat completions streamed and not, embeddings in both
// encodings, and an unknown model as a NotFoundError. Exit 77 (skip) without the package.
import path from 'node:path';
import {check, requirePackage, startKbox, uploadAndWait} from './common.mjs';

const [kbox, src] = process.argv.slice(2);
const OpenAI = requirePackage('openai').default || requirePackage('openai');

async function main() {
  const k = await startKbox(kbox);
  let failed = null;
  try {
    await uploadAndWait(k, [path.join(src, 'samples/en/faq.md'), path.join(src, 'samples/en/returns-shipping.html')]);
    const r = await fetch(k.url + '/api/collections', {method: 'POST', headers: {Authorization: 'Bearer ' + k.token,
      'Content-Type': 'application/json'}, body: JSON.stringify({name: 'handbook'})});
    check(r.status === 201, 'collection created');
    await uploadAndWait(k, [path.join(src, 'samples/en/employee-handbook.txt')], 'handbook');

    const client = new OpenAI({baseURL: k.url + '/v1', apiKey: 'anything-works-when-public', maxRetries: 0});

    const models = await client.models.list();
    const ids = [];
    for await (const m of models) ids.push(m.id);
    check(ids.includes('kbox') && ids.includes('handbook'), 'models list the collections: ' + ids.join(','));

    const c = await client.chat.completions.create({
      model: 'kbox',
      messages: [{role: 'system', content: 'Answer briefly.'}, {role: 'user', content: 'How many days do I have to return a product?'}],
    });
    check(c.object === 'chat.completion', 'object is chat.completion');
    check(c.choices[0].message.role === 'assistant', 'assistant message');
    check(/45/.test(c.choices[0].message.content), 'answer mentions 45 days: ' + c.choices[0].message.content);
    check(c.choices[0].finish_reason === 'stop', 'finish_reason stop');
    check(Array.isArray(c.citations) && c.citations.length > 0, 'citations extension present');

    // `model` names the collection: the handbook question is answered from the handbook only
    const h = await client.chat.completions.create({model: 'handbook',
      messages: [{role: 'user', content: 'How many days of paid annual leave do employees get?'}]});
    check(/27/.test(h.choices[0].message.content), 'handbook collection answers 27 days: ' + h.choices[0].message.content);
    check(h.citations.every((x) => x.document === 'employee-handbook.txt'), 'citations only from the handbook');

    // kbox's conversation_id extension passes through a stock client as an extra body member
    const conv = await client.chat.completions.create({model: 'kbox', conversation_id: 'oa-test-1',
      messages: [{role: 'user', content: 'How many days do I have to return a product?'}]});
    check(/45/.test(conv.choices[0].message.content), 'answer with a conversation id');

    const stream = await client.chat.completions.create({model: 'kbox', stream: true,
      messages: [{role: 'user', content: 'When do I get my refund after a return?'}]});
    let text = '';
    let chunks = 0;
    let finish = null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0].delta.content || '';
      if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
    }
    check(chunks > 2, 'streamed in several chunks: ' + chunks);
    check(/refund/i.test(text), 'streamed answer: ' + text);
    check(finish === 'stop', 'stream ends with stop');

    const e64 = await client.embeddings.create({model: 'kbox', input: ['refund policy', 'annual leave']});
    check(e64.data.length === 2, 'two embeddings');
    const v = e64.data[0].embedding;
    check(v.length === 512, 'dimension 512, got ' + v.length);
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    check(Math.abs(norm - 1) < 1e-3, 'L2-normalised, norm ' + norm);
    const ef = await client.embeddings.create({model: 'kbox', input: 'refund policy', encoding_format: 'float'});
    const w = ef.data[0].embedding;
    check(w.length === 512 && w.every((x, i) => Math.abs(x - v[i]) < 1e-6), 'float and base64 encodings agree');

    let notFound = null;
    try {
      await client.chat.completions.create({model: 'no-such-collection', messages: [{role: 'user', content: 'hi'}]});
    } catch (e) { notFound = e; }
    check(notFound instanceof OpenAI.NotFoundError, 'unknown model is a NotFoundError: ' + notFound);
    check(/no-such-collection/.test(notFound.message), 'error message names the model');
    console.log('openai: ok');
  } catch (e) {
    failed = e;
  }
  const {code} = await k.stop();
  if (failed) {
    console.error(failed.stack || failed);
    console.error('--- kbox log ---\n' + k.log().slice(-3000));
    process.exit(1);
  }
  check(code === 0, 'kbox exits 0 on SIGTERM');
}

main().catch((e) => { console.error(e.stack || e); process.exit(1); });
