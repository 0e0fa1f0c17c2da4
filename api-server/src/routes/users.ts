/**
 * Users, cluster-wide, at /apis/haproxyhq.io/v1alpha1/users: create (name, groups, password),
 * list, get, update (PUT: groups only), delete, and PUT .../users/NAME/password. Authorized as verbs on the resource
 * `users` (and `users/password`), which only the admin ClusterRole grants by default; anyone
 * may change their own password by giving the current one. Nothing returned holds a hash.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  API_VERSION,
  CreateUserRequestSchema,
  GROUP,
  PASSWORD_MIN,
  PasswordChangeSchema,
  VERSION,
  type CreateUserRequest,
  type PasswordChange,
  type User,
  type UserList,
  UserSchema,
} from '@haproxyhq/schemas';
import type { TObject } from '@sinclair/typebox';
import type { Authorizer, UserInfo } from '../auth.ts';
import { alreadyExists, conflict, forbidden, invalid, notFound, staleObject, type Cause } from '../errors.ts';
import { SUPERUSER_GROUP } from '../rbac/rules.ts';
import { schemaCauses } from '../registry/validation.ts';
import { RevisionMismatchError } from '../storage/types.ts';
import { hashPassword, verifyPassword } from '../users/password.ts';
import { tooManyAttempts, type People } from '../users/people.ts';
import { UserExistsError, UserNotFoundError, toUser, type StoredUser } from '../users/store.ts';
import { authorizeRequest } from './resources.ts';

const BASE = `/apis/${GROUP}/${VERSION}`;
const PLURAL = 'users';

/** 422 for a body that does not fit its schema. */
function validate<T>(schema: TObject, body: unknown, name: string): T {
  const causes = schemaCauses(schema, body);
  if (causes.length > 0) throw invalid(PLURAL, GROUP, name, causes);
  return body as T;
}

/** What a password must be besides its length limits in the schema; checked after NFC normalisation. */
function passwordCauses(password: string, userName: string, field: string): Cause[] {
  const p = password.normalize('NFC');
  if ([...p].length < PASSWORD_MIN) return [{ reason: 'FieldValueInvalid', field, message: `must have at least ${PASSWORD_MIN} characters` }];
  if (p.toLowerCase() === userName.toLowerCase()) return [{ reason: 'FieldValueInvalid', field, message: 'must not be the user name' }];
  return [];
}

/**
 * The server's own groups (system:masters above all) are given or taken only by a member of
 * system:masters: `changed` are the groups a write puts a user in or takes it out of.
 */
function requireSuperuserFor(caller: UserInfo | undefined, changed: string[], what: string): void {
  const reserved = changed.filter((g) => g.startsWith('system:'));
  if (reserved.length > 0 && caller && !caller.groups.includes(SUPERUSER_GROUP)) {
    throw forbidden(`only a member of ${SUPERUSER_GROUP} may ${what} the system groups ${reserved.join(', ')}`);
  }
}

export async function userRoutes(app: FastifyInstance, opts: { people: People }): Promise<void> {
  const { people } = opts;
  const authorizer = app.getDecorator<Authorizer>('authorizer');
  const userOf = (req: FastifyRequest) => req.getDecorator<UserInfo | undefined>('user');

  const found = async (name: string): Promise<StoredUser> => {
    const u = await people.users.get(name);
    if (!u) throw notFound('User', GROUP, name, PLURAL);
    return u;
  };

  app.post(`${BASE}/${PLURAL}`, async (req, reply) => {
    await authorizeRequest(authorizer, req, { verb: 'create', resource: PLURAL });
    const rawName = (req.body as { name?: unknown } | undefined)?.name;
    const nameForErrors = typeof rawName === 'string' ? rawName.slice(0, 64) : '';
    const body = validate<CreateUserRequest>(CreateUserRequestSchema, req.body, nameForErrors);
    const causes = passwordCauses(body.password, body.name, 'password');
    if (causes.length > 0) throw invalid(PLURAL, GROUP, body.name, causes);
    const groups = [...new Set(body.groups ?? [])];
    requireSuperuserFor(userOf(req), groups, 'put a user in');
    try {
      const created = await people.users.create(people.users.newRecord(body.name, groups, await hashPassword(body.password)));
      reply.code(201);
      return toUser(created);
    } catch (err) {
      if (err instanceof UserExistsError) throw alreadyExists(GROUP, PLURAL, body.name);
      throw err;
    }
  });

  app.get(`${BASE}/${PLURAL}`, async (req, reply) => {
    await authorizeRequest(authorizer, req, { verb: 'list', resource: PLURAL });
    const { items, revision } = await people.users.list();
    reply.header('cache-control', 'no-cache, private');
    const list: UserList = { apiVersion: API_VERSION, kind: 'UserList', metadata: { resourceVersion: String(revision) }, items: items.map(toUser) };
    return list;
  });

  type Named = FastifyRequest<{ Params: { name: string } }>;

  app.get(`${BASE}/${PLURAL}/:name`, async (req: Named) => {
    await authorizeRequest(authorizer, req, { verb: 'get', resource: PLURAL, name: req.params.name });
    return toUser(await found(req.params.name));
  });

  app.delete(`${BASE}/${PLURAL}/:name`, async (req: Named) => {
    const { name } = req.params;
    await authorizeRequest(authorizer, req, { verb: 'delete', resource: PLURAL, name });
    let gone: StoredUser;
    try {
      gone = await people.users.delete(name);
    } catch (err) {
      if (err instanceof UserNotFoundError) throw notFound('User', GROUP, name, PLURAL);
      throw err;
    }
    await people.sessions.endAllOf(name);
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 200,
      details: { name, group: GROUP, kind: PLURAL, uid: gone.record.uid },
    };
  });

  // Kubernetes' update: the User as read (its resourceVersion a precondition), of which only
  // groups change. Signed-in sessions read the user as stored, so they follow within 5 s.
  app.put(`${BASE}/${PLURAL}/:name`, async (req: Named) => {
    const { name } = req.params;
    await authorizeRequest(authorizer, req, { verb: 'update', resource: PLURAL, name });
    const body = validate<User>(UserSchema, req.body, name);
    if (body.metadata.name !== name) {
      throw invalid(PLURAL, GROUP, name, [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `must be the name in the path (${name})` }]);
    }
    const user = await found(name);
    if (body.metadata.resourceVersion !== String(user.modRevision)) {
      throw staleObject(GROUP, PLURAL, name);
    }
    const groups = [...new Set(body.groups)];
    const changed = [...groups.filter((g) => !user.record.groups.includes(g)), ...user.record.groups.filter((g) => !groups.includes(g))];
    requireSuperuserFor(userOf(req), changed, 'move a user into or out of');
    try {
      return toUser(await people.users.setGroups(user, groups));
    } catch (err) {
      if (err instanceof UserNotFoundError) throw notFound('User', GROUP, name, PLURAL);
      if (err instanceof RevisionMismatchError) throw staleObject(GROUP, PLURAL, name);
      throw err;
    }
  });

  app.put(`${BASE}/${PLURAL}/:name/password`, async (req: Named, reply: FastifyReply) => {
    const { name } = req.params;
    const caller = userOf(req);
    const mayReset = caller ? (await authorizer.authorize(caller, { verb: 'update', resource: PLURAL, subresource: 'password', name })).allowed : true;
    const own = caller?.name === name;
    // Someone else's password: only who may update users/password (admins), in the usual words.
    if (!own) await authorizeRequest(authorizer, req, { verb: 'update', resource: PLURAL, subresource: 'password', name });
    const body = validate<PasswordChange>(PasswordChangeSchema, req.body, name);
    const user = await found(name);
    if (!mayReset || body.currentPassword !== undefined) {
      if (body.currentPassword === undefined) {
        throw invalid(PLURAL, GROUP, name, [{ reason: 'FieldValueRequired', field: 'currentPassword', message: 'Required value: give your current password to change it' }]);
      }
      // The same throttle as sign-in: a stolen session must not be a way to guess the password.
      const wait = people.throttle.attempt(req.ip, name);
      if (wait > 0) throw tooManyAttempts(reply, wait, 'too many wrong passwords for this user name or from this address');
      if (!(await verifyPassword(body.currentPassword, user.record.password))) throw forbidden('the current password is not correct');
      people.throttle.succeeded(req.ip, name);
    }
    const causes = passwordCauses(body.newPassword, name, 'newPassword');
    if (causes.length > 0) throw invalid(PLURAL, GROUP, name, causes);
    let updated: StoredUser;
    try {
      updated = await people.users.setPassword(user, await hashPassword(body.newPassword));
    } catch (err) {
      if (err instanceof UserNotFoundError) throw notFound('User', GROUP, name, PLURAL);
      if (err instanceof RevisionMismatchError) throw conflict(GROUP, PLURAL, name, 'the user was changed meanwhile; try again');
      throw err;
    }
    // Every other session of the user ends: whoever knew the old password is out.
    await people.sessions.endAllOf(name, people.sessionOf(req)?.active.hash);
    return toUser(updated);
  });
}
