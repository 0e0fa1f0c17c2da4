import { useNavigate, useSearchParams } from '@solidjs/router';
import { Show, createSignal } from 'solid-js';
import { api } from '../api/client.ts';
import { session } from '../api/session.ts';
import ErrorMessage from '../components/ErrorMessage.tsx';

/**
 * Sign in with a bearer token (the API's credential; the admin one is in the server's
 * kubeconfig). The token is checked against the API before it is kept.
 */
export default function SignInPage() {
  const [token, setToken] = createSignal('');
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = () => {
    const n = typeof params.next === 'string' ? params.next : '/';
    // Only our own paths: never an open redirect.
    return n.startsWith('/') && !n.startsWith('//') ? n : '/';
  };

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const t = token().trim();
    if (!t) {
      setError(new Error('Enter a token.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      // Any authenticated read proves the token; discovery is the cheapest.
      await api('/apis/haproxyhq.io/v1alpha1', { token: t });
      session.signIn(t);
      navigate(next(), { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to HAProxyHQ</h1>
        <Show when={session.expired()}>
          <p class="notice" role="status">Your session ended: the server no longer accepts that token.</p>
        </Show>
        <label for="token">Bearer token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          spellcheck={false}
          value={token()}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-describedby="token-help"
          required
        />
        <p id="token-help" class="muted">
          The admin token is in the server's kubeconfig (<code>$HQ_DATA_DIR/kubeconfig</code>, <code>users[0].user.token</code>).
          It is kept only in this tab.
        </p>
        <Show when={error()}>{(e) => <ErrorMessage error={e()} title="Could not sign in" />}</Show>
        <button type="submit" class="primary" disabled={busy()}>{busy() ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
