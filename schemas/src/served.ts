/**
 * The group's endpoints that are not stored resources (the audit log, API and join tokens,
 * users): what discovery and the OpenAPI documents say of them, in one place so neither drifts
 * from the other. The routes are the API server's routes/audit.ts, tokens.ts and users.ts.
 */
import type { TSchema } from '@sinclair/typebox';
import { AuditEventListSchema, AuditEventSchema } from './audit.ts';
import { APITokenListSchema, APITokenSchema, JoinTokenListSchema, JoinTokenRequestSchema, JoinTokenSchema, TokenRequestSchema } from './tokens.ts';
import { CreateUserRequestSchema, PasswordChangeSchema, UserListSchema, UserSchema } from './user.ts';

export interface ServedEndpoint {
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  schema: TSchema;
  listSchema: TSchema;
  /** Query parameters of the list. */
  listParams: string[];
  /** The create's request body (its answer is the object); none: not created here. */
  createBody?: TSchema;
  /** One object at `.../{name}`: read, replaced (PUT, the object as read), and deleted (answering with this kind, or a Status). */
  read?: boolean;
  update?: boolean;
  deleteAnswers?: 'object' | 'Status';
  /** `.../{name}/password` (PUT, this body, answering with the object). */
  password?: TSchema;
}

export const SERVED_ENDPOINTS: ServedEndpoint[] = [
  {
    plural: 'auditevents',
    singular: 'auditevent',
    kind: 'AuditEvent',
    namespaced: false,
    schema: AuditEventSchema,
    listSchema: AuditEventListSchema,
    listParams: ['user', 'namespace', 'resource', 'name', 'verb', 'sinceTime', 'order', 'limit', 'continue'],
  },
  {
    plural: 'tokens',
    singular: 'token',
    kind: 'APIToken',
    namespaced: false,
    schema: APITokenSchema,
    listSchema: APITokenListSchema,
    listParams: [],
    createBody: TokenRequestSchema,
    deleteAnswers: 'object',
  },
  {
    plural: 'jointokens',
    singular: 'jointoken',
    kind: 'JoinToken',
    namespaced: true,
    schema: JoinTokenSchema,
    listSchema: JoinTokenListSchema,
    listParams: [],
    createBody: JoinTokenRequestSchema,
    deleteAnswers: 'object',
  },
  {
    plural: 'users',
    singular: 'user',
    kind: 'User',
    namespaced: false,
    schema: UserSchema,
    listSchema: UserListSchema,
    listParams: [],
    createBody: CreateUserRequestSchema,
    read: true,
    update: true,
    deleteAnswers: 'Status',
    password: PasswordChangeSchema,
  },
];

/** Discovery's verbs for one (Kubernetes' names). */
export function servedVerbs(e: ServedEndpoint): string[] {
  return [...(e.createBody ? ['create'] : []), ...(e.deleteAnswers ? ['delete'] : []), ...(e.read ? ['get'] : []), 'list', ...(e.update ? ['update'] : [])];
}
