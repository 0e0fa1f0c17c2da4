/**
 * AuditEvent: one mutating request (or one object a request or a controller wrote), as the
 * api-server's audit log keeps it. Not a stored resource: the server appends these in the same
 * store transaction as the write they describe; nobody can create, update or delete one through
 * the API. Read them with GET /apis/haproxyhq.io/v1alpha1/auditevents (`hqctl audit`).
 *
 * Never a secret: no headers, no bodies, no Status messages (a JSON parser's message can quote
 * the body), only who did what to which object, and how it ended.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ListSchema } from './meta.ts';

export const AUDIT_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export type AuditVerb = (typeof AUDIT_VERBS)[number];

/** Who made a request: a user's name and groups, or a system actor (`system:controller:rollout`). */
export const AuditUserSchema = Type.Object(
  {
    name: Type.String({
      maxLength: 256,
      description:
        'The authenticated user; system:controller:NAME for the server\'s own writers (rollout, leader-election, event-ttl, garbage-collector); system:unauthenticated when no valid token came with the request.',
    }),
    groups: Type.Array(Type.String({ maxLength: 256 }), { maxItems: 32, description: "The user's groups, as the authenticator gave them." }),
  },
  { additionalProperties: false, description: 'Who made the request.' },
);
export type AuditUser = Static<typeof AuditUserSchema>;

export const AuditEventSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('AuditEvent', { description: 'AuditEvent' }),
    metadata: Type.Object(
      {
        name: Type.String({
          description:
            'The record\'s id: the millisecond it was written, the writing server\'s random id, a sequence number and, after the dot, its index among the objects one transaction wrote. Ids sort in the order the records were written (exactly, on one server).',
        }),
        resourceVersion: Type.Optional(Type.String({ description: 'Store revision of the write that appended the record.' })),
      },
      { additionalProperties: false, description: 'Identity of the record.' },
    ),
    time: Type.String({ format: 'date-time', description: 'When the server recorded it (RFC 3339, milliseconds, UTC).' }),
    verb: Type.Union(
      AUDIT_VERBS.map((v) => Type.Literal(v)),
      { description: 'create (POST), update (PUT), patch (PATCH), delete (DELETE of one object), deletecollection (DELETE of a collection).' },
    ),
    user: AuditUserSchema,
    sourceIP: Type.Optional(Type.String({ maxLength: 64, description: "The client's address as the server saw it (no X-Forwarded-For is trusted). None for the server's own writers." })),
    userAgent: Type.Optional(Type.String({ maxLength: 256, description: "The client's User-Agent header, cut at 256 characters." })),
    requestID: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'The request\'s id, also sent back in its Audit-Id response header; the records of every object one request wrote share it.',
      }),
    ),
    resource: Type.String({ maxLength: 64, description: 'Plural resource name (haproxyinstances, ...); empty when the path named no resource.' }),
    subresource: Type.Optional(Type.String({ maxLength: 64, description: 'status for writes to the /status subresource.' })),
    namespace: Type.Optional(Type.String({ maxLength: 253, description: 'Namespace of the object; none for cluster-wide ones.' })),
    name: Type.Optional(Type.String({ maxLength: 253, description: 'Name of the object; none for a create that failed before naming one.' })),
    resourceVersionBefore: Type.Optional(
      Type.String({ description: "The object's resourceVersion before the write (none for a create, or when the request failed before reading it)." }),
    ),
    resourceVersionAfter: Type.Optional(
      Type.String({
        description:
          "The object's resourceVersion after the write (for a delete, the revision of the deletion); equal to resourceVersionBefore when the write changed nothing; none when it failed.",
      }),
    ),
    patchType: Type.Optional(
      Type.Union([Type.Literal('merge'), Type.Literal('json')], { description: 'For patches: merge (merge-patch or strategic-merge-patch) or json (JSON patch).' }),
    ),
    dryRun: Type.Optional(Type.Boolean({ description: 'True for a dryRun=All request: validated, nothing written.' })),
    code: Type.Integer({ description: 'HTTP status of the response (200, 201, 401, 403, 404, 409, 422, ...).' }),
    reason: Type.Optional(Type.String({ maxLength: 64, description: "The failure's Status reason (Conflict, Forbidden, Invalid, ...); none on success." })),
    path: Type.Optional(
      Type.String({ maxLength: 256, description: 'The URL path (without the query), only when it names no resource (an unknown path).' }),
    ),
  },
  { additionalProperties: false, description: 'One write to the API, as the audit log recorded it.' },
);
export type AuditEvent = Static<typeof AuditEventSchema>;

export const AuditEventListSchema = ListSchema('AuditEvent', AuditEventSchema);
export type AuditEventList = Static<typeof AuditEventListSchema>;
