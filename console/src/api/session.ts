/**
 * Who is signed in: the bearer token, kept in sessionStorage (gone with the tab, never in a
 * cookie, so no CSRF surface) and mirrored in a signal so the app re-renders on sign-in/out.
 */
import { createRoot, createSignal } from 'solid-js';

const KEY = 'haproxyhq.token';

function read(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export const session = createRoot(() => {
  const [token, setToken] = createSignal<string | undefined>(read());
  const [expired, setExpired] = createSignal(false);
  return {
    token,
    /** True after the server refused the token (401): the sign-in page says so. */
    expired,
    signIn(t: string) {
      sessionStorage.setItem(KEY, t);
      setExpired(false);
      setToken(t);
    },
    signOut() {
      sessionStorage.removeItem(KEY);
      setToken(undefined);
    },
    expire() {
      if (token() === undefined) return;
      sessionStorage.removeItem(KEY);
      setExpired(true);
      setToken(undefined);
    },
  };
});
