// The mcpgate admin console: signs in through mcpgate, then routes by the URL's hash.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { canWrite, completeSignIn, issuer, onAuthChange, session, signIn, signOut, whenStuck } from './auth.js';
import * as P from './pages.jsx';
import { Flash, useApi } from './ui.jsx';

const NAV = [
  ['servers', 'MCP servers', P.Servers, P.Server],
  ['roles', 'Roles', P.Roles, P.Role],
  ['users', 'Users', P.Users, P.User],
  ['groups', 'Groups', P.Groups, P.Group],
  ['applications', 'Applications', P.Applications],
  ['agents', 'Agents', P.Agents],
  ['clients', 'All clients', P.Clients, P.Client],
  ['audit', 'Audit log', P.Audit],
  ['keys', 'Signing keys', P.Keys],
  ['providers', 'Identity providers', P.Providers, P.Provider],
  ['settings', 'Settings', P.Settings],
];

function useHash() {
  const [hash, set] = useState(location.hash);
  useEffect(() => {
    const on = () => set(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Shell() {
  const hash = useHash();
  const [section = 'servers', id] = hash
    .replace(/^#\/?/, '')
    .split('/')
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  const entry = NAV.find((n) => n[0] === section) || NAV[0];
  const Page = id && entry[3] ? entry[3] : entry[2];
  const s = session();
  useEffect(() => {
    document.title = `${entry[1]} · mcpgate console`;
    document.getElementById('main')?.focus();
  }, [section, id]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main').focus())}>
        Skip to content
      </a>
      <header class="top">
        <strong>mcpgate console</strong>
        <span class="who">
          signed in as <Who sub={s.sub} /> · {canWrite() ? 'admin.write' : 'read-only'}
          <button class="secondary" onClick={async () => (await signOut(), render(<SignedOut signedOut />, root))}>
            Sign out
          </button>
        </span>
      </header>
      <div class="layout">
        <nav aria-label="Console">
          <ul>
            {NAV.map(([key, label]) => (
              <li>
                <a href={`#/${key}`} aria-current={key === entry[0] ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <Flash hash={hash} />
          <Page key={hash} id={id} />
        </main>
      </div>
    </>
  );
}

/** The signed-in person's username (their id until it loads). */
function Who({ sub }) {
  const u = useApi(`/users/${encodeURIComponent(sub)}`);
  return <strong>{u.data?.username ?? sub}</strong>;
}

function SignedOut({ error, signedOut }) {
  const [stuck, setStuck] = useState(false);
  return (
    <main id="main" class="signed-out">
      <h1>mcpgate console</h1>
      {error ? (
        <p class="error" role="alert">
          Sign-in failed: {error}
        </p>
      ) : (
        <p>You are signed out of the console.</p>
      )}
      {stuck && (
        <p class="error" role="alert">
          Signing in did not complete several times in a row; wait a moment and try again.
        </p>
      )}
      {signedOut && (
        <p>
          This browser is still signed in to mcpgate itself: <a href={`${issuer}/account`}>sign out of mcpgate</a> too on a shared computer.
        </p>
      )}
      <button onClick={async () => setStuck(!(await signIn('', signedOut ? 'login' : undefined)))}>Sign in</button>
    </main>
  );
}

function App() {
  const [, tick] = useState(0);
  useEffect(() => onAuthChange(() => tick((n) => n + 1)), []);
  if (!session()) return <main id="main" aria-busy="true"><p>Signing in…</p></main>;
  if (session().scopes.size === 0) return <SignedOut error="your account holds neither admin.read nor admin.write (give it a role with them)." />;
  return <Shell />;
}

const root = document.getElementById('app');
whenStuck(() => render(<SignedOut error="signing in did not complete several times in a row." />, root));
const answer = await completeSignIn();
if (answer?.error) render(<SignedOut error={answer.error} />, root);
else if (answer) render(<App />, root);
else if (!(await signIn())) render(<SignedOut error="signing in did not complete several times in a row." />, root);
