// Shared flows for the HTTP suite: discovery with oauth4webapi and the authorization code flow
// through the real login and consent pages in headless Chromium.
import * as oauth from 'oauth4webapi';
import { BASE } from './client.mjs';
import { authorizeInBrowser } from './browser.mjs';

export const insecure = { [oauth.allowInsecureRequests]: true };

export async function discover() {
  return oauth.processDiscoveryResponse(new URL(BASE), await oauth.discoveryRequest(new URL(BASE), { algorithm: 'oauth2', ...insecure }));
}

/**
 * Authorization code + PKCE: oauth4webapi builds the request and checks the response (state,
 * iss), the browser signs in and consents. Returns the token endpoint response.
 */
export async function browserCodeFlow({ as, browser, clientId, clientAuth = oauth.None(), redirect, resource, scope, username, password, screenshot, onConsent, context: shared }) {
  const client = { client_id: clientId };
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirect, code_challenge: challenge,
    code_challenge_method: 'S256', state, resource, ...(scope ? { scope } : {}),
  }).toString();
  // A shared context keeps the session cookie between authorizations (remembered sign-in).
  const context = shared ?? (await browser.newContext());
  try {
    const landed = await authorizeInBrowser(context, url.href, { username, password, redirectPrefix: redirect, screenshot, onConsent });
    const params = oauth.validateAuthResponse(as, client, new URL(landed), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirect, verifier, { additionalParameters: { resource }, ...insecure });
    return await oauth.processAuthorizationCodeResponse(as, client, response);
  } finally {
    if (!shared) await context.close();
  }
}

/** Starts the authorization in the browser and returns the URL it lands on (code or error). */
export async function browserLanding({ as, browser, clientId, redirect, resource, scope, username, password }) {
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirect,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    state: 's', resource, ...(scope ? { scope } : {}),
  }).toString();
  const context = await browser.newContext();
  try {
    return new URL(await authorizeInBrowser(context, url.href, { username, password, redirectPrefix: redirect }));
  } finally {
    await context.close();
  }
}
