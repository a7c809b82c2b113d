// tests/web/common.mjs: what the node tests share: loading the npm packages installed by
// scripts/test_setup.sh (exit 77, ctest's "skipped", when they are missing), starting `kbox serve`
// on an ephemeral port in a fresh data directory, and uploading samples through the API.
import {spawn} from 'node:child_process';
import {createRequire} from 'node:module';
import fs from 'node:fs';
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

/* Starts `kbox serve --port 0`; resolves to {url, port, token, proc, dir, stop()}. */
export function startKbox(kbox, sets = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbox-node-test-'));
  const args = ['--data-dir', dir];
  for (const s of sets) args.push('--set', s);
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
      const tok = out.match(/admin token[^:]*: ([0-9a-f]{64})/);
      if (u && tok) {
        clearTimeout(timer);
        resolve({
          url: u[1], port: Number(u[2]), token: tok[1], proc, dir,
          log: () => err,
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
