// The console's pages, one per part of the directory.
import { useState } from 'preact/hooks';
import { api, canWrite } from './auth.js';
import { Action, Dialog, Form, Head, List, Loading, Problem, SecretOnce, enc, flash, link, useApi, when } from './ui.jsx';
import { Revoke } from './revoke.jsx';

const status = (it) => <span class={`badge ${it.status}`}>{it.status}</span>;

/* ---------- MCP servers ---------- */

const serverFields = (rs = {}) => [
  ...(rs.id ? [] : [{ name: 'identifier', label: 'Identifier (canonical URL, the token audience)', required: true }]),
  { name: 'name', label: 'Name', required: true, value: rs.name },
  { name: 'description', label: 'Description', type: 'textarea', value: rs.description },
  ...(rs.id ? [] : [{ name: 'kind', label: 'Kind', type: 'select', options: ['mcp', 'api'], value: 'mcp' }]),
  { name: 'access_token_ttl', label: 'Access-token lifetime (seconds)', type: 'number', value: rs.access_token_ttl ?? 300 },
  { name: 'default_scopes', label: 'Default scopes (when a client asks for none)', type: 'list', value: rs.default_scopes ?? [] },
  { name: 'allow_self_registered', label: 'Self-registered clients may get tokens', type: 'checkbox', value: rs.allow_self_registered ?? false },
  { name: 'self_registered_max_scopes', label: 'Most a self-registered client may get', type: 'list', value: rs.self_registered_max_scopes ?? [] },
  { name: 'unmapped_tools', label: 'Tools no scope maps (gateway)', type: 'select', options: ['deny', 'allow'], value: rs.unmapped_tools ?? 'deny' },
];
const serverBody = (v) => ({
  ...v,
  default_scopes: v.default_scopes.length ? v.default_scopes : null,
  self_registered_max_scopes: v.self_registered_max_scopes.length ? v.self_registered_max_scopes : null,
});

export function Servers() {
  return (
    <List
      title="MCP servers"
      path="/resource-servers"
      rowLink={(it) => link('servers', it.id)}
      columns={[
        { label: 'Name', value: (it) => it.name },
        { label: 'Identifier', value: (it) => it.identifier },
        { label: 'Token lifetime', value: (it) => `${it.access_token_ttl} s` },
        { label: 'Self-registration', value: (it) => (it.allow_self_registered ? 'allowed' : 'no') },
      ]}
      create={{ noun: 'server', fields: serverFields(), submit: (v) => api('POST', '/resource-servers', serverBody(v)), done: (r) => <p class="ok" role="status">Created <a href={link('servers', r.id)}>{r.name}</a>.</p> }}
    />
  );
}

const scopeFields = (s = {}) => [
  ...(s.name ? [] : [{ name: 'name', label: 'Scope name', required: true }]),
  { name: 'description', label: 'Description (shown on the consent page)', value: s.description },
  { name: 'implies', label: 'Implies (scope names)', type: 'list', value: s.implies ?? [] },
  { name: 'tools', label: 'Tools it covers', type: 'list', value: s.tools ?? [] },
];

export function Server({ id }) {
  const rs = useApi(`/resource-servers/${enc(id)}`);
  const [editing, setEditing] = useState(null);
  const [adding, setAdding] = useState(false);
  const [holders, setHolders] = useState(null);
  const base = `/resource-servers/${enc(id)}`;
  return (
    <Loading state={rs}>
      {(s) => (
        <section>
          <header class="page-head">
            <h1>{s.name}</h1>
            <Action label="Delete server" danger confirm={`Delete ${s.name} and its scopes? Roles lose them.`} run={() => api('DELETE', base)} onDone={() => (location.hash = '#/servers')} />
          </header>
          <p class="muted">
            <code>{s.identifier}</code> · {s.kind} · id {s.id}
          </p>
          {canWrite() ? (
            <details>
              <summary>Edit settings</summary>
              <Form id="server" label="Save server" fields={serverFields(s)} submit={(v) => api('PATCH', base, serverBody(v))} onDone={rs.reload} />
            </details>
          ) : (
            <dl>
              <dt>Token lifetime</dt>
              <dd>{s.access_token_ttl} s</dd>
              <dt>Default scopes</dt>
              <dd>{(s.default_scopes || []).join(' ') || '—'}</dd>
              <dt>Self-registered clients</dt>
              <dd>{s.allow_self_registered ? `allowed (${(s.self_registered_max_scopes || ['any']).join(' ')})` : 'not allowed'}</dd>
            </dl>
          )}
          <h2>Scopes</h2>
          <table>
            <Head cols={['Scope', 'Implies', 'Tools', 'Description']} actions />
            <tbody>
              {s.scopes.map((sc) => (
                <tr>
                  <td>
                    <code>{sc.name}</code>
                  </td>
                  <td>{sc.implies.join(', ') || '—'}</td>
                  <td>{sc.tools.join(', ') || '—'}</td>
                  <td>{sc.description}</td>
                  <td class="row-actions">
                    <button class="secondary" onClick={() => setHolders(sc.name)}>
                      Who holds {sc.name}
                    </button>
                    {canWrite() && (
                      <button class="secondary" onClick={() => setEditing(sc)}>
                        Edit {sc.name}
                      </button>
                    )}
                    <Action label={`Delete ${sc.name}`} danger confirm={`Delete scope ${sc.name}? It is removed from every role.`} run={() => api('DELETE', `${base}/scopes/${enc(sc.name)}`)} onDone={rs.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {canWrite() && !adding && <button onClick={() => setAdding(true)}>Add scope</button>}
          {adding && <Form id="scope" label="Add scope" fields={scopeFields()} submit={(v) => api('POST', `${base}/scopes`, v)} cancel={() => setAdding(false)} onDone={() => (setAdding(false), rs.reload())} />}
          {editing && (
            <Dialog title={`Edit ${editing.name}`} onClose={() => setEditing(null)}>
              <Form id="scope-edit" label="Save scope" fields={scopeFields(editing)} submit={(v) => api('PATCH', `${base}/scopes/${enc(editing.name)}`, v)} cancel={() => setEditing(null)} onDone={() => (setEditing(null), rs.reload())} />
            </Dialog>
          )}
          {holders && <Holders server={s} scope={holders} onClose={() => setHolders(null)} />}
        </section>
      )}
    </Loading>
  );
}

/** Who holds a scope: the roles that grant it (directly or by implication) and who has them. */
function Holders({ server, scope, onClose }) {
  const h = useApi(`/resource-servers/${enc(server.id)}/scopes/${enc(scope)}/holders`);
  return (
    <Dialog title={`Who holds ${scope}`} onClose={onClose}>
      <Loading state={h}>
        {(d) => (
          <ul class="holders">
            {d.items.map((x) => (
              <li>
                <a href={link(x.type === 'user' ? 'users' : x.type === 'group' ? 'groups' : 'clients', x.id)}>{x.name}</a> ({x.type}) through role <a href={link('roles', x.role_id)}>{x.role}</a>
                {x.implied_by ? ` (implied by ${x.implied_by})` : ''}
                {x.via_group ? `, member of ${x.via_group}` : ''}
                {x.status === 'disabled' ? ' — disabled: holds nothing while disabled' : ''}
              </li>
            ))}
            {d.items.length === 0 && <li class="muted">Nobody holds it.</li>}
          </ul>
        )}
      </Loading>
      <button class="secondary" onClick={onClose}>
        Close
      </button>
    </Dialog>
  );
}

/* ---------- Roles ---------- */

/** Scope checkboxes for every server (a role's scopes), as { resource, scope } pairs. */
function ScopePicker({ value, onChange }) {
  const servers = useApi('/resource-servers?limit=100');
  const has = (r, s) => value.some((x) => x.resource === r && x.scope === s);
  const toggle = (r, s) => onChange(has(r, s) ? value.filter((x) => !(x.resource === r && x.scope === s)) : [...value, { resource: r, scope: s }]);
  return (
    <Loading state={servers}>{(d) => d.items.map((rs) => <ServerScopes rs={rs} has={has} toggle={toggle} />)}</Loading>
  );
}

function ServerScopes({ rs, has, toggle }) {
  const scopes = useApi(`/resource-servers/${enc(rs.id)}/scopes?limit=200`);
  return (
    <fieldset>
      <legend>{rs.name}</legend>
      <Loading state={scopes}>
        {(d) =>
          d.items.map((sc) => {
            const id = `pick-${rs.id}-${sc.name}`;
            return (
              <div class="field check">
                <input id={id} type="checkbox" checked={has(rs.identifier, sc.name)} disabled={!canWrite()} onChange={() => toggle(rs.identifier, sc.name)} />
                <label for={id}>{sc.name}</label>
              </div>
            );
          })
        }
      </Loading>
    </fieldset>
  );
}

function RoleForm({ role, onDone, cancel }) {
  const [scopes, setScopes] = useState(role?.scopes ?? []);
  return (
    <>
      <ScopePicker value={scopes} onChange={setScopes} />
      <Form
        id={role ? 'role' : 'new-role'}
        label={role ? 'Save role' : 'Create role'}
        fields={[
          { name: 'name', label: 'Role name', required: true, value: role?.name },
          { name: 'description', label: 'Description', value: role?.description },
        ]}
        submit={(v) => (role ? api('PATCH', `/roles/${enc(role.id)}`, { ...v, scopes }) : api('POST', '/roles', { ...v, scopes }))}
        onDone={onDone}
        cancel={cancel}
      />
    </>
  );
}

export function Roles() {
  const [creating, setCreating] = useState(false);
  const [n, setN] = useState(0);
  return (
    <>
      {creating && (
        <Dialog title="New role" onClose={() => setCreating(false)}>
          <RoleForm onDone={() => (setCreating(false), setN(n + 1))} cancel={() => setCreating(false)} />
        </Dialog>
      )}
      <List
        key={n}
        title="Roles"
        path="/roles"
        search="name"
        rowLink={(it) => link('roles', it.id)}
        columns={[
          { label: 'Name', value: (it) => it.name },
          { label: 'Scopes', value: (it) => (it.scopes || []).map((s) => s.scope).join(' ') },
          { label: 'Description', value: (it) => it.description },
        ]}
        filter={canWrite() && <button onClick={() => setCreating(true)}>New role</button>}
      />
    </>
  );
}

export function Role({ id }) {
  const r = useApi(`/roles/${enc(id)}`);
  return (
    <Loading state={r}>
      {(role) => (
        <section>
          <header class="page-head">
            <h1>Role {role.name}</h1>
            <Action label="Delete role" danger confirm={`Delete role ${role.name}?`} run={() => api('DELETE', `/roles/${enc(id)}`)} onDone={() => (location.hash = '#/roles')} />
          </header>
          {canWrite() ? (
            <RoleForm role={role} onDone={r.reload} />
          ) : (
            <ul>
              {role.scopes.map((s) => (
                <li>
                  {s.scope} on {s.resource}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </Loading>
  );
}

/** The roles a holder has, with assign/unassign. `base`: e.g. /users/usr_1. */
function HolderRoles({ base }) {
  const held = useApi(`${base}/roles`);
  const all = useApi(canWrite() ? '/roles?limit=100' : null);
  const [pick, setPick] = useState('');
  return (
    <div>
      <h2>Roles</h2>
      <Loading state={held}>
        {(d) => (
          <ul>
            {d.items.map((role) => (
              <li>
                <a href={link('roles', role.id)}>{role.name}</a> <Action label={`Unassign ${role.name}`} run={() => api('DELETE', `${base}/roles/${enc(role.id)}`)} onDone={held.reload} />
              </li>
            ))}
            {d.items.length === 0 && <li class="muted">No roles assigned directly.</li>}
          </ul>
        )}
      </Loading>
      {canWrite() && all.data && (
        <div class="inline">
          <label for={`assign-${base}`}>Assign a role</label>
          <select id={`assign-${base}`} value={pick} onChange={(e) => setPick(e.currentTarget.value)}>
            <option value="">Choose…</option>
            {all.data.items.map((role) => (
              <option value={role.id}>{role.name}</option>
            ))}
          </select>
          <Action label="Assign" run={() => api('PUT', `${base}/roles/${enc(pick)}`)} onDone={() => (setPick(''), held.reload())} />
        </div>
      )}
    </div>
  );
}

/** The explain view: every scope a principal holds on each server, and why. */
export function Explain({ principal }) {
  const servers = useApi('/resource-servers?limit=100');
  const [rs, setRs] = useState('');
  const all = rs === '*';
  return (
    <div class="explain">
      <h2>Access</h2>
      <Loading state={servers}>
        {(d) => (
          <>
            <div class="inline">
              <label for={`explain-${principal}`}>Server</label>
              <select id={`explain-${principal}`} value={rs} onChange={(e) => setRs(e.currentTarget.value)}>
                <option value="">Choose a server…</option>
                <option value="*">Every server</option>
                {d.items.map((s) => (
                  <option value={s.identifier}>{s.name}</option>
                ))}
              </select>
            </div>
            {all
              ? d.items.map((s) => <Why principal={principal} resource={s.identifier} quiet />)
              : rs && <Why principal={principal} resource={rs} />}
          </>
        )}
      </Loading>
    </div>
  );
}

/** The scopes a principal holds on one server and why; `quiet`: nothing when it holds none. */
function Why({ principal, resource, quiet }) {
  const ex = useApi(`/explain?principal=${enc(principal)}&resource=${enc(resource)}`);
  if (ex.error) return <Problem error={ex.error} />;
  if (!ex.data) return quiet ? null : <p aria-busy="true">Loading…</p>;
  if (quiet && ex.data.scopes.length === 0) return null;
  return (
    <table class="why">
      <caption>Scopes held on {resource}</caption>
      <Head cols={['Scope', 'Why']} />
      <tbody>
        {ex.data.scopes.map((s) => (
          <tr>
            <td>
              <code>{s.scope}</code>
            </td>
            <td>
              {s.via.map((v) => (
                <div>
                  role {v.role}
                  {v.group ? ` through group ${v.group}` : ' (assigned directly)'}
                  {v.implied_by ? `, implied by ${v.implied_by}` : ''}
                </div>
              ))}
            </td>
          </tr>
        ))}
        {ex.data.scopes.length === 0 && (
          <tr>
            <td colSpan={2} class="muted">
              No scopes on this server.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** What stands issued through a user or client now: its refresh-token families and live
    grants, per server (the blast radius, read without revoking anything). */
function Standing({ kind, id }) {
  const r = useApi(`/${kind}/${enc(id)}/blast-radius`);
  return (
    <div>
      <h2>Active tokens</h2>
      <Loading state={r}>
        {(d) => (
          <>
            <p>
              {d.active_refresh_families} refresh-token families and {d.live_token_grants} other live grants, last token issued {when(d.last_token_issued)}.
            </p>
            {d.by_resource_server.length > 0 && (
              <table>
                <Head cols={['Server', 'Refresh-token families', 'Other live grants']} />
                <tbody>
                  {d.by_resource_server.map((x) => (
                    <tr>
                      <td>{x.resource_server}</td>
                      <td>{x.refresh_families}</td>
                      <td>{x.live_token_grants}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Loading>
    </div>
  );
}

/** A user's or client's heading: status, and disable (or enable) and delete through the blast
    radius. */
function RevocableHead({ kind, id, name, active, list, reload }) {
  return (
    <header class="page-head">
      <h1>
        {name} {status({ status: active ? 'active' : 'disabled' })}
      </h1>
      <span>
        {active ? (
          <Revoke kind={kind} id={id} name={name} verb="disable" onDone={reload} />
        ) : (
          <Action label="Enable" run={() => api('PATCH', `/${kind}/${enc(id)}`, { status: 'active' })} onDone={reload} />
        )}
        <Revoke kind={kind} id={id} name={name} verb="delete" onDone={() => (location.hash = list)} />
      </span>
    </header>
  );
}

/* ---------- Users ---------- */

export function Users() {
  return (
    <List
      title="Users"
      path="/users"
      search="username"
      rowLink={(it) => link('users', it.id)}
      columns={[
        { label: 'Username', value: (it) => it.username },
        { label: 'Name', value: (it) => it.display_name },
        { label: 'Status', value: status },
        { label: 'Created', value: (it) => when(it.created_at) },
      ]}
      create={{
        noun: 'user',
        fields: [
          { name: 'username', label: 'Username', required: true },
          { name: 'display_name', label: 'Display name', optional: true },
        ],
        submit: (v) => api('POST', '/users', v),
        done: (u) => (
          <div>
            <p class="ok" role="status">
              Created <a href={link('users', u.id)}>{u.username}</a>.
            </p>
            {u.password && <SecretOnce label={`Password for ${u.username}`} value={u.password} />}
          </div>
        ),
      }}
    />
  );
}

export function User({ id }) {
  const u = useApi(`/users/${enc(id)}`);
  const base = `/users/${enc(id)}`;
  return (
    <Loading state={u}>
      {(user) => (
        <section>
          <RevocableHead kind="users" id={id} name={user.username} active={user.status === 'active'} list="#/users" reload={u.reload} />
          <p class="muted">
            {user.display_name} · id {user.id} · created {when(user.created_at)}
          </p>
          {canWrite() && (
            <details>
              <summary>Edit user</summary>
              <Form
                id="user"
                label="Save user"
                fields={[
                  { name: 'display_name', label: 'Display name', value: user.display_name },
                  { name: 'password', label: 'New password (empty keeps it)', type: 'password', optional: true },
                ]}
                submit={(v) => api('PATCH', base, v)}
                onDone={() => (flash(`Saved ${user.username}.`), u.reload())}
              />
            </details>
          )}
          <HolderRoles base={base} />
          <Standing kind="users" id={id} />
          <Explain principal={id} />
          <Grants base={base} />
          <Sessions base={base} />
        </section>
      )}
    </Loading>
  );
}

function Grants({ base }) {
  const g = useApi(`${base}/grants`);
  return (
    <div>
      <h2>Consents and their token families</h2>
      <Loading state={g}>
        {(d) => (
          <table>
            <Head cols={['Client', 'Server', 'Scopes', 'Since']} actions />
            <tbody>
              {d.items.map((x) => (
                <tr>
                  <td>
                    <a href={link('clients', x.client_id)}>{x.client_name}</a>
                  </td>
                  <td>{x.resource_name}</td>
                  <td>{x.scopes.join(' ')}</td>
                  <td>{when(x.created_at)}</td>
                  <td>
                    <Action label={`Revoke consent for ${x.client_name}`} danger run={() => api('DELETE', `${base}/grants?client_id=${enc(x.client_id)}&resource_server_id=${enc(x.resource_server_id)}`)} onDone={g.reload} />
                  </td>
                </tr>
              ))}
              {d.items.length === 0 && (
                <tr>
                  <td colSpan={5} class="muted">
                    No consents.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        )}
      </Loading>
    </div>
  );
}

function Sessions({ base }) {
  const s = useApi(`${base}/sessions`);
  return (
    <div>
      <h2>Browser sessions</h2>
      <Loading state={s}>
        {(d) => (
          <>
            <ul>
              {d.items.map((x) => (
                <li>
                  since {when(x.created_at)} from {x.address || 'unknown'} ({x.user_agent || 'unknown browser'})
                </li>
              ))}
              {d.items.length === 0 && <li class="muted">None.</li>}
            </ul>
            {d.items.length > 0 && <Action label="Sign out everywhere" danger run={() => api('DELETE', `${base}/sessions`)} onDone={s.reload} />}
          </>
        )}
      </Loading>
    </div>
  );
}

/* ---------- Groups ---------- */

export function Groups() {
  return (
    <List
      title="Groups"
      path="/groups"
      search="name"
      rowLink={(it) => link('groups', it.id)}
      columns={[
        { label: 'Name', value: (it) => it.name },
        { label: 'Description', value: (it) => it.description },
      ]}
      create={{
        noun: 'group',
        fields: [
          { name: 'name', label: 'Group name', required: true },
          { name: 'description', label: 'Description' },
        ],
        submit: (v) => api('POST', '/groups', v),
        done: (g) => <p class="ok" role="status">Created <a href={link('groups', g.id)}>{g.name}</a>.</p>,
      }}
    />
  );
}

/** Adds a user (by id or exact username) or an agent (by id) to a group. */
async function addMember(base, who) {
  if (who.startsWith('agt_')) return api('PUT', `${base}/agents/${enc(who)}`);
  let id = who;
  if (!who.startsWith('usr_')) {
    const found = (await api('GET', `/users?q=${enc(who.toLowerCase())}&limit=1`)).items[0];
    if (!found || found.username !== who.toLowerCase()) throw new Error(`No user is called ${who}.`);
    id = found.id;
  }
  return api('PUT', `${base}/users/${enc(id)}`);
}

export function Group({ id }) {
  const g = useApi(`/groups/${enc(id)}`);
  const m = useApi(`/groups/${enc(id)}/members`);
  const base = `/groups/${enc(id)}`;
  const [member, setMember] = useState('');
  return (
    <Loading state={g}>
      {(grp) => (
        <section>
          <header class="page-head">
            <h1>Group {grp.name}</h1>
            <Action label="Delete group" danger confirm={`Delete group ${grp.name}?`} run={() => api('DELETE', base)} onDone={() => (location.hash = '#/groups')} />
          </header>
          {canWrite() && (
            <details>
              <summary>Edit group</summary>
              <Form
                id="group"
                label="Save group"
                fields={[
                  { name: 'name', label: 'Group name', required: true, value: grp.name },
                  { name: 'description', label: 'Description', value: grp.description },
                ]}
                submit={(v) => api('PATCH', base, v)}
                onDone={() => (flash(`Saved ${grp.name}.`), g.reload())}
              />
            </details>
          )}
          <HolderRoles base={base} />
          <h2>Members</h2>
          <Loading state={m}>
            {(d) => (
              <ul>
                {d.users.map((x) => (
                  <li>
                    <a href={link('users', x.id)}>{x.name}</a> (user) <Action label={`Remove ${x.name}`} run={() => api('DELETE', `${base}/users/${enc(x.id)}`)} onDone={m.reload} />
                  </li>
                ))}
                {d.agents.map((x) => (
                  <li>
                    <a href={link('clients', x.id)}>{x.name}</a> (agent) <Action label={`Remove ${x.name}`} run={() => api('DELETE', `${base}/agents/${enc(x.id)}`)} onDone={m.reload} />
                  </li>
                ))}
              </ul>
            )}
          </Loading>
          {canWrite() && (
            <div class="inline">
              <label for="add-member">Add a member (username, or a user or agent id)</label>
              <input id="add-member" value={member} onInput={(e) => setMember(e.currentTarget.value.trim())} />
              <Action label="Add member" run={() => addMember(base, member)} onDone={() => (setMember(''), m.reload())} />
            </div>
          )}
        </section>
      )}
    </Loading>
  );
}

/* ---------- Applications, agents, every client ---------- */

const appFields = [
  { name: 'name', label: 'Name', required: true },
  { name: 'client_type', label: 'Type', type: 'select', options: ['confidential', 'public'], value: 'confidential' },
  { name: 'redirect_uris', label: 'Redirect URIs', type: 'list' },
  { name: 'grant_types', label: 'Grant types', type: 'list', value: ['authorization_code', 'refresh_token'] },
  { name: 'resources', label: 'MCP servers it may get tokens for (identifiers)', type: 'list' },
];
const agentFields = [
  { name: 'name', label: 'Name', required: true },
  { name: 'owner', label: 'Owner (who answers for it)', required: true },
  { name: 'description', label: 'Description' },
  { name: 'groups', label: 'Groups (ids)', type: 'list' },
  { name: 'resources', label: 'MCP servers it may get tokens for (identifiers)', type: 'list' },
];
const secretDone = (noun) => (c) => (
  <div>
    <p class="ok" role="status">
      Created {noun} <a href={link('clients', c.client_id)}>{c.name}</a> ({c.client_id}).
    </p>
    {c.client_secret && <SecretOnce label={`Secret for ${c.name}`} value={c.client_secret} />}
  </div>
);
const clientColumns = [
  { label: 'Name', value: (it) => it.name },
  { label: 'Client id', value: (it) => it.client_id },
  { label: 'Kind', value: (it) => it.kind },
  { label: 'Status', value: status },
  { label: 'Last used', value: (it) => when(it.last_used_at) },
];

export function Applications() {
  return (
    <List
      title="Applications"
      path="/applications"
      search="name"
      rowLink={(it) => link('clients', it.client_id)}
      columns={clientColumns}
      create={{ noun: 'application', fields: appFields, submit: (v) => api('POST', '/applications', v), done: secretDone('application') }}
    />
  );
}

export function Agents() {
  return (
    <List
      title="Agents"
      path="/agents"
      search="name"
      rowLink={(it) => link('clients', it.client_id)}
      columns={clientColumns}
      create={{ noun: 'agent', fields: agentFields, submit: (v) => api('POST', '/agents', v), done: secretDone('agent') }}
    />
  );
}

export function Clients() {
  const [kind, setKind] = useState('');
  return (
    <List
      title="Clients"
      path={kind ? `/clients?kind=${kind}` : '/clients'}
      search="name"
      rowLink={(it) => link('clients', it.client_id)}
      columns={clientColumns}
      filter={
        <div class="inline">
          <label for="client-kind">Kind</label>
          <select id="client-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">all</option>
            <option value="application">applications</option>
            <option value="agent">agents</option>
            <option value="dynamic">self-registered (RFC 7591)</option>
            <option value="metadata">metadata documents</option>
          </select>
        </div>
      }
    />
  );
}

export function Client({ id }) {
  const c = useApi(`/clients/${enc(id)}`);
  const base = `/clients/${enc(id)}`;
  const [secret, setSecret] = useState(null);
  return (
    <Loading state={c}>
      {(cl) => (
        <section>
          <RevocableHead kind="clients" id={id} name={cl.name} active={cl.status === 'active'} list="#/clients" reload={c.reload} />
          <dl>
            <dt>Client id</dt>
            <dd>
              <code>{cl.client_id}</code>
            </dd>
            <dt>Kind</dt>
            <dd>
              {cl.kind}, {cl.client_type} ({cl.token_endpoint_auth_method})
            </dd>
            {cl.owner && (
              <>
                <dt>Owner</dt>
                <dd>{cl.owner}</dd>
              </>
            )}
            <dt>Redirect URIs</dt>
            <dd>{cl.redirect_uris.join(', ') || '—'}</dd>
            <dt>Grant types</dt>
            <dd>{cl.grant_types.join(', ')}</dd>
            <dt>MCP servers</dt>
            <dd>{(cl.resources || []).join(', ') || 'any it holds scopes on'}</dd>
            <dt>Last used</dt>
            <dd>{when(cl.last_used_at)}</dd>
          </dl>
          {(cl.kind === 'application' || cl.kind === 'agent') && cl.client_type === 'confidential' && (
            <Action label="Rotate secret" confirm="Rotate the secret? The old one stops working." run={() => api('POST', `/${cl.kind === 'agent' ? 'agents' : 'applications'}/${enc(id)}/secret`)} onDone={setSecret} />
          )}
          {secret && <SecretOnce label={`New secret for ${cl.name}`} value={secret.client_secret} />}
          {canWrite() && (cl.kind === 'application' || cl.kind === 'agent') && (
            <details>
              <summary>Edit {cl.kind}</summary>
              <Form
                id="client"
                label={`Save ${cl.kind}`}
                fields={[
                  { name: 'name', label: 'Name', required: true, value: cl.name },
                  { name: 'description', label: 'Description', value: cl.description },
                  ...(cl.kind === 'agent'
                    ? [{ name: 'owner', label: 'Owner (who answers for it)', required: true, value: cl.owner }]
                    : [{ name: 'redirect_uris', label: 'Redirect URIs', type: 'list', value: cl.redirect_uris }]),
                  { name: 'resources', label: 'MCP servers it may get tokens for (identifiers; empty: any it holds scopes on)', type: 'list', value: cl.resources || [] },
                ]}
                submit={(v) => api('PATCH', base, v)}
                onDone={() => (flash(`Saved ${cl.name}.`), c.reload())}
              />
            </details>
          )}
          <HolderRoles base={base} />
          <Standing kind="clients" id={id} />
          <Explain principal={id} />
        </section>
      )}
    </Loading>
  );
}

/* ---------- Audit, keys, identity providers, settings ---------- */

export function Audit() {
  const [f, setF] = useState({ actor: '', target: '', action: '', since: '', until: '' });
  const [applied, setApplied] = useState(f);
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(applied)) {
    if (!v) continue;
    q.set(k, k === 'since' || k === 'until' ? String(Math.floor(Date.parse(`${v}Z`) / 1000)) : v);
  }
  const path = `/audit${q.size ? `?${q}` : ''}`;
  const input = (k, label, type = 'text') => (
    <div class="field">
      <label for={`audit-${k}`}>{label}</label>
      <input id={`audit-${k}`} type={type} value={f[k]} onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })} />
    </div>
  );
  return (
    <List
      title="Audit log"
      path={path}
      columns={[
        { label: 'When', value: (it) => when(it.at) },
        { label: 'Actor', value: (it) => it.actor },
        { label: 'Action', value: (it) => it.action },
        { label: 'Target', value: (it) => `${it.target_type} ${it.target_id}` },
        { label: 'Detail', value: (it) => JSON.stringify(it.detail) },
      ]}
      filter={
        <form
          class="filters"
          aria-label="Filter the audit log"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(f);
          }}
        >
          {input('actor', 'Actor')}
          {input('target', 'Target id')}
          {input('action', 'Action (e.g. user.disable, or user.)')}
          {input('since', 'From (UTC)', 'datetime-local')}
          {input('until', 'Until (UTC)', 'datetime-local')}
          <button type="submit">Filter</button>
        </form>
      }
    />
  );
}

export function Keys() {
  const k = useApi('/keys');
  const [rotated, setRotated] = useState(null);
  return (
    <section>
      <header class="page-head">
        <h1>Signing keys</h1>
        <Action label="Rotate now" confirm="Rotate the signing key? The next key becomes active; the current one is retired but stays published." run={() => api('POST', '/keys/rotate')} onDone={(r) => (setRotated(r), k.reload())} />
      </header>
      {rotated && (
        <p class="ok" role="status">
          Rotated: {rotated.active} is active, {rotated.next} is next.
        </p>
      )}
      <Loading state={k}>
        {(d) => (
          <table>
            <Head cols={['Key id', 'State', 'Created', 'Active since', 'Published until']} />
            <tbody>
              {d.keys.map((x) => (
                <tr>
                  <td>
                    <code>{x.kid}</code>
                  </td>
                  <td>{x.state}</td>
                  <td>{when(x.created_at)}</td>
                  <td>{when(x.activated_at)}</td>
                  <td>{x.publish_until ? when(x.publish_until) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </section>
  );
}

const idpFields = (p = {}) => [
  ...(p.id ? [] : [{ name: 'issuer', label: 'Issuer (https URL)', required: true }]),
  { name: 'display_name', label: 'Display name', required: true, value: p.display_name },
  { name: 'client_id', label: 'Client id at the provider', required: true, value: p.client_id },
  { name: 'client_secret', label: p.has_client_secret ? 'New client secret (empty keeps it)' : 'Client secret', type: 'password', optional: true },
  { name: 'scopes', label: 'Scopes', value: p.scopes ?? 'openid email profile' },
  { name: 'email_domains', label: 'Email domains routed to it', type: 'list', value: p.email_domains ?? [] },
  { name: 'provisioning', label: 'New people', type: 'select', options: [['jit', 'created at first sign-in'], ['existing', 'existing users only']], value: p.provisioning ?? 'jit' },
  { name: 'link_verified_email', label: 'Link by verified email', type: 'checkbox', value: p.link_verified_email ?? false },
  { name: 'groups_claim', label: 'Groups claim', value: p.groups_claim ?? '' },
  { name: 'id_jag', label: 'Trust its identity assertions (ID-JAG)', type: 'checkbox', value: p.id_jag ?? false },
];

export function Providers() {
  return (
    <List
      title="Identity providers"
      path="/identity-providers"
      rowLink={(it) => link('providers', it.id)}
      columns={[
        { label: 'Name', value: (it) => it.display_name },
        { label: 'Issuer', value: (it) => it.issuer },
        { label: 'Status', value: status },
        { label: 'Domains', value: (it) => it.email_domains.join(', ') },
      ]}
      create={{ noun: 'identity provider', fields: idpFields(), submit: (v) => api('POST', '/identity-providers', v), done: (p) => <p class="ok" role="status">Added <a href={link('providers', p.id)}>{p.display_name}</a>; register {p.redirect_uri} at the provider.</p> }}
    />
  );
}

export function Provider({ id }) {
  const p = useApi(`/identity-providers/${enc(id)}`);
  const base = `/identity-providers/${enc(id)}`;
  return (
    <Loading state={p}>
      {(x) => (
        <section>
          <header class="page-head">
            <h1>
              {x.display_name} {status(x)}
            </h1>
            <span>
              <Action label={x.status === 'active' ? 'Disable' : 'Enable'} run={() => api('PATCH', base, { status: x.status === 'active' ? 'disabled' : 'active' })} onDone={p.reload} />
              <Action label="Delete provider" danger confirm={`Delete ${x.display_name}? Its links and the memberships its mappings made go too.`} run={() => api('DELETE', base)} onDone={() => (location.hash = '#/providers')} />
            </span>
          </header>
          <p class="muted">
            <code>{x.issuer}</code> · redirect URI <code>{x.redirect_uri}</code>
          </p>
          {canWrite() && (
            <Form
              id="idp"
              label="Save provider"
              fields={idpFields(x)}
              submit={(v) => {
                if (!v.client_secret) delete v.client_secret;
                return api('PATCH', base, v);
              }}
              onDone={p.reload}
            />
          )}
          <h2>Group mappings</h2>
          <p class="muted">People whose groups claim ({x.groups_claim || 'not set'}) carries a value join the group it maps to, at every sign-in.</p>
          {canWrite() ? (
            <Form
              id="mappings"
              label="Save mappings"
              fields={[{ name: 'lines', label: 'Mappings: claim value = group id, one per line', type: 'list', value: x.group_mappings.map((g) => `${g.value} = ${g.group_id}`) }]}
              submit={(v) =>
                api('PUT', `${base}/group-mappings`, {
                  group_mappings: v.lines.map((l) => {
                    const [value, group_id] = l.split('=').map((p) => p.trim());
                    return { value, group_id };
                  }),
                })
              }
              onDone={() => (flash('Saved the group mappings.'), p.reload())}
            />
          ) : (
            <ul>
              {x.group_mappings.map((g) => (
                <li>
                  {g.value} → <a href={link('groups', g.group_id)}>{g.group_id}</a>
                </li>
              ))}
              {x.group_mappings.length === 0 && <li class="muted">None.</li>}
            </ul>
          )}
        </section>
      )}
    </Loading>
  );
}

export function Settings() {
  const s = useApi('/settings');
  return (
    <section>
      <h1>Registration and sign-in settings</h1>
      <Loading state={s}>
        {(d) => (
          <dl>
            {Object.entries({ ...d.registration, ...d, registration: undefined })
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => (
                <>
                  <dt>{k.replace(/_/g, ' ')}</dt>
                  <dd>{v === null ? '—' : Array.isArray(v) ? v.join(', ') || '—' : String(v)}</dd>
                </>
              ))}
          </dl>
        )}
      </Loading>
      <p class="muted">These come from the Worker's variables (wrangler.toml or the dashboard); a deploy changes them.</p>
    </section>
  );
}
