/**
 * People: users with passwords, and the console's sign-in session. Not resources of the generic
 * registry: the server keeps users (password hashes, never returned) and sessions under its own
 * keys, serves users at /apis/haproxyhq.io/v1alpha1/users (admin only by default) and sessions
 * at /login, /logout and /session. What goes over the wire never holds a password or a hash.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ListMetaSchema } from './meta.ts';

/** Lowercase letters, digits and '-', '.', '_', '@' between them; at most 64 (so no "system:" names). */
export const USERNAME_PATTERN = '^[a-z0-9]([-a-z0-9._@]*[a-z0-9])?$';
export const USERNAME_MAX = 64;
/** Passwords: at least 8 characters, at most 1024 (after Unicode NFC normalisation). */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

const Username = (description: string) => Type.String({ minLength: 1, maxLength: USERNAME_MAX, pattern: USERNAME_PATTERN, description });
const Password = (description: string) => Type.String({ minLength: 1, maxLength: PASSWORD_MAX, description });
const Groups = Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }), {
  maxItems: 32,
  description: 'Groups the user is in: RoleBindings and ClusterRoleBindings may name them (kind Group). system:masters may do anything.',
});

export const UserSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('User', { description: 'User' }),
    metadata: Type.Object(
      {
        name: Type.String({ description: 'The user name people sign in with, and RBAC subjects of kind User name.' }),
        uid: Type.String({ description: 'Unique ID set at creation: a user deleted and created again is another user.' }),
        resourceVersion: Type.String({ description: 'Store revision of the last write to the user.' }),
        creationTimestamp: Type.String({ format: 'date-time', description: 'When the user was created (RFC 3339).' }),
      },
      { additionalProperties: false, description: 'Identity of the user.' },
    ),
    groups: Groups,
    passwordChangedTime: Type.String({ format: 'date-time', description: 'When the password was last set.' }),
  },
  { additionalProperties: false, description: 'A person who signs in with a password. The password hash is never returned.' },
);
export type User = Static<typeof UserSchema>;

export const UserListSchema = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.Literal('UserList'),
    metadata: ListMetaSchema,
    items: Type.Array(UserSchema),
  },
  { additionalProperties: false, description: 'Every user, by name.' },
);
export type UserList = Static<typeof UserListSchema>;

/** POST /apis/haproxyhq.io/v1alpha1/users. */
export const CreateUserRequestSchema = Type.Object(
  {
    name: Username('The user name: lowercase letters, digits and "-", ".", "_", "@" between them.'),
    groups: Type.Optional(Groups),
    password: Password(`The password: ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, not the user name.`),
  },
  { additionalProperties: false, description: 'A new user.' },
);
export type CreateUserRequest = Static<typeof CreateUserRequestSchema>;

/** PUT /apis/haproxyhq.io/v1alpha1/users/NAME/password. */
export const PasswordChangeSchema = Type.Object(
  {
    currentPassword: Type.Optional(Password('The password now: needed to change your own, unless you may update users/password (admins reset anyone\'s).')),
    newPassword: Password(`The new password: ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, not the user name.`),
  },
  { additionalProperties: false, description: 'A password change (your own, with the current one) or reset (an admin).' },
);
export type PasswordChange = Static<typeof PasswordChangeSchema>;

/** POST /login. */
export const LoginRequestSchema = Type.Object(
  {
    username: Type.String({ maxLength: 256, description: 'The user name.' }),
    password: Type.String({ maxLength: PASSWORD_MAX, description: 'The password.' }),
  },
  { additionalProperties: false, description: 'Sign in to the console.' },
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

/** What /login, and GET /session, say about the caller. */
export const SessionInfoSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('Session', { description: 'Session' }),
    user: Type.Object(
      {
        name: Type.String({ description: 'Who the server takes the caller for.' }),
        groups: Type.Array(Type.String(), { description: 'Their groups.' }),
      },
      { additionalProperties: false },
    ),
    authenticatedBy: Type.Union([Type.Literal('session'), Type.Literal('token')], {
      description: 'session: the console\'s sign-in cookie; token: a bearer token.',
    }),
    csrfToken: Type.Optional(
      Type.String({ description: 'For a session: send it as the X-HQ-CSRF header with every request that changes something.' }),
    ),
    expiresTime: Type.Optional(Type.String({ format: 'date-time', description: 'For a session: when it ends however it is used.' })),
    idleTimeoutSeconds: Type.Optional(Type.Integer({ description: 'For a session: it ends after this long without a request.' })),
  },
  { additionalProperties: false, description: 'Who is signed in, and how.' },
);
export type SessionInfo = Static<typeof SessionInfoSchema>;

/** The header a cookie-authenticated request that changes something must carry (with SessionInfo.csrfToken). */
export const CSRF_HEADER = 'x-hq-csrf';
