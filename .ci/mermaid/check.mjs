#!/usr/bin/env node
// Validate every ```mermaid fenced block in the given Markdown files with
// Mermaid's own parser (mermaid.parse from the pinned `mermaid` package).
//
//   node check.mjs FILE.md [FILE.md ...]
//
// Exit status: 0 = every file has >= 1 mermaid block and all blocks parse;
//              1 = a block failed, a file had no mermaid block, an unclosed
//                  fence, or a file could not be read; 2 = usage error.
//
// Runs in plain Node (no browser). Mermaid sanitises node/edge labels with
// DOMPurify while parsing; DOMPurify needs a DOM `window` and, without one,
// parsing any labelled flowchart fails with "DOMPurify.addHook is not a
// function". DOMPurify binds to `globalThis.window` when it is first imported,
// so a jsdom window is installed BEFORE mermaid is imported (dynamic import).

import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0 || files.includes('-h') || files.includes('--help')) {
  console.error('usage: node check.mjs FILE.md [FILE.md ...]');
  process.exit(2);
}

const { JSDOM } = await import('jsdom');
globalThis.window = new JSDOM('').window;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

// CommonMark-style fenced code blocks: an opening fence of >= 3 backticks or
// tildes, indented by any amount (so blocks nested in list items are found),
// info string whose first word is "mermaid"; closed by a fence of the same
// character that is at least as long and has nothing after it.
// Content lines lose up to the opening fence's indentation.
function extractMermaidBlocks(markdown) {
  const lines = markdown.split(/\r\n|\r|\n/);
  const blocks = [];
  let open = null; // { char, len, indent, isMermaid, startLine, body: [] }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!open) {
      const m = /^([ \t]*)(`{3,}|~{3,})(.*)$/.exec(line);
      if (!m) continue;
      const [, indent, fence, info] = m;
      if (fence[0] === '`' && info.includes('`')) continue; // not a fence
      const lang = info.trim().split(/\s+/)[0].replace(/^\{|\}$/g, '');
      open = {
        char: fence[0], len: fence.length, indent: indent.length,
        isMermaid: lang === 'mermaid', startLine: i + 1, body: [],
      };
      continue;
    }
    const close = /^[ \t]*(`{3,}|~{3,})[ \t]*$/.exec(line);
    if (close && close[1][0] === open.char && close[1].length >= open.len) {
      if (open.isMermaid) blocks.push({ startLine: open.startLine, text: open.body.join('\n'), closed: true });
      open = null;
      continue;
    }
    let k = 0;
    while (k < open.indent && (line[k] === ' ' || line[k] === '\t')) k++;
    open.body.push(line.slice(k));
  }
  if (open && open.isMermaid) {
    blocks.push({ startLine: open.startLine, text: open.body.join('\n'), closed: false });
  }
  return blocks;
}

function showBlock(block) {
  return block.text
    .split('\n')
    .map((l, j) => `    ${String(block.startLine + 1 + j).padStart(5)} | ${l}`)
    .join('\n');
}

let failed = false;
for (const file of files) {
  let src;
  try {
    src = readFileSync(file, 'utf8');
  } catch (e) {
    console.log(`${file}: cannot read: ${e.message}`);
    failed = true;
    continue;
  }
  const blocks = extractMermaidBlocks(src);
  if (blocks.length === 0) {
    console.log(`${file}: no mermaid block found`);
    failed = true;
    continue;
  }
  for (const [n, block] of blocks.entries()) {
    const label = `${file}: block ${n + 1}`;
    if (!block.closed) {
      console.log(`${label}: FAIL (fence opened at line ${block.startLine} is never closed)`);
      failed = true;
      continue;
    }
    try {
      await mermaid.parse(block.text); // throws on any syntax error / unknown diagram type
      console.log(`${label}: ok`);
    } catch (e) {
      failed = true;
      const msg = String(e?.message ?? e).trim().replace(/\n/g, '\n    ');
      console.log(`${label}: FAIL (fence at line ${block.startLine})\n    ${msg}\n  block (file line numbers):\n${showBlock(block)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
