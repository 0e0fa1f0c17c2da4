/**
 * Who is signed in, and how. Two ways, both mirrored in signals so the app re-renders:
 *
 * - a user name and password (the default): POST /login sets an HttpOnly session cookie that
 *   scripts cannot read; the console keeps only the session's CSRF token (in memory, from the
 *   answer of /login or GET /session) and sends it as X-HQ-CSRF with every write. A flag in
 *   localStorage says this browser may hold such a cookie, so a new tab or a reload asks
 *   GET /session instead of showing the sign-in page;
 * - a bearer token, kept in sessionStorage (gone with the tab, never a cookie).
 */
import { createRoot, createSignal } from 'solid-js';
import type { SessionInfo } from '@haproxyhq/schemas';

const TOKEN_KEY = 'haproxyhq.token';
const COOKIE_HINT_KEY = 'haproxyhq.session';

/** The header cookie-authenticated writes carry (schemas' CSRF_HEADER; a value import would pull TypeBox into the bundle). */
export const CSRF_HEADER = 'x-hq-csrf';

export interface Who {
  name: string;
  groups: string[];
}

function read(storage: () => Storage, key: string): string | undefined {
  try {
    return storage().getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

function write(storage: () => Storage, key: string, value: string | undefined): void {
  try {
    if (value === undefined) storage().removeItem(key);
    else storage().setItem(key, value);
  } catch {
    // Storage refused (private mode, quota): the session still works in this page.
  }
}

export const session = createRoot(() => {
  const storedToken = read(() => sessionStorage, TOKEN_KEY);
  const [token, setToken] = createSignal<string | undefined>(storedToken);
  const [csrf, setCsrf] = createSignal<string | undefined>();
  const [user, setUser] = createSignal<Who | undefined>();
  const [expired, setExpired] = createSignal(false);
  const [checking, setChecking] = createSignal(storedToken === undefined && read(() => localStorage, COOKIE_HINT_KEY) === '1');

  const clear = () => {
    write(() => sessionStorage, TOKEN_KEY, undefined);
    write(() => localStorage, COOKIE_HINT_KEY, undefined);
    setToken(undefined);
    setCsrf(undefined);
    setUser(undefined);
  };

  const fromSession = (info: SessionInfo) => {
    if (info.authenticatedBy !== 'session' || !info.csrfToken) return false;
    write(() => localStorage, COOKIE_HINT_KEY, '1');
    setCsrf(info.csrfToken);
    setUser({ name: info.user.name, groups: info.user.groups });
    setExpired(false);
    return true;
  };

  // A session cookie from before (another tab, a reload): is it still good?
  if (checking()) {
    void (async () => {
      try {
        const res = await fetch('/session', { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
        if (!res.ok || !fromSession((await res.json()) as SessionInfo)) clear();
      } catch {
        // The server is unreachable: the sign-in page will say so when it is used.
      } finally {
        setChecking(false);
      }
    })();
  }

  return {
    token,
    /** The CSRF token of a password session (undefined with a bearer token). */
    csrf,
    /** Who is signed in, when the server has said. */
    user,
    /** True while a session cookie from before is being checked: the app waits instead of asking to sign in. */
    checking,
    /** True after the server refused the credentials (401): the sign-in page says so. */
    expired,
    signedIn: () => token() !== undefined || csrf() !== undefined,
    /** Signed in with a bearer token (checked against the server by the caller). */
    signInWithToken(t: string, who?: Who) {
      clear();
      write(() => sessionStorage, TOKEN_KEY, t);
      setExpired(false);
      setUser(who);
      setToken(t);
    },
    /** Signed in with a password: /login's answer. */
    signInWithSession(info: SessionInfo) {
      clear();
      fromSession(info);
    },
    /** Sign out: a password session ends on the server too. */
    async signOut() {
      const c = csrf();
      if (c) {
        await fetch('/logout', { method: 'POST', headers: { [CSRF_HEADER]: c }, credentials: 'same-origin', cache: 'no-store' }).catch(() => undefined);
      }
      clear();
    },
    expire() {
      if (token() === undefined && csrf() === undefined) return;
      clear();
      setExpired(true);
    },
  };
});
