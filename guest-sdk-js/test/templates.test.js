// The `eddy new --lang js` templates (host/src/cli/new/js/): each kind's
// function, filled in as `eddy new` does, passes its own test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const templates = fileURLToPath(new URL('../../host/src/cli/new/js/', import.meta.url));
const data = fileURLToPath(new URL('../../host/src/cli/new/data/', import.meta.url));
const sdk = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const register = fileURLToPath(new URL('../src/register.mjs', import.meta.url));
const KINDS = ['map', 'filter', 'flat-map', 'keyed-process', 'co-process', 'broadcast-process', 'aggregate', 'window-process'];

test('every kind has its template files, and every placeholder is one eddy new fills', () => {
  for (const kind of KINDS) {
    assert.deepEqual(readdirSync(join(templates, kind)).sort(), ['function.js', 'function.test.js'], kind);
  }
  for (const file of ['README.md', 'package.json', ...KINDS.flatMap((k) => [`${k}/function.js`, `${k}/function.test.js`])]) {
    const placeholders = readFileSync(join(templates, file), 'utf8').match(/\{\{[a-z_]+\}\}/g) || [];
    for (const p of placeholders) assert.ok(['{{name}}', '{{wasm}}', '{{kind}}', '{{sdk_js}}'].includes(p), `${file}: ${p}`);
  }
});

for (const kind of KINDS) {
  test(`the ${kind} template passes its own test`, () => {
    const dir = mkdtempSync(join(tmpdir(), `eddy-new-js-${kind}-`));
    try {
      const fill = (text) =>
        text
          .replaceAll('{{name}}', `my-${kind}`)
          .replaceAll('{{wasm}}', `my_${kind.replaceAll('-', '_')}`)
          .replaceAll('{{kind}}', kind)
          .replaceAll('{{sdk_js}}', sdk);
      for (const file of ['function.js', 'function.test.js']) {
        writeFileSync(join(dir, file), fill(readFileSync(join(templates, kind, file), 'utf8')));
      }
      const pkg = JSON.parse(fill(readFileSync(join(templates, 'package.json'), 'utf8')));
      assert.equal(pkg.dependencies['eddy-sdk'], `file:${sdk}`);
      mkdirSync(join(dir, 'data'));
      cpSync(data, join(dir, 'data'), { recursive: true });
      // Without the parent's NODE_TEST_CONTEXT, which would make the child skip its files.
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT;
      const run = spawnSync(process.execPath, ['--import', register, '--test', 'function.test.js'], { cwd: dir, encoding: 'utf8', env });
      assert.match(run.stdout, /# pass [1-9]/, run.stdout + run.stderr);
      assert.match(run.stdout, /# fail 0/, run.stdout + run.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
