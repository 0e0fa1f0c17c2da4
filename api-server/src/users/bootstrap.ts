/**
 * The first user. At the first start of a store (new, or made before users existed), the server
 * creates `admin` in system:masters with a random password and writes that password to
 * `$HQ_DATA_DIR/initial-admin-password` (mode 0600), never to a log: logs are shipped and kept
 * (journald, kubectl logs, collectors) where a secret must not go. The log says where the file
 * is. A marker in the store makes this happen once, whichever replica starts first; deleting
 * the admin later does not bring it back.
 *
 * At every later start, the file is removed once the admin's password has changed (it then
 * holds nothing that works); until then the log reminds the operator to change it.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUPERUSER_GROUP } from '../rbac/rules.ts';
import { KeyExistsError, type Storage } from '../storage/types.ts';
import { generatePassword, hashPassword, verifyPassword } from './password.ts';
import { USERS_PREFIX, type UserStore } from './store.ts';

export const INITIAL_ADMIN = 'admin';
export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password';
const MARKER = '/haproxyhq/auth/bootstrap';

export interface BootstrapLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Create the initial admin if this store never had one; tidy up or remind about its password file. */
export async function ensureInitialAdmin(storage: Storage, users: UserStore, dataDir: string, log: BootstrapLog): Promise<void> {
  const file = join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  if (await storage.get(MARKER)) {
    await tidy(users, file, log);
    return;
  }
  const password = generatePassword();
  const record = users.newRecord(INITIAL_ADMIN, [SUPERUSER_GROUP], await hashPassword(password));
  // The file first: a start that dies after the commit must not lose the only copy.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${password}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  const marker = JSON.stringify({ initialAdmin: INITIAL_ADMIN, createdAt: record.createdAt });
  try {
    await storage.txn([
      { type: 'create', key: USERS_PREFIX + INITIAL_ADMIN, value: JSON.stringify(record) },
      { type: 'create', key: MARKER, value: marker },
    ]);
  } catch (err) {
    rmSync(file, { force: true });
    if (!(err instanceof KeyExistsError)) throw err;
    if (err.opIndex === 1) return; // another replica was first
    // A user "admin" exists already (made by hand): it keeps its password.
    try {
      await storage.txn([{ type: 'create', key: MARKER, value: marker }]);
    } catch (e) {
      if (!(e instanceof KeyExistsError)) throw e;
    }
    log.info(`a user "${INITIAL_ADMIN}" exists already: no initial admin password was made`);
    return;
  }
  log.info(
    `created the user "${INITIAL_ADMIN}" (group ${SUPERUSER_GROUP}) for the console; its password is in ${file} (mode 0600, shown nowhere else): sign in, change it with "hqctl passwd", then delete the file`,
  );
}

async function tidy(users: UserStore, file: string, log: BootstrapLog): Promise<void> {
  let password: string;
  try {
    password = readFileSync(file, 'utf8').trim();
  } catch {
    return;
  }
  const admin = await users.get(INITIAL_ADMIN);
  if (admin && password !== '' && (await verifyPassword(password, admin.record.password))) {
    log.warn(`the initial password of "${INITIAL_ADMIN}" is still in ${file} and still works: change it with "hqctl passwd" and delete the file`);
    return;
  }
  rmSync(file, { force: true });
  log.info(`removed ${file}: the password of "${INITIAL_ADMIN}" has changed since it was made`);
}
