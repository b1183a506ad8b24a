// Revocation done carefully: the blast radius first, a reason, then what was revoked.
import { useState } from 'preact/hooks';
import { api, canWrite } from './auth.js';
import { Dialog, Head, Problem, useApi, Loading, flash, when } from './ui.jsx';

/** `kind`: 'users' or 'clients'; `verb`: 'disable' or 'delete'. What was revoked is flashed. */
export function Revoke({ kind, id, name, verb, onDone }) {
  const [open, setOpen] = useState(false);
  if (!canWrite()) return null;
  return (
    <>
      <button class="danger" onClick={() => setOpen(true)}>
        {verb === 'delete' ? 'Delete' : 'Disable'}…
      </button>
      {open && (
        <RevokeDialog
          kind={kind}
          id={id}
          name={name}
          verb={verb}
          onClose={() => setOpen(false)}
          onDone={(msg) => {
            setOpen(false);
            flash(msg, verb === 'delete' ? 1 : 0);
            onDone?.(msg);
          }}
        />
      )}
    </>
  );
}

function RevokeDialog({ kind, id, name, verb, onClose, onDone }) {
  const radius = useApi(`/${kind}/${encodeURIComponent(id)}/blast-radius`);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const path = `/${kind}/${encodeURIComponent(id)}`;
      if (verb === 'delete') await api('DELETE', `${path}?reason=${encodeURIComponent(reason)}`);
      else await api('PATCH', path, { status: 'disabled', reason });
      const r = radius.data;
      onDone(
        `${verb === 'delete' ? 'Deleted' : 'Disabled'} ${name}: ${r.active_refresh_families} refresh-token families and ` +
          `${r.live_token_grants} live grants revoked for ${r.distinct_users} users on ${r.resource_servers} servers.`,
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`${verb === 'delete' ? 'Delete' : 'Disable'} ${name}?`} onClose={onClose}>
      <Loading state={radius}>
        {(r) => (
          <div class="radius">
            <p>Every token issued through it stops working, here and at servers that validate offline:</p>
            <dl>
              <dt>Refresh-token families</dt>
              <dd>{r.active_refresh_families}</dd>
              <dt>Other live grants</dt>
              <dd>{r.live_token_grants}</dd>
              <dt>People</dt>
              <dd>{r.distinct_users}</dd>
              <dt>Subjects</dt>
              <dd>{r.distinct_subjects}</dd>
              <dt>Servers</dt>
              <dd>{r.resource_servers}</dd>
              <dt>Last token issued</dt>
              <dd>{when(r.last_token_issued)}</dd>
            </dl>
            {r.by_resource_server.length > 0 && (
              <table>
                <caption>By server</caption>
                <Head cols={['Server', 'Families', 'Live grants']} />
                <tbody>
                  {r.by_resource_server.map((s) => (
                    <tr>
                      <td>{s.resource_server}</td>
                      <td>{s.refresh_families}</td>
                      <td>{s.live_token_grants}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        )}
      </Loading>
      <form onSubmit={go}>
        <Problem error={error} />
        <div class="field">
          <label for="revoke-reason">Reason (kept in the audit log)</label>
          <input id="revoke-reason" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit" class="danger" disabled={busy || !reason.trim() || !radius.data}>
            {verb === 'delete' ? 'Delete' : 'Disable'} and revoke
          </button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
