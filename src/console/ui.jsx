// Shared pieces: loading, forms whose errors sit next to the field the API names, tables with
// paging and search, confirmation dialogs, secrets shown once.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { api, canWrite } from './auth.js';

export const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');
export const enc = encodeURIComponent;
export const link = (...parts) => `#/${parts.map(enc).join('/')}`;

/* A message that outlives the component that made it (a disable that swapped its button, a
   deleted user whose page is left): shown by <Flash/>, cleared by the next navigation after
   `survive` navigations. */
let flashed = null;
const flashListeners = new Set();
export function flash(message, survive = 0) {
  flashed = { message, survive };
  for (const fn of flashListeners) fn(flashed);
}
export function Flash({ hash }) {
  const [f, setF] = useState(flashed);
  useEffect(() => {
    flashListeners.add(setF);
    return () => flashListeners.delete(setF);
  }, []);
  useEffect(() => {
    if (!flashed) return;
    if (flashed.survive > 0) flashed.survive -= 1;
    else {
      flashed = null;
      setF(null);
    }
  }, [hash]);
  return f ? (
    <p class="ok" role="status">
      {f.message}
    </p>
  ) : null;
}

/** Loads `path` from the admin API; `reload()` loads it again. */
export function useApi(path) {
  const [state, set] = useState({ data: null, error: null, loading: true });
  const [n, bump] = useState(0);
  useEffect(() => {
    if (!path) return;
    let live = true;
    set((s) => ({ ...s, loading: true }));
    api('GET', path).then(
      (data) => live && set({ data, error: null, loading: false }),
      (error) => live && set({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path, n]);
  return { ...state, reload: useCallback(() => bump((x) => x + 1), []) };
}

export function Problem({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Loading({ state, children }) {
  if (state.error) return <Problem error={state.error} />;
  if (!state.data) return <p aria-busy="true">Loading…</p>;
  return children(state.data);
}

const fieldId = (form, name) => `f-${form}-${name}`;
const toList = (s) => s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

/**
 * A form from field specs: { name, label, type: text|textarea|number|checkbox|select|list|password,
 * options, required, help, value }. `submit(values)` may throw an ApiError; its `field` (as in
 * `redirect_uris[0]`) puts the message next to that field.
 */
export function Form({ id, fields, submit, label, onDone, cancel }) {
  const initial = () => Object.fromEntries(fields.map((f) => [f.name, f.value ?? (f.type === 'checkbox' ? false : f.type === 'list' ? [] : '')]));
  const [values, setValues] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const out = {};
      for (const f of fields) {
        const v = values[f.name];
        if (f.type === 'number') {
          if (v !== '' && v !== undefined) out[f.name] = Number(v);
        } else if (f.type === 'list') out[f.name] = Array.isArray(v) ? v : toList(v);
        else if (f.type === 'checkbox') out[f.name] = !!v;
        else if (v !== '' || !f.optional) out[f.name] = v;
      }
      const result = await submit(out);
      onDone?.(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const at = error?.field?.split(/[[.]/)[0];
  const known = at && fields.some((f) => f.name === at);
  return (
    <form onSubmit={onSubmit} class="form" aria-label={label} noValidate>
      {error && !known && <Problem error={error} />}
      {fields.map((f) => {
        const fid = fieldId(id, f.name);
        const err = known && at === f.name ? error : null;
        const v = values[f.name];
        const set = (x) => setValues((s) => ({ ...s, [f.name]: x }));
        const common = {
          id: fid,
          name: f.name,
          required: f.required,
          'aria-invalid': err ? 'true' : undefined,
          'aria-describedby': err ? `${fid}-err` : f.help ? `${fid}-help` : undefined,
        };
        let input;
        if (f.type === 'checkbox') input = <input type="checkbox" {...common} checked={!!v} onChange={(e) => set(e.currentTarget.checked)} />;
        else if (f.type === 'select')
          input = (
            <select {...common} value={v} onChange={(e) => set(e.currentTarget.value)}>
              {f.options.map((o) => (
                <option value={Array.isArray(o) ? o[0] : o}>{Array.isArray(o) ? o[1] : o}</option>
              ))}
            </select>
          );
        else if (f.type === 'textarea' || f.type === 'list')
          input = <textarea {...common} rows={f.type === 'list' ? 3 : 2} value={Array.isArray(v) ? v.join('\n') : v} onInput={(e) => set(e.currentTarget.value)} />;
        else input = <input type={f.type === 'number' ? 'number' : f.type === 'password' ? 'password' : 'text'} {...common} value={v} onInput={(e) => set(e.currentTarget.value)} />;
        return (
          <div class={f.type === 'checkbox' ? 'field check' : 'field'}>
            <label for={fid}>{f.label}</label>
            {input}
            {f.help && !err && (
              <small id={`${fid}-help`} class="help">
                {f.help}
              </small>
            )}
            {err && (
              <small id={`${fid}-err`} class="field-error" role="alert">
                {err.message}
              </small>
            )}
          </div>
        );
      })}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {label}
        </button>
        {cancel && (
          <button type="button" class="secondary" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** A table's header row: column headings, and an unlabelled-looking (but named) actions column. */
export function Head({ cols, actions }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col">{c}</th>
        ))}
        {actions && (
          <th scope="col">
            <span class="sr-only">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

/** A modal dialog (the platform's <dialog>: focus kept inside, Escape closes). */
export function Dialog({ title, onClose, children }) {
  const ref = useRef();
  useEffect(() => {
    const d = ref.current;
    if (!d.open) d.showModal();
    const close = () => onClose();
    d.addEventListener('close', close);
    return () => d.removeEventListener('close', close);
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title">
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

/** A secret the API returns once: shown with a warning, never stored. */
export function SecretOnce({ label, value }) {
  return (
    <div class="secret" role="status">
      <p>
        <strong>{label}</strong> — shown once; copy it now.
      </p>
      <code>{value}</code>
    </div>
  );
}

/**
 * A list page: "More" for the next page, a create form, and a search box — by name prefix at
 * the server when the API offers it (`search`: 'name', or 'username' which is lower-case),
 * otherwise within the loaded rows.
 */
export function List({ title, path, columns, rowLink, create, filter, search }) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [q, setQ] = useState('');
  const [sent, setSent] = useState('');
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState(null);
  useEffect(() => {
    if (!search) return;
    const t = setTimeout(() => setSent(search === 'username' ? q.trim().toLowerCase() : q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  const full = search && sent ? `${path}${path.includes('?') ? '&' : '?'}q=${enc(sent)}` : path;
  const load = async (after, reset) => {
    try {
      const sep = full.includes('?') ? '&' : '?';
      const page = await api('GET', `${full}${sep}limit=50${after ? `&cursor=${enc(after)}` : ''}`);
      setItems((cur) => (reset ? page.items : [...(cur || []), ...page.items]));
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setItems(null);
    load(null, true);
  }, [full]);
  const shown = search ? items || [] : (items || []).filter((it) => !q || JSON.stringify(columns.map((c) => c.value(it))).toLowerCase().includes(q.toLowerCase()));
  return (
    <section>
      <header class="page-head">
        <h1>{title}</h1>
        {create && canWrite() && !creating && (
          <button onClick={() => (setCreating(true), setCreated(null))}>New {create.noun}</button>
        )}
      </header>
      {created && create.done?.(created)}
      {creating && (
        <Form
          id={`new-${create.noun}`}
          label={`Create ${create.noun}`}
          fields={create.fields}
          submit={create.submit}
          cancel={() => setCreating(false)}
          onDone={(r) => {
            setCreating(false);
            setCreated(r);
            load(null, true);
          }}
        />
      )}
      <Problem error={error} />
      <div class="search">
        <label for={`q-${title}`}>{search ? `Search ${title.toLowerCase()} by ${search === 'username' ? 'username' : 'name'} (starts with)` : `Search ${title.toLowerCase()}`}</label>
        <input id={`q-${title}`} type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      </div>
      {filter}
      {items === null && !error ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <table>
          <Head cols={columns.map((c) => c.label)} />
          <tbody>
            {shown.map((it) => (
              <tr>
                {columns.map((c, i) => (
                  <td>{i === 0 && rowLink ? <a href={rowLink(it)}>{c.value(it)}</a> : c.value(it)}</td>
                ))}
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={columns.length} class="muted">
                  Nothing here{q ? ' that matches' : ''}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {cursor && (
        <button class="secondary" onClick={() => load(cursor)}>
          More
        </button>
      )}
    </section>
  );
}

/** Runs an API change; shows its error next to the button. */
export function Action({ label, run, confirm, danger, onDone }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!canWrite()) return null;
  const go = async () => {
    if (confirm && !window.confirm(confirm)) return;
    setBusy(true);
    setError(null);
    try {
      onDone?.(await run());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button class={danger ? 'danger' : 'secondary'} disabled={busy} onClick={go}>
        {label}
      </button>
      {error && (
        <span class="field-error" role="alert">
          {error.message}
        </span>
      )}
    </span>
  );
}
