// A tiny, real OpenID Provider for the login tests (npm `oidc-provider`), on 127.0.0.1 only.
//
//   node tools/node/oidc-provider.mjs [PORT]
//
// Environment (all optional):
//   OIDC_PORT            port when no argument is given (default 9090)
//   OIDC_CLIENT_ID       the one static client (default quizhub-test)
//   OIDC_CLIENT_SECRET   its secret (default quizhub-test-secret)
//   OIDC_REDIRECT_URIS   comma-separated redirect URIs (default http://testserver/api/auth/oidc/callback)
//   OIDC_USERS           JSON {"login name": ["group", ...]}: the accounts and their `groups` claim
//
// Login is the package's development login form (any password; the login name picks the account). Consent is
// granted automatically, as a first-party provider would for its own app. PKCE (S256) is required. Claims:
// `sub` = login name, `name`/`preferred_username`, and `groups` (scope `groups`), served by the userinfo endpoint
// (and in the ID token only when asked for through the `claims` parameter, as the spec says).
// Prints "listening <issuer>" on stdout once it accepts connections; the test fixture waits for that line.
// It is a test tool: the signing keys and cookie keys are throwaway development defaults.

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 9090);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.OIDC_CLIENT_ID ?? 'quizhub-test';
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'quizhub-test-secret';
const redirectUris = (process.env.OIDC_REDIRECT_URIS ?? 'http://testserver/api/auth/oidc/callback').split(',');
const users = JSON.parse(process.env.OIDC_USERS ?? '{"tester": ["quizhub-admins"]}');

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  cookies: { keys: ['quizhub-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(users, id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, preferred_username: id, email: `${id}@example.test`, groups: users[id] };
      },
    };
  },
  // Skip the consent screen: grant what the client asks for, like a provider does for a first-party app.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
    if (grantId) {
      const existing = await oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
    grant.addOIDCScope(oidc.params.scope ?? 'openid');
    if (oidc.params.claims) {
      const requested = JSON.parse(oidc.params.claims);
      grant.addOIDCClaims(Object.keys({ ...requested.id_token, ...requested.userinfo }));
    }
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
