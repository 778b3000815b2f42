// Validate an AsyncAPI document against the AsyncAPI specification with @asyncapi/parser, offline.
//
// Usage: node tools/node/validate-asyncapi.mjs [--allow-warnings] schemas/asyncapi.yaml [more.yaml ...]
// Exit status: 0 all valid, 1 a document has errors (or warnings, unless --allow-warnings), 2 usage/setup error.
// Output per file: one line per diagnostic ("error|warning|info|hint <path>: <message> [code]"), then
// "VALID: <file> (...)" or "INVALID: <file> (...)". Several files share one start-up of node and the parser.
// The Python test suite runs this (tests/contract/test_asyncapi.py); install with `npm ci --prefix tools/node`.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'info', 'hint'];

async function main(argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  const allowWarnings = argv.includes('--allow-warnings');
  if (args.length === 0) {
    console.error('usage: node validate-asyncapi.mjs [--allow-warnings] <asyncapi.yaml> [more.yaml ...]');
    return 2;
  }
  let worst = 0;
  for (const arg of args) {
    worst = Math.max(worst, await validate(path.resolve(arg), allowWarnings));
  }
  return worst;
}

async function validate(file, allowWarnings) {
  try {
    await readFile(file);
  } catch (err) {
    console.error(`cannot read ${file}: ${err.message}`);
    return 2;
  }
  // No network: every $ref in our documents is a relative file path, so remote resolvers are never needed.
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, file).parse();
  let failing = 0;
  for (const d of diagnostics) {
    const level = SEVERITY[d.severity] ?? String(d.severity);
    const where = (d.path ?? []).join('.') || '(root)';
    console.log(`${level} ${where}: ${d.message} [${d.code}]`);
    if (d.severity === 0 || (d.severity === 1 && !allowWarnings)) failing += 1;
  }
  if (document === undefined || failing > 0) {
    console.log(`INVALID: ${file} (${failing} failing diagnostics)`);
    return 1;
  }
  const channels = document.channels().length;
  const messages = document.components().messages().length;
  const operations = document.operations().length;
  console.log(`VALID: ${file} (AsyncAPI ${document.version()}, ${channels} channels, ${operations} operations, ${messages} component messages)`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
