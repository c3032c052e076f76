// node --test test/   (run from the package folder, after npm ci)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CHECK = join(here, '..', 'check.mjs');
const fx = (name) => join(here, 'fixtures', name);
const run = (...files) => spawnSync(process.execPath, [CHECK, ...files], { encoding: 'utf8' });

test('valid file passes (exit 0, every block ok)', () => {
  const r = run(fx('valid.md'));
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /valid\.md: block 1: ok\n/);
  assert.match(r.stdout, /valid\.md: block 2: ok\n/);
  assert.doesNotMatch(r.stdout, /block 3/); // the python fence is ignored
});

for (const [file, expect] of [
  ['unbalanced-bracket.md', /Parse error/],
  ['dangling-arrow.md', /got 'EOF'/],
  ['unknown-type.md', /No diagram type detected/],
  ['quote-in-label.md', /got 'STR'/],
  ['unclosed-fence.md', /never closed/],
  ['no-block.md', /no mermaid block found/],
  ['second-block-bad.md', /block 1: ok\n[\s\S]*block 2: FAIL/],
]) {
  test(`${file} fails (exit 1)`, () => {
    const r = run(fx(file));
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, expect);
  });
}

test('one bad file among good ones -> exit 1', () => {
  const r = run(fx('valid.md'), fx('dangling-arrow.md'));
  assert.equal(r.status, 1);
  assert.match(r.stdout, /valid\.md: block 2: ok/);
});

test('no arguments -> usage, exit 2', () => {
  assert.equal(run().status, 2);
});

// Escaping rules for flowchart labels, as documented in README.md.
// [label-bearing statement, should it parse?]
export const LABEL_CASES = [
  // double quote
  ['a["x"y"]', false], ['a[x"y]', false], ['a -->|say "hi"| b', false],
  ['a["x#quot;y"]', true], ['a["x#34;y"]', true], ['a -->|say #quot;hi#quot;| b', true],
  ['a["x\\"y"]', false], // no backslash escape
  ["a[it's]", true], ['a["it\'s"]', true],
  ['a["`md **string** with "quotes"`"]', false],
  // hash
  ['a[issue #5]', true], ['a["issue #5"]', true], ['a[C#35;]', true],
  // pipe
  ['a[x|y]', false], ['a["x|y"]', true], ['a[x#124;y]', true],
  ['a -->|x|y| b', false], ['a -->|"x|y"| b', true], ['a -->|x#124;y| b', true],
  // brackets / parens / braces
  ['a[x[y]', false], ['a[x]y]', false], ['a[f(x)]', false], ['a[x{y}]', false],
  ['a["x[y]z"]', true], ['a["f(x)"]', true], ['a["x{y}"]', true],
  ['a[x #91;y#93;]', true], ['a[f#40;x#41;]', true],
  // < > &
  ['a[x < y]', true], ['a[x > y]', true], ['a["x < y > z"]', true],
  ['a[x & y]', true], ['a["x &amp; y"]', true], ['a[x #lt; y #gt; z #amp; w]', true],
  // newlines
  ['a[x<br>y]', true], ['a["x<br/>y"]', true], ['a["x\\ny"]', true],
  ['a["x\ny"]', true], ['a["`line 1\nline 2`"]', true],
  // other characters
  ['a[x;y]', true], ['a[x:y]', true], ['a[50%]', true], ['a[x=y]', true], ['a[api ×3 2–8]', true],
  ['a[x@y]', false], ['a["x@y"]', true], ['a[/x]', false], ['a["/x"]', true], ['a[""]', false], ['a[" "]', true], ['a[\\x]', false], ['a[x &amp; y]', true],
  // reserved word as node id
  ['end --> b', false], ['End --> b', true], ['a[end]', true],
];

test('label escaping rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mermaid-esc-'));
  const md = LABEL_CASES.map(([stmt]) => '```mermaid\nflowchart LR\n  ' + stmt + '\n```\n').join('\n');
  const file = join(dir, 'esc.md');
  writeFileSync(file, md);
  const out = run(file).stdout;
  const got = [...out.matchAll(/block (\d+): (ok|FAIL)/g)].map((m) => m[2] === 'ok');
  assert.equal(got.length, LABEL_CASES.length, out);
  const wrong = LABEL_CASES.filter(([, want], i) => got[i] !== want)
    .map(([stmt, want]) => `${JSON.stringify(stmt)} expected ${want ? 'ok' : 'FAIL'}`);
  assert.deepEqual(wrong, []);
});
