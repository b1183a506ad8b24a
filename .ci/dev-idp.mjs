// `make dev`: a local OpenID provider next to the demo (oidc-provider from npm, its development
// login page: any login and password), registered in mcpgate by .ci/seed-demo.mjs. Everyone who
// signs in there is in the group "notes", which maps to the demo's notes-team.
import { readFileSync } from 'node:fs';
import { startIdp } from '../tests/http/lib/idp.mjs';

const state = JSON.parse(readFileSync('.wrangler/demo.json', 'utf8')).idp;
const port = Number(new URL(state.issuer).port);
await startIdp({ port, clientId: state.client_id, clientSecret: state.client_secret, redirectUri: state.redirect_uri, name: 'demo-sso', defaultGroups: ['notes'] });
console.log(`  Demo SSO    ${state.issuer}   (an OpenID provider: "Sign in with Demo SSO" on the login page)`);
