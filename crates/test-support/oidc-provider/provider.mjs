// A real OpenID Connect provider (the `oidc-provider` package) for Tollgate's end-to-end
// tests. Run as `node provider.mjs <config.json>`; see README.md beside this file for the
// config, the one line it prints and the `/__*` control endpoints.
//
// One Node `http` server owns the port; it answers the control and interaction routes
// itself and hands everything else to the current Provider instance. Key rotation and
// client changes build a new Provider, so the issuer and port never change, and all
// provider state lives in this module (see StoreAdapter) so it survives the swap.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// oidc-provider 9 calls crypto.hash (Node.js 20.12 and later); say so plainly rather
// than fail on the first token request.
if (typeof crypto.hash !== 'function') {
  console.error(`oidc-provider 9 needs Node.js 20.12 or later; this is ${process.version}`);
  process.exit(1);
}

// stdout carries exactly one line (the issuer) for the parent to read; oidc-provider
// prints its notices with console.info, so every console write goes to stderr.
console.log = console.error;
console.info = console.error;
const { Provider, errors } = await import('oidc-provider');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accessTtl = config.access_token_ttl ?? 3600;
const idTtl = config.id_token_ttl ?? 3600;
const refreshTtl = config.refresh_token_ttl ?? 86400;
const resource = config.resource;
let clients = config.clients ?? [];

// ---- state that outlives Provider instances -------------------------------------------

const stats = {
  grants: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
  jwks_requests: 0,
  token_requests: 0,
  end_session_requests: 0,
  logouts: 0,
};

// The package's own memory adapter keeps one store per Provider instance, which a
// rotation would throw away; this one keeps a single store for the process.
const store = new Map(); // "Model:id" -> { payload, expiresAt }
const sessionByUid = new Map();
const byUserCode = new Map();
const byGrant = new Map(); // grantId -> Set of "Model:id"

class StoreAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(key, { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) sessionByUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const key = this.key(id);
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = sessionByUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) ?? []) store.delete(key);
    byGrant.delete(grantId);
  }
}

// Signing keys, newest first: the provider signs with the first RS256 key it finds and
// publishes them all in its JWKS, so tokens signed before a rotation still verify.
const signingKeys = [];
let keyCounter = 0;
function addSigningKey() {
  keyCounter += 1;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `k${keyCounter}`, alg: 'RS256', use: 'sig' };
  signingKeys.unshift(jwk);
  return jwk.kid;
}
addSigningKey();

// Cookie signing keys must stay the same across instances, or a rotation would log
// everyone out.
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

// ---- the Provider --------------------------------------------------------------------

const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
const SCOPE_CLAIMS = { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] };

function accountClaims(id) {
  return {
    sub: id,
    email: `${id}@example.com`,
    email_verified: true,
    name: id.charAt(0).toUpperCase() + id.slice(1),
  };
}

function resourceServerInfo(indicator) {
  if (!resource || indicator !== resource.indicator) throw new errors.InvalidTarget();
  return {
    audience: resource.audience,
    scope: resource.scope ?? '',
    accessTokenTTL: accessTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

// The RP-initiated logout confirmation, with its button inside the form so that a
// non-JavaScript client can submit it as a plain form (`logout=yes`).
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><title>Sign out</title></head><body>
${form.replace('</form>', '<button type="submit" name="logout" value="yes">Sign out</button></form>')}
</body></html>`;
}

async function renderError(ctx, out, error) {
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html><html><head><title>error</title></head><body>
<pre>${escapeHtml(JSON.stringify(out))}</pre></body></html>`;
}

function makeProvider() {
  const provider = new Provider(issuer, {
    adapter: StoreAdapter,
    clients,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => accountClaims(id),
    }),
    scopes: OIDC_SCOPES,
    // The authorization code flow only: no implicit or hybrid responses.
    responseTypes: ['code'],
    claims: SCOPE_CLAIMS,
    // Put the profile and email claims in the ID token too (as most real providers do)
    // rather than only behind the userinfo endpoint.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Refresh tokens for every client allowed the grant, not only with offline_access.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => oneOf,
        // A code flow that asked for the API's resource gets its JWT access token.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => resourceServerInfo(indicator),
      },
    },
    ttl: {
      AccessToken: accessTtl,
      ClientCredentials: accessTtl,
      IdToken: idTtl,
      RefreshToken: refreshTtl,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 86400,
      Grant: 86400,
    },
    renderError,
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
    'end_session_confirm.error', 'userinfo.error', 'introspection.error', 'revocation.error',
    'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, err) => {
      const detail = err.error_description ? `: ${err.error_description}` : '';
      console.error(`oidc-provider ${event}: ${err.message}${detail}`, event === 'server_error' ? err.stack : '');
    });
  }
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type;
    stats.grants[type] = (stats.grants[type] ?? 0) + 1;
  });
  provider.on('end_session.success', () => { stats.logouts += 1; });
  return provider;
}

// Builds a Provider and makes sure every client's metadata is valid (the package checks
// static clients only when one is first used) before it serves anything.
async function buildProvider() {
  const provider = makeProvider();
  for (const c of clients) {
    await provider.Client.find(c.client_id);
  }
  return { provider, handle: provider.callback() };
}

// ---- interaction routes: one form, login and consent in one step ---------------------

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function interactionPage(req, res, uid) {
  const details = await current.provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  send(res, 200, 'text/html; charset=utf-8', `<!DOCTYPE html><html><head><title>Sign in</title></head><body>
<h1>Sign in to ${escapeHtml(details.params.client_id)}</h1>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="text" name="login" autofocus>
<button type="submit">Sign in</button>
</form></body></html>`);
}

async function interactionLogin(req, res, uid) {
  const { provider } = current;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const login = new URLSearchParams(await readBody(req)).get('login')?.trim();
  if (!login) {
    send(res, 400, 'text/plain', 'login is required\n');
    return;
  }
  const { params } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant || grant.accountId !== login) {
    grant = new provider.Grant({ accountId: login, clientId: params.client_id });
  }
  const scopes = String(params.scope ?? '').split(' ').filter((s) => OIDC_SCOPES.includes(s));
  grant.addOIDCScope(scopes.join(' '));
  grant.addOIDCClaims(scopes.flatMap((s) => SCOPE_CLAIMS[s] ?? []));
  if (resource) grant.addResourceScope(resource.indicator, resource.scope ?? '');
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

// ---- control routes ------------------------------------------------------------------

async function control(req, res, path) {
  if (req.method === 'GET' && path === '/__stats') {
    sendJson(res, 200, stats);
  } else if (req.method === 'POST' && path === '/__rotate') {
    const kid = addSigningKey();
    current = await buildProvider();
    sendJson(res, 200, { kid });
  } else if (req.method === 'POST' && path === '/__clients') {
    const body = JSON.parse(await readBody(req));
    if (!Array.isArray(body.clients)) throw new TypeError('body must be {"clients": [...]}');
    const previous = clients;
    clients = body.clients;
    try {
      current = await buildProvider();
    } catch (err) {
      clients = previous;
      throw err;
    }
    sendJson(res, 200, { clients: clients.length });
  } else {
    sendJson(res, 404, { error: `no control route ${req.method} ${path}` });
  }
}

// ---- the server ----------------------------------------------------------------------

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res, status, value) {
  send(res, status, 'application/json', JSON.stringify(value));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function dispatch(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  const interaction = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  try {
    if (path.startsWith('/__')) {
      await control(req, res, path);
    } else if (interaction && req.method === 'GET' && !interaction[2]) {
      await interactionPage(req, res, interaction[1]);
    } else if (interaction && req.method === 'POST' && interaction[2]) {
      await interactionLogin(req, res, interaction[1]);
    } else {
      if (path === '/jwks') stats.jwks_requests += 1;
      if (path === '/token') stats.token_requests += 1;
      if (path === '/session/end') stats.end_session_requests += 1;
      current.handle(req, res);
    }
  } catch (err) {
    console.error(`oidc-provider ${req.method} ${path}: ${err.stack ?? err}`);
    if (!res.headersSent) {
      // A bad control request or a stale interaction is the caller's error.
      const status = path.startsWith('/__') || err instanceof errors.SessionNotFound
        ? 400 : (err.statusCode ?? 500);
      sendJson(res, status, { error: err.name, error_description: err.message });
    } else {
      res.end();
    }
  }
}

const server = http.createServer((req, res) => { dispatch(req, res); });
// Port 0 (the OS picks) unless a demo asks for a fixed one (examples/oidc-demo.sh).
await new Promise((resolve) => server.listen(config.port ?? 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
let current;
try {
  current = await buildProvider();
} catch (err) {
  console.error(`oidc-provider: invalid configuration: ${err.stack ?? err}`);
  process.exit(2);
}

// The parent holds our stdin open; when it goes away (even killed), so do we. Scripts
// that stop it by pid themselves (the demo, the benchmarks) set "watch_stdin": false.
if (config.watch_stdin !== false) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
