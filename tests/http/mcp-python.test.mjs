// A second independent MCP client: the official Python MCP SDK's OAuth client
// (tests/http/python_mcp_client.py) against the example MCP server, knowing only its URL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { BASE, admin } from './lib/client.mjs';
import { startNotesMcp } from './lib/mcp.mjs';
import { ROOT } from './lib/worker.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const PASSWORD = 'correct horse battery staple';
let notes;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  notes = await startNotesMcp(BASE, { pollSecs: 1 });
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: notes.resource, name: 'Notes',
    scopes: [{ name: 'notes.read' }, { name: 'notes.write', implies: ['notes.read'] }, { name: 'notes.delete' }] } });
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `py-writer-${uniq}`, scopes: [{ resource: notes.resource, scope: 'notes.write' }] } })).id;
  f.username = `py-${uniq}`;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: f.username, password: PASSWORD } })).id;
  await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
});

after(async () => {
  await notes?.stop();
});

describe('the MCP Python SDK against the example server', () => {
  test('discovers, registers, signs in, consents and calls tools', async () => {
    const { stdout } = await promisify(execFile)(join(ROOT, '.venv/bin/python'), [join(ROOT, 'tests/http/python_mcp_client.py')], {
      env: { ...process.env, MCP_URL: notes.resource, MCP_USERNAME: f.username, MCP_PASSWORD: PASSWORD },
      timeout: 120_000,
    });
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^registered dcr_/);
    assert.equal(lines[1], 'tools create_note delete_note list_notes read_note update_note');
    assert.equal(lines[2], 'list_notes error=False');
    assert.equal(lines[3], 'create_note error=False');
    // Asked for every tool scope, granted what the role holds (write implies read).
    assert.equal(lines[4], 'scope notes.read notes.write');
  });
});
