/**
 * Credentials: API tokens (for people, pipelines and enrolled agents), join tokens (single-use,
 * for an agent's enrollment) and the enrollment exchange. Not stored resources: the server keeps
 * only each secret's SHA-256, shows a secret once (in the answer to the request that made it) and
 * lists tokens by their public id.
 *
 * POST /apis/haproxyhq.io/v1alpha1/tokens                               TokenRequest -> APIToken (with token)
 * GET  /apis/haproxyhq.io/v1alpha1/tokens                               APITokenList (never a secret)
 * DELETE /apis/haproxyhq.io/v1alpha1/tokens/ID                          revoke
 * POST /apis/haproxyhq.io/v1alpha1/namespaces/NS/jointokens             JoinTokenRequest -> JoinToken (with token)
 * GET  /apis/haproxyhq.io/v1alpha1/namespaces/NS/jointokens             JoinTokenList
 * DELETE /apis/haproxyhq.io/v1alpha1/namespaces/NS/jointokens/ID        revoke an unused one
 * POST /enroll                                                          EnrollmentRequest -> Enrollment (no credentials needed)
 * POST   .../namespaces/NS/haproxyinstances/NAME/credentials            rotate (the agent itself) -> Enrollment
 * DELETE .../namespaces/NS/haproxyinstances/NAME/credentials            revoke every credential of the instance
 */
import { Type, type Static } from '@sinclair/typebox';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, ListSchema } from './meta.ts';

/** Longest life of a join token: a week (kubeadm's bootstrap tokens default to a day). */
export const MAX_JOIN_TOKEN_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 3600;

/** Public ids: 12 lowercase hex digits (a DNS-1123 label, so they can be metadata.name). */
export const TOKEN_ID_PATTERN = '^[0-9a-f]{12}$';

export const TokenUserSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256, description: 'The user the token authenticates as (what RoleBindings name).' }),
    groups: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 32, description: 'Groups of the user (what RoleBindings may name instead).' }),
  },
  { additionalProperties: false, description: 'Who a token authenticates as.' },
);
export type TokenUser = Static<typeof TokenUserSchema>;

export const InstanceRefSchema = Type.Object(
  {
    namespace: Type.String({ maxLength: 63, pattern: DNS1123_LABEL, description: 'Namespace of the HAProxyInstance.' }),
    name: Type.String({ maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'Name of the HAProxyInstance.' }),
  },
  { additionalProperties: false, description: 'The one HAProxyInstance an agent credential is bound to.' },
);
export type InstanceRef = Static<typeof InstanceRefSchema>;

const TokenMetaSchema = Type.Object(
  {
    name: Type.String({ description: "The token's public id: what lists show and DELETE .../tokens/ID takes. Not a secret." }),
    namespace: Type.Optional(Type.String({ description: 'Join tokens: the namespace the agent enrolls into.' })),
    creationTimestamp: Type.Optional(Type.String({ format: 'date-time', description: 'When the token was made (RFC 3339).' })),
  },
  { additionalProperties: false, description: 'Identity of the token.' },
);

export const TokenRequestSchema = Type.Object(
  {
    user: TokenUserSchema,
    description: Type.Optional(Type.String({ maxLength: 256, description: 'What the token is for ("CI deploys of web"): shown in lists.' })),
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 10 * 366 * 24 * 3600, description: 'Life of the token in seconds (at least 60); none: until revoked.' }),
    ),
  },
  { additionalProperties: false, description: 'A new API token for a person or a pipeline.' },
);
export type TokenRequest = Static<typeof TokenRequestSchema>;

export const APITokenSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('APIToken'),
    metadata: TokenMetaSchema,
    type: Type.Union([Type.Literal('user'), Type.Literal('agent')], {
      description: 'user: made through the tokens API (or the first admin token); agent: made by an enrollment or a rotation, bound to one instance.',
    }),
    user: TokenUserSchema,
    description: Type.String({ description: 'What the token is for.' }),
    instance: Type.Optional(InstanceRefSchema),
    expirationTimestamp: Type.Optional(Type.String({ format: 'date-time', description: 'When the token stops working; none: until revoked.' })),
    token: Type.Optional(
      Type.String({ description: 'The secret bearer token: only in the answer to the request that made it, never again.' }),
    ),
  },
  { additionalProperties: false, description: 'An API token, by its public id.' },
);
export type APIToken = Static<typeof APITokenSchema>;
export const APITokenListSchema = ListSchema('APIToken', APITokenSchema);
export type APITokenList = Static<typeof APITokenListSchema>;

export const JoinTokenRequestSchema = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_JOIN_TOKEN_TTL_SECONDS,
        description: `Life of the join token in seconds (at most ${MAX_JOIN_TOKEN_TTL_SECONDS}, a week; default ${DEFAULT_JOIN_TOKEN_TTL_SECONDS}).`,
      }),
    ),
    instance: Type.Optional(
      Type.String({ maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'Only an agent enrolling as this HAProxyInstance may use it; none: any name.' }),
    ),
    description: Type.Optional(Type.String({ maxLength: 256, description: 'What the join token is for.' })),
  },
  { additionalProperties: false, description: 'A single-use, expiring token an agent enrolls with.' },
);
export type JoinTokenRequest = Static<typeof JoinTokenRequestSchema>;

export const JoinTokenSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('JoinToken'),
    metadata: TokenMetaSchema,
    instance: Type.Optional(Type.String({ description: 'The only instance name it enrolls; none: any.' })),
    description: Type.String({ description: 'What the join token is for.' }),
    expirationTimestamp: Type.String({ format: 'date-time', description: 'When it stops working, used or not.' }),
    usedTimestamp: Type.Optional(Type.String({ format: 'date-time', description: 'When an agent enrolled with it (a join token works once).' })),
    usedBy: Type.Optional(Type.String({ description: 'The instance that enrolled with it.' })),
    token: Type.Optional(Type.String({ description: 'The secret (hqj_...): only in the answer to the request that made it.' })),
  },
  { additionalProperties: false, description: 'A join token, by its public id.' },
);
export type JoinToken = Static<typeof JoinTokenSchema>;
export const JoinTokenListSchema = ListSchema('JoinToken', JoinTokenSchema);
export type JoinTokenList = Static<typeof JoinTokenListSchema>;

export const EnrollmentRequestSchema = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 512, description: 'The join token (hqj_...).' }),
    instance: Type.String({ minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'The HAProxyInstance the agent runs as.' }),
  },
  { additionalProperties: false, description: 'An agent asking for its credential.' },
);
export type EnrollmentRequest = Static<typeof EnrollmentRequestSchema>;

export const EnrollmentSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('Enrollment'),
    namespace: Type.String({ description: 'The namespace the instance is in.' }),
    instance: Type.String({ description: 'The HAProxyInstance the credential is bound to.' }),
    user: TokenUserSchema,
    tokenId: Type.String({ description: "The credential's public id (hqctl get tokens)." }),
    token: Type.String({ description: 'The bearer token: write it to the agent\'s kubeconfig (mode 0600); it is not shown again.' }),
    certificateAuthority: Type.Optional(Type.String({ description: "PEM of the CA that signed the server's certificate, for the kubeconfig." })),
  },
  { additionalProperties: false, description: "An agent's credential, bound to its own HAProxyInstance." },
);
export type Enrollment = Static<typeof EnrollmentSchema>;
