// A real OpenID Provider for the federation tests and `make dev`: `oidc-provider` from npm (an
// OpenID-certified implementation nobody on this team wrote), with its development login and
// consent pages, RS256 ID tokens, and accounts whose email and groups a test can change.
// `tamper` lets a test replace the ID token in the provider's token response (a man in the
// middle of mcpgate's back channel), `rewriteRedirect` where it sends the browser back (a
// provider that mixes up its answers): the provider itself stays unmodified.
import http from 'node:http';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

/**
 * Starts a provider at `http://127.0.0.1:<port>` for one client (`clientId`, `clientSecret`,
 * `redirectUri`). Returns { issuer, accounts, tamper, lastIdToken, close }.
 */
export async function startIdp({ port, clientId, clientSecret, redirectUri, name = 'idp', defaultGroups = [] }) {
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `${name}-rs256`, alg: 'RS256', use: 'sig' };
  /** sub → { email, email_verified, name, groups } */
  const accounts = new Map();
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, ...(accounts.get(sub) ?? { email: `${sub}@example.test`, email_verified: true, name: sub, groups: defaultGroups }) }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Claims of the requested scopes go in the ID token (as most enterprise providers do).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [`${name}-cookie-key-0123456789abcdef`] },
    pkce: { required: () => true },
  });
  const state = { mode: 'pass', replacement: null, lastIdToken: null, redirect: null };
  const handle = provider.callback();
  const server = http.createServer((req, res) => {
    if (state.redirect) {
      const setHeader = res.setHeader.bind(res);
      res.setHeader = (name, value) =>
        setHeader(name, name.toLowerCase() === 'location' && String(value).startsWith(redirectUri) ? state.redirect(String(value)) : value);
    }
    if (req.method === 'POST' && req.url.startsWith('/token')) {
      const end = res.end.bind(res);
      res.end = (chunk, ...rest) => {
        if (!chunk) return end(chunk, ...rest);
        let body;
        try {
          body = JSON.parse(chunk.toString());
        } catch {
          return end(chunk, ...rest);
        }
        if (body.id_token) {
          const original = body.id_token;
          if (state.mode !== 'pass') body.id_token = state.replacement(original);
          state.lastIdToken = original;
        }
        const out = JSON.stringify(body);
        if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(out));
        return end(out);
      };
    }
    handle(req, res);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer,
    accounts,
    /** From now on, the token response carries `replace(idToken)` instead (null: untouched). */
    tamper(replace) {
      state.mode = replace ? 'tamper' : 'pass';
      state.replacement = replace;
    },
    lastIdToken: () => state.lastIdToken,
    /**
     * An identity assertion (ID-JAG) signed with this provider's key, as its token exchange
     * would issue one for an MCP client (the provider's own signing key, published in its JWKS).
     */
    signAssertion: (claims, typ = 'oauth-id-jag+jwt') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ }).sign(privateKey),
    /** From now on, the browser is sent back to `rewrite(url)` instead (null: untouched). */
    rewriteRedirect(rewrite) {
      state.redirect = rewrite;
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
