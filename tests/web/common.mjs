// tests/web/common.mjs: what the node tests share: loading the npm packages installed by
// scripts/test_setup.sh (exit 77, ctest's "skipped", when they are missing), starting `kbox serve`
// on an ephemeral port in a fresh data directory, and uploading samples through the API.
import {spawn, spawnSync} from 'node:child_process';
import crypto from 'node:crypto';
import {createRequire} from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SKIP = 77;

export function requirePackage(name) {
  const req = createRequire(path.join(here, 'node', 'package.json'));
  try {
    return req(name);
  } catch (e) {
    console.log(`SKIP: npm package '${name}' is missing; run scripts/test_setup.sh`);
    process.exit(SKIP);
  }
}

export function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

/* Starts `kbox serve --port 0`; resolves to {url, port, token, proc, dir, log(), stdout(), stop()}. opts.setup(dir),
 * when given, runs on the fresh data directory before the server starts and may return more
 * "key=value" settings (e.g. paths inside the directory). */
export function startKbox(kbox, sets = [], opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbox-node-test-'));
  const args = ['--data-dir', dir];
  /* the break-glass token (auth.admin_token) gives the tests owner rights without an account */
  const token = crypto.randomBytes(32).toString('hex');
  args.push('--set', 'auth.admin_token=' + token);
  const more = opts.setup ? opts.setup(dir) || [] : [];
  for (const s of [...sets, ...more]) args.push('--set', s);
  args.push('serve', '--port', '0', '--threads', '2');
  const proc = spawn(kbox, args, {stdio: ['ignore', 'pipe', 'pipe']});
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('kbox serve did not start: ' + out + err)), 30000);
    proc.on('exit', (code) => reject(new Error(`kbox serve exited ${code}: ${out}${err}`)));
    proc.stdout.on('data', (d) => {
      out += d;
      const u = out.match(/serving (http:\/\/[0-9.]+:(\d+))\//);
      const tok = /kbox: log in.*\n/.test(out);
      if (u && tok) {
        clearTimeout(timer);
        resolve({
          url: u[1], port: Number(u[2]), token, proc, dir,
          log: () => err,
          stdout: () => out, /* what kbox serve printed (the one-time setup link, when no owner exists) */
          stop: () => new Promise((res) => {
            proc.removeAllListeners('exit');
            proc.on('exit', (code, sig) => { fs.rmSync(dir, {recursive: true, force: true}); res({code, sig}); });
            proc.kill('SIGTERM');
          }),
        });
      }
    });
  });
}

/* Uploads files through POST /api/documents and waits until each is indexed. */
export async function uploadAndWait(k, files, collection) {
  const fd = new FormData();
  for (const f of files) fd.append('file', new Blob([fs.readFileSync(f)]), path.basename(f));
  const q = collection ? '?collection=' + encodeURIComponent(collection) : '';
  const r = await fetch(k.url + '/api/documents' + q, {method: 'POST', body: fd, headers: {Authorization: 'Bearer ' + k.token}});
  const body = await r.json();
  check(r.status === 202, 'upload status ' + r.status + ' ' + JSON.stringify(body));
  for (const d of body.documents) {
    check(!d.error, 'upload error ' + JSON.stringify(d));
    if (!d.job_id) continue;
    for (let i = 0; ; i++) {
      const j = await (await fetch(`${k.url}/api/jobs/${d.job_id}`, {headers: {Authorization: 'Bearer ' + k.token}})).json();
      if (j.state === 'done') break;
      check(j.state !== 'failed', 'ingestion failed: ' + JSON.stringify(j));
      check(i < 600, 'ingestion did not finish');
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return body.documents;
}

/* Writes a synthetic GGUF with `kbox model synth` (seeded random weights: the text is noise, but
 * loading, prompting, streaming and grounding are all real). */
export function synthModel(kbox, out, args = ['--arch', 'llama', '--type', 'Q8_0', '--seed', '7']) {
  const r = spawnSync(kbox, ['model', 'synth', ...args, '--out', out], {encoding: 'utf8'});
  check(r.status === 0, 'kbox model synth: ' + r.stderr);
  return out;
}

/* Copies a synthetic GGUF, replacing its chat template by a DeepSeek-R1 style one whose
 * generation prompt opens "<think>\n" (the newer R1 templates do). kbox then starts generation
 * inside the reasoning block, as with a real R1 model. The template is rewritten in place and padded
 * with spaces to its old length, so no offset in the file moves. */
export function r1Variant(srcPath, dstPath) {
  const b = fs.readFileSync(srcPath);
  const key = Buffer.from('tokenizer.chat_template');
  const at = b.indexOf(key);
  check(at > 0, 'no chat template in ' + srcPath);
  const v = at + key.length;
  check(b.readUInt32LE(v) === 8, 'chat template is a GGUF string');
  const n = Number(b.readBigUInt64LE(v + 4));
  const user = '<\uff5cUser\uff5c>';
  const asst = '<\uff5cAssistant\uff5c>';
  const tmpl = Buffer.from("{% for m in messages %}{% if m['role'] == 'user' %}{{ '" + user + "' + m['content'] }}" +
    "{% else %}{{ '" + asst + "' + m['content'] }}{% endif %}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '" + asst + "<think>\\n' }}{% endif %}");
  check(tmpl.length <= n, `R1 template (${tmpl.length} bytes) fits the old one (${n})`);
  b.fill(0x20, v + 12, v + 12 + n);
  tmpl.copy(b, v + 12);
  fs.writeFileSync(dstPath, b);
  return dstPath;
}

/* Splits a text/event-stream body into [{event, data}] with data parsed as JSON. */
export function parseSSE(text) {
  const out = [];
  for (const raw of text.split('\n\n')) {
    let event = 'message';
    const data = [];
    for (const line of raw.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) out.push({event, data: JSON.parse(data.join('\n'))});
  }
  return out;
}

/* A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort() {
  const s = http.createServer();
  await new Promise((res) => s.listen(0, '127.0.0.1', res));
  const port = s.address().port;
  await new Promise((res) => s.close(res));
  return port;
}

/* A tiny site on 127.0.0.1 (port 0: any free one); html(req) gives the page, and may change between
 * requests or return null for a 404. Resolves to {srv, origin}. */
export async function site(html, port = 0) {
  const srv = http.createServer((req, res) => {
    const page = html(req);
    res.writeHead(page === null ? 404 : 200, {'Content-Type': 'text/html; charset=utf-8'});
    res.end(page === null ? 'no' : page);
  });
  await new Promise((res) => srv.listen(port, '127.0.0.1', res));
  return {srv, origin: `http://127.0.0.1:${srv.address().port}`};
}

/* A shop's page embedding k's chat widget over every collection. */
export function shopHtml(k) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body><h1>Shop</h1>
<script src="${k.url}/widget.js" data-collection=""></script></body></html>`;
}

/* For browser tests: playwright-core's chromium and the screenshot folder BUILD_DIR/screenshots,
 * or exit 77 (skip) when /usr/bin/chromium or the package is missing. */
export function browserOrSkip(build) {
  const executablePath = '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    console.log('SKIP: /usr/bin/chromium is missing (Debian package chromium)');
    process.exit(SKIP);
  }
  const {chromium} = requirePackage('playwright-core');
  const shots = path.join(build, 'screenshots');
  fs.mkdirSync(shots, {recursive: true});
  const launch = () => chromium.launch({executablePath, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']});
  return {launch, shots};
}

/* Runs body(), then always stops the server k; exits 1 with the error and the server's log tail
 * when body failed or the server did not stop cleanly. */
export async function runWithServer(k, body) {
  let failed = null;
  try {
    await body();
  } catch (e) {
    failed = e;
  }
  const {code} = await k.stop();
  if (!failed && code !== 0) failed = new Error('kbox serve exited ' + code + ' on SIGTERM');
  if (failed) {
    console.error(failed.stack || failed);
    console.error('--- kbox log ---\n' + k.log().slice(-4000));
    process.exit(1);
  }
}
