// The admin console in Chromium: signed in through mcpgate itself (code + PKCE, the person's own
// admin scopes), the journeys an admin makes (a server with scopes and a tool map, a role, a
// user, the explain view, a client disabled after its blast radius), a read-only admin who sees
// nothing that would fail, a session that ends, and axe-core plus a keyboard walk on every page.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, call, form, BASE } from './lib/client.mjs';
import { launch, ARTIFACTS } from './lib/browser.mjs';
import { ROOT } from './lib/worker.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const RS = `https://console-${uniq}.example.com/mcp`;
const AXE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
let browser;
const people = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A user with a password and the given roles. */
async function person(name, roles) {
  const u = await ok('/admin/v1/users', { method: 'POST', json: { username: `${name}-${uniq}` } });
  for (const r of roles) await ok(`/admin/v1/users/${u.id}/roles/${r}`, { method: 'PUT' });
  return { id: u.id, username: u.username, password: u.password };
}

async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });
}

/** Opens the console in a fresh context and signs in at mcpgate (consenting the first time). */
async function signIn(who, hash = '#/servers') {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // API refusals the test provokes show as failed loads; anything else is a defect.
  page.on('console', (m) => m.type() === 'error' && !/^Failed to load resource/.test(m.text()) && errors.push(m.text()));
  await page.goto(`${BASE}/console${hash}`);
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const nav = page.getByRole('navigation', { name: 'Console' });
  const allow = page.getByRole('button', { name: 'Allow' });
  await nav.or(allow).first().waitFor();
  if (await allow.count()) await allow.click();
  await nav.waitFor();
  return { context, page, errors };
}

/** Visible, enabled controls a person could operate on the page. */
const controls = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
      .filter((e) => !e.disabled && e.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true }))
      .filter((e) => !e.classList.contains('skip'))
      .map((e) => e.id || `${e.tagName}:${(e.textContent || e.getAttribute('aria-label') || e.name || '').trim()}`),
  );

/** Tabs through the page and returns what received focus, in order. */
async function tabWalk(page, max = 400) {
  const seen = [];
  let outside = 0;
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      return e.id || `${e.tagName}:${(e.textContent || e.getAttribute('aria-label') || e.name || '').trim()}`;
    });
    // Focus leaves the document once per round; the walk ends when it comes round again.
    if (at === null) {
      if (++outside > 2) break;
      continue;
    }
    if (seen.includes(at) && at === seen[0]) break;
    seen.push(at);
  }
  return seen;
}

async function axe(page) {
  await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  return r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

describe('admin console', () => {
  before(async () => {
    browser = await launch();
    const readers = await ok('/admin/v1/roles', {
      method: 'POST',
      json: { name: `console-readers-${uniq}`, scopes: [{ resource: `${BASE}/admin/v1`, scope: 'admin.read' }] },
    });
    people.admin = await person('console-admin', ['rol_mcpgate_admin']);
    people.reader = await person('console-reader', [readers.id]);
    people.leaver = await person('console-leaver', ['rol_mcpgate_admin']);
  });
  after(async () => {
    await browser?.close();
  });

  test('the console document is confined: same-origin script only, no framing, versioned immutable assets', async () => {
    const r = await call('/console');
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(csp.includes(d), `${d} in ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe/);
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.doesNotMatch(r.body, /<script>/, 'no inline script');
    // The document names its script and stylesheet with their version; the Worker answers
    // them as immutable, typed, never sniffed, for this origin only.
    const script = r.body.match(/<script type="module" src="([^"]+)"/)?.[1];
    const style = r.body.match(/<link rel="stylesheet" href="([^"]+)"/)?.[1];
    assert.match(script, /^\/console\/assets\/[0-9a-f]{16}\/console\.js$/);
    assert.match(style, /^\/console\/assets\/[0-9a-f]{16}\/console\.css$/);
    for (const [path, type] of [[script, 'text/javascript'], [style, 'text/css']]) {
      const a = await fetch(`${BASE}${path}`);
      assert.equal(a.status, 200, path);
      assert.ok((await a.arrayBuffer()).byteLength > 1000, `${path} has content`);
      assert.equal(a.headers.get('content-type'), `${type}; charset=utf-8`);
      assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(a.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(a.headers.get('cross-origin-resource-policy'), 'same-origin');
    }
    // Only this version's files: another version's path is not answered (so an isolate of one
    // version never lets browsers keep its files under another's path).
    for (const path of [script.replace(/[0-9a-f]{16}/, '0000000000000000'), script.replace('console.js', 'other.js')]) {
      assert.equal((await fetch(`${BASE}${path}`)).status, 404, path);
    }
    // The console's client is built in and public: it can get only admin API tokens.
    const c = await ok('/admin/v1/clients/app_mcpgate_console');
    assert.equal(c.client_type, 'public');
    assert.deepEqual(c.redirect_uris, [`${BASE}/console`]);
    assert.deepEqual(c.resources, [`${BASE}/admin/v1`]);
  });

  test('an admin creates a server with scopes and tools, a role and a user, assigns it, and the explain view shows the path', async () => {
    const { context, page, errors } = await signIn(people.admin);
    try {
      // Tokens stay out of web storage.
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      assert.doesNotMatch(stored, /eyJ/, 'no token in web storage');

      await page.getByRole('button', { name: 'New server' }).click();
      // The API's error appears next to the field it names.
      await page.getByLabel('Identifier (canonical URL, the token audience)').fill('not a url');
      await page.getByLabel('Name', { exact: true }).fill(`Notes ${uniq}`);
      await page.getByRole('button', { name: 'Create server' }).click();
      const fieldError = page.locator('#f-new-server-identifier-err');
      await fieldError.waitFor();
      assert.equal(await page.locator('#f-new-server-identifier').getAttribute('aria-invalid'), 'true');
      await page.getByLabel('Identifier (canonical URL, the token audience)').fill(RS);
      await page.getByRole('button', { name: 'Create server' }).click();
      await page.getByRole('status').getByRole('link', { name: `Notes ${uniq}` }).click();
      await page.getByRole('heading', { name: `Notes ${uniq}` }).waitFor();

      for (const [name, implies, tools] of [
        ['notes.read', '', 'list_notes, read_note'],
        ['notes.write', 'notes.read', 'write_note'],
      ]) {
        await page.getByRole('button', { name: 'Add scope' }).click();
        await page.getByLabel('Scope name', { exact: true }).fill(name);
        await page.getByLabel('Implies (scope names)').fill(implies);
        await page.getByLabel('Tools it covers').fill(tools);
        await page.getByRole('button', { name: 'Add scope', exact: true }).last().click();
        await page.getByRole('cell', { name: name, exact: true }).waitFor();
      }
      await page.getByRole('cell', { name: 'list_notes, read_note' }).waitFor();
      await shot(page, 'server');

      await page.getByRole('link', { name: 'Roles' }).click();
      await page.getByRole('button', { name: 'New role' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('group', { name: `Notes ${uniq}` }).getByLabel('notes.write').check();
      await dialog.getByLabel('Role name').fill(`note-takers-${uniq}`);
      await dialog.getByRole('button', { name: 'Create role' }).click();
      await page.getByRole('cell', { name: `note-takers-${uniq}` }).waitFor();

      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByRole('button', { name: 'New user' }).click();
      await page.getByLabel('Username', { exact: true }).fill(`ada-${uniq}`);
      await page.getByRole('button', { name: 'Create user' }).click();
      // The generated password is shown once.
      await page.locator('.secret code').waitFor();
      assert.ok((await page.locator('.secret code').innerText()).length >= 16);
      // Search by username prefix, at the server (case-insensitively typed).
      await page.getByLabel('Search users by username (starts with)').fill(`ADA-${uniq}`);
      // (Waits until the list shows exactly the match: a list that never narrows fails here.)
      await page.waitForFunction((name) => {
        const cells = [...document.querySelectorAll('tbody tr td:first-child')].map((c) => c.textContent);
        return cells.length === 1 && cells[0] === name;
      }, `ada-${uniq}`);
      await page.getByRole('status').getByRole('link', { name: `ada-${uniq}` }).click();
      await page.getByRole('heading', { name: new RegExp(`ada-${uniq}`) }).waitFor();
      await page.getByLabel('Assign a role').selectOption({ label: `note-takers-${uniq}` });
      await page.getByRole('button', { name: 'Assign', exact: true }).click();
      await page.getByRole('link', { name: `note-takers-${uniq}` }).waitFor();

      await page.getByLabel('Server', { exact: true }).selectOption({ label: `Notes ${uniq}` });
      const why = page.locator('table.why');
      await why.getByRole('cell', { name: 'notes.read', exact: true }).waitFor();
      const text = await why.innerText();
      assert.match(text, new RegExp(`notes\\.read\\s+role note-takers-${uniq} \\(assigned directly\\), implied by notes\\.write`));
      assert.match(text, new RegExp(`notes\\.write\\s+role note-takers-${uniq} \\(assigned directly\\)`));
      await shot(page, 'explain');
      // Every server at once: only those where the user holds something.
      await page.getByLabel('Server', { exact: true }).selectOption({ label: 'Every server' });
      await page.locator('table.why caption').first().waitFor();
      await page.waitForLoadState('networkidle');
      assert.deepEqual(await page.locator('table.why caption').allInnerTexts(), [`Scopes held on ${RS}`]);

      // A group, with the user added by username.
      await page.getByRole('link', { name: 'Groups' }).click();
      await page.getByRole('button', { name: 'New group' }).click();
      await page.getByLabel('Group name').fill(`writers-${uniq}`);
      await page.getByRole('button', { name: 'Create group' }).click();
      await page.getByRole('status').getByRole('link', { name: `writers-${uniq}` }).click();
      await page.getByLabel('Add a member (username, or a user or agent id)').fill(`ada-${uniq}`);
      await page.getByRole('button', { name: 'Add member' }).click();
      await page.locator('main li').getByRole('link', { name: `ada-${uniq}` }).waitFor();

      // The audit log, filtered by action prefix: what was just done, and nothing else.
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.getByLabel('Action (e.g. user.disable, or user.)').fill('role.');
      await page.getByRole('button', { name: 'Filter' }).click();
      // (Waits until every row shown is a role action: an unfiltered log never gets there.)
      await page.waitForFunction(() => {
        const cells = [...document.querySelectorAll('tbody tr td:nth-child(3)')].map((c) => c.textContent);
        return cells.length > 0 && cells.includes('role.assign') && cells.every((a) => a.startsWith('role.'));
      });
      // Signing keys: rotate, after confirming.
      await page.getByRole('link', { name: 'Signing keys' }).click();
      await page.getByRole('cell', { name: 'active', exact: true }).waitFor();
      const before = await page.locator('tbody tr').count();
      page.once('dialog', (d) => d.accept());
      await page.getByRole('button', { name: 'Rotate now' }).click();
      await page.getByRole('status').filter({ hasText: 'Rotated' }).waitFor();
      await page.getByRole('cell', { name: 'retired' }).first().waitFor();
      assert.ok((await page.locator('tbody tr').count()) >= before);

      // Who holds a scope, from the server's side.
      await page.goto(`${BASE}/console#/servers`);
      await page.getByRole('link', { name: `Notes ${uniq}` }).click();
      await page.getByRole('button', { name: 'Who holds notes.read' }).click();
      await page.getByRole('dialog').getByText(`ada-${uniq}`).waitFor();
      assert.match(await page.getByRole('dialog').innerText(), /implied by notes\.write/);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('disabling a client shows its blast radius first, asks for a reason, and revokes', async () => {
    const role = await ok('/admin/v1/roles', { method: 'POST', json: { name: `radius-${uniq}`, scopes: [] } });
    const app = await ok('/admin/v1/applications', {
      method: 'POST',
      json: { name: `radius-app-${uniq}`, client_type: 'confidential', grant_types: ['client_credentials'], roles: [role.id], resources: [`${BASE}/admin/v1`] },
    });
    await ok(`/admin/v1/roles/${role.id}`, { method: 'PATCH', json: { scopes: [{ resource: `${BASE}/admin/v1`, scope: 'admin.read' }] } });
    const cc = () => form('/token', { grant_type: 'client_credentials', resource: `${BASE}/admin/v1` }, { basic: [app.client_id, app.client_secret] });
    const issued = await cc();
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const { context, page, errors } = await signIn(people.admin, `#/clients/${app.client_id}`);
    try {
      await page.getByRole('heading', { name: new RegExp(`radius-app-${uniq}`) }).waitFor();
      await page.getByRole('button', { name: 'Disable…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('Other live grants').waitFor();
      assert.match(await dialog.innerText(), /Other live grants\s+1/);
      const submit = dialog.getByRole('button', { name: 'Disable and revoke' });
      assert.equal(await submit.isDisabled(), true, 'no revocation without a reason');
      await shot(page, 'blast-radius');
      await dialog.getByLabel('Reason (kept in the audit log)').fill('key leaked in a log');
      await submit.click();
      await page.getByRole('status').filter({ hasText: 'Disabled' }).waitFor();
      assert.match(await page.getByRole('status').filter({ hasText: 'Disabled' }).innerText(), /1 live grants revoked/);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
    assert.equal((await cc()).status, 401, 'a disabled client gets no token');
    const r = await admin(`/admin/v1/audit?target=${app.client_id}&action=client.`);
    assert.equal(r.status, 200);
    const entry = r.body.items.find((e) => e.action === 'client.disable');
    assert.equal(entry?.detail?.reason, 'key leaked in a log', JSON.stringify(r.body.items));
    assert.ok(r.body.items.every((e) => e.target_id === app.client_id && e.action.startsWith('client.')));
    // The access token issued before is refused by the admin API.
    const after = await call('/admin/v1/users', { headers: { authorization: `Bearer ${issued.body.access_token}` } });
    assert.equal(after.status, 401);
  });

  test('a read-only admin sees every page and no control that would change anything', async () => {
    const { context, page, errors } = await signIn(people.reader);
    try {
      await page.getByText('read-only').waitFor();
      const harmless = (b) => ['Sign out', 'More', 'Filter', 'Close', 'Cancel'].includes(b) || /^Who holds /.test(b);
      for (const hash of ['#/servers', '#/roles', '#/users', '#/groups', '#/applications', '#/agents', '#/clients', '#/audit', '#/keys', '#/providers', '#/settings', `#/users/${people.admin.id}`, '#/clients/app_mcpgate_console', '#/servers/rs_mcpgate_admin']) {
        await page.goto(`${BASE}/console${hash}`);
        await page.locator('main h1').first().waitFor();
        await page.waitForLoadState('networkidle');
        const buttons = await page.locator('main button').allInnerTexts();
        const harmful = buttons.map((b) => b.trim()).filter((b) => !harmless(b));
        assert.deepEqual(harmful, [], `${hash} offers ${harmful}`);
      }
      // Signing out of the console: signing in again asks for the password (prompt=login),
      // though this browser's mcpgate session lives on (the page says how to end it).
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByText('You are signed out of the console.').waitFor();
      assert.equal(await page.getByRole('link', { name: 'sign out of mcpgate' }).getAttribute('href'), `${BASE}/account`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Password').waitFor();
      assert.match(page.url(), /prompt=login/);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('an answer the console did not ask for is refused: forged state, another issuer, no sign-in started', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const tokenRequests = [];
    page.on('request', (r) => r.url().endsWith('/token') && tokenRequests.push(r.url()));
    try {
      // Login CSRF: an attacker's code delivered to the console with no sign-in started here.
      await page.goto(`${BASE}/console?code=attacker-code&state=attacker-state&iss=${encodeURIComponent(BASE)}`);
      await page.getByRole('alert').filter({ hasText: 'did not match a sign-in started here' }).waitFor();
      assert.doesNotMatch(page.url(), /code=/, 'the code is cleared from the address bar');
      // A sign-in started here, answered with its state but by another issuer (mix-up).
      await page.goto(`${BASE}/console`);
      await page.waitForURL(/\/authorize\?/);
      const state = new URL(page.url()).searchParams.get('state');
      await page.goto(`${BASE}/console?code=c&state=${state}&iss=${encodeURIComponent('https://evil.example')}`);
      await page.getByRole('alert').filter({ hasText: 'did not come from this issuer' }).waitFor();
      assert.deepEqual(tokenRequests, [], 'no code was sent to the token endpoint');
    } finally {
      await context.close();
    }
  });

  test('hostile names in the directory are shown as text, never run', async () => {
    const hostile = `<img src=x onerror="window.__pwned=1">${uniq}`;
    await ok('/admin/v1/groups', { method: 'POST', json: { name: hostile.slice(0, 60), description: '<script>window.__pwned=2</script>' } });
    const { context, page, errors } = await signIn(people.reader, '#/groups');
    try {
      await page.getByRole('cell', { name: hostile.slice(0, 60) }).waitFor();
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.equal(await page.locator('main img').count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a session that ends sends the admin back to sign in', async () => {
    const { context, page } = await signIn(people.leaver, '#/users');
    try {
      await page.getByRole('heading', { name: 'Users' }).waitFor();
      // The admin signs them out everywhere and withdraws the console's consent: the refresh
      // token dies with it, and so do the tokens it issued.
      await ok(`/admin/v1/users/${people.leaver.id}/sessions`, { method: 'DELETE' });
      await ok(`/admin/v1/users/${people.leaver.id}/grants?client_id=app_mcpgate_console&resource_server_id=rs_mcpgate_admin`, { method: 'DELETE' });
      await page.getByRole('link', { name: 'Groups' }).click();
      await page.getByLabel('Password').waitFor({ timeout: 20_000 });
      assert.match(page.url(), /\/authorize\?/);
      await shot(page, 'signed-out');
    } finally {
      await context.close();
    }
  });

  test('every console page passes axe-core (no serious or critical violation) and every control is reachable by keyboard', async () => {
    const rs = (await ok('/admin/v1/resource-servers?limit=200')).items.find((x) => x.identifier === RS);
    const { context, page } = await signIn(people.admin);
    try {
      const pages = ['#/servers', `#/servers/${rs?.id ?? 'rs_mcpgate_admin'}`, '#/roles', '#/users', `#/users/${people.admin.id}`, '#/groups', '#/applications', '#/agents', '#/clients', '#/clients/app_mcpgate_console', '#/audit', '#/keys', '#/providers', '#/settings'];
      const report = [];
      for (const hash of pages) {
        await page.goto(`${BASE}/console${hash}`);
        await page.locator('main h1').first().waitFor();
        await page.waitForLoadState('networkidle');
        const v = await axe(page);
        if (v.length) report.push({ hash, v });
        const all = new Set(await controls(page));
        const reached = new Set(await tabWalk(page));
        const missed = [...all].filter((c) => !reached.has(c));
        assert.deepEqual(missed, [], `${hash}: not reachable by keyboard: ${missed}`);
      }
      assert.deepEqual(report, []);
      // The dialogs too: who holds a scope, a new role, the blast radius.
      if (rs) {
        await page.goto(`${BASE}/console#/servers/${rs.id}`);
        await page.getByRole('button', { name: 'Who holds notes.read' }).click();
        await page.getByRole('dialog').getByRole('list').waitFor();
        assert.deepEqual(await axe(page), []);
        await page.keyboard.press('Escape');
        await page.getByRole('dialog').waitFor({ state: 'detached' });
      }
      await page.goto(`${BASE}/console#/roles`);
      await page.getByRole('button', { name: 'New role' }).click();
      await page.getByRole('dialog').getByLabel('Role name').waitFor();
      await page.waitForLoadState('networkidle');
      assert.deepEqual(await axe(page), []);
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
      await page.goto(`${BASE}/console#/users/${people.reader.id}`);
      await page.getByRole('button', { name: 'Disable…' }).click();
      await page.getByRole('dialog').getByText('Refresh-token families').waitFor();
      assert.deepEqual(await axe(page), []);
      await page.keyboard.press('Escape');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
    } finally {
      await context.close();
    }
  });
});
