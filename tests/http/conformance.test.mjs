// The @modelcontextprotocol/conformance server scenarios against the example MCP server, behind
// mcpgate. The conformance runner sends no credentials, so a small local proxy adds an mcpgate
// access token (client_credentials, an agent holding every notes scope) to each request: the
// scenarios then exercise the protected server as an authorized client would. The results are
// written to tests/artifacts/conformance.json and summarised in tests/README.md.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, admin, form, bearerProxy } from './lib/client.mjs';
import { startNotesMcp } from './lib/mcp.mjs';
import { ROOT } from './lib/worker.mjs';

const uniq = `${process.pid}-${Date.now()}`;
// Scenarios about tools and the protocol basics apply to this server; the rest exercise
// features it does not offer (resources, prompts, sampling, logging, completion, ...).
const APPLICABLE = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];
let notes, proxy, proxyUrl, token;
const results = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  notes = await startNotesMcp(BASE, { pollSecs: 5 });
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: notes.resource, name: 'Notes',
    scopes: [{ name: 'notes.read' }, { name: 'notes.write' }, { name: 'notes.delete' }] } });
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `conf-${uniq}`, scopes: ['notes.read', 'notes.write', 'notes.delete'].map((scope) => ({ resource: notes.resource, scope })) } })).id;
  const group = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `conf-${uniq}` } })).id;
  await ok(`/admin/v1/groups/${group}/roles/${role}`, { method: 'PUT' });
  const agent = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'conformance runner', owner: 'ci', groups: [group] } });
  const t = await form('/token', { grant_type: 'client_credentials', resource: notes.resource }, { basic: [agent.client_id, agent.client_secret] });
  token = t.body.access_token;
  proxy = await bearerProxy(notes.resource, token);
  proxyUrl = proxy.url;
});

after(async () => {
  proxy?.close();
  await notes?.stop();
  mkdirSync(join(ROOT, 'tests/artifacts'), { recursive: true });
  writeFileSync(join(ROOT, 'tests/artifacts/conformance.json'), JSON.stringify(results, null, 2));
});

describe('MCP conformance (server scenarios) against the protected example server', () => {
  for (const scenario of APPLICABLE) {
    test(scenario, async () => {
      const run = promisify(execFile);
      let out;
      try {
        out = await run(join(ROOT, 'node_modules/.bin/conformance'), ['server', '--url', proxyUrl, '--scenario', scenario], { cwd: ROOT, timeout: 120_000 });
      } catch (e) {
        out = e;
      }
      const text = `${out.stdout ?? ''}${out.stderr ?? ''}`;
      results[scenario] = { passed: (out.code ?? 0) === 0, output: text.slice(-2000) };
      assert.equal(out.code ?? 0, 0, text.slice(-3000));
    });
  }
});
