import { useNavigate, useSearchParams } from '@solidjs/router';
import { Show, createSignal } from 'solid-js';
import type { SessionInfo } from '@haproxyhq/schemas';
import { api } from '../api/client.ts';
import { session } from '../api/session.ts';
import ErrorMessage from '../components/ErrorMessage.tsx';
import './SignInPage.css';

type Method = 'password' | 'token';

/**
 * Sign in with a user name and password (the default: the server sets an HttpOnly session
 * cookie) or with a bearer token (kept in this tab only). Either is checked by the server before
 * the console goes on; its refusal (wrong password, too many attempts) is shown in its words.
 */
export default function SignInPage() {
  const [method, setMethod] = createSignal<Method>('password');
  const [username, setUsername] = createSignal('');
  const [password, setPassword] = createSignal('');
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
  const tabs: Record<Method, HTMLButtonElement | undefined> = { password: undefined, token: undefined };
  const choose = (m: Method, focus = false) => {
    setMethod(m);
    setError(undefined);
    if (focus) tabs[m]?.focus();
  };
  // The WAI-ARIA tabs pattern: arrows move between the tabs, Tab goes into the chosen form.
  const onTabKey = (e: KeyboardEvent) => {
    if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) {
      e.preventDefault();
      const to: Method = e.key === 'Home' ? 'password' : e.key === 'End' ? 'token' : method() === 'password' ? 'token' : 'password';
      choose(to, true);
    }
  };

  const attempt = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      navigate(next(), { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submitPassword = (e: SubmitEvent) => {
    e.preventDefault();
    if (!username().trim() || !password()) {
      setError(new Error('Enter your user name and password.'));
      return;
    }
    void attempt(async () => {
      const info = await api<SessionInfo>('/login', { method: 'POST', body: { username: username().trim(), password: password() } });
      setPassword('');
      session.signInWithSession(info);
    });
  };

  const submitToken = (e: SubmitEvent) => {
    e.preventDefault();
    const t = token().trim();
    if (!t) {
      setError(new Error('Enter a token.'));
      return;
    }
    void attempt(async () => {
      // Proves the token, and says whose it is.
      const info = await api<SessionInfo>('/session', { token: t });
      session.signInWithToken(t, info.user);
    });
  };

  const tab = (m: Method, label: string) => (
    <button
      ref={(el) => (tabs[m] = el)}
      type="button"
      role="tab"
      id={`signin-tab-${m}`}
      aria-selected={method() === m}
      aria-controls={`signin-panel-${m}`}
      tabIndex={method() === m ? 0 : -1}
      onClick={() => choose(m)}
      onKeyDown={onTabKey}
    >
      {label}
    </button>
  );

  return (
    <main class="signin" id="main">
      <div class="signin-box">
        <h1 id="signin-title">Sign in to HAProxyHQ</h1>
        <Show when={session.expired()}>
          <p class="notice" role="status">Your session ended: sign in again.</p>
        </Show>
        <div role="tablist" aria-label="How to sign in" class="signin-tabs">
          {tab('password', 'With a password')}
          {tab('token', 'With a token')}
        </div>
        <Show
          when={method() === 'password'}
          fallback={
            <form role="tabpanel" id="signin-panel-token" aria-labelledby="signin-tab-token" onSubmit={submitToken}>
              <label for="token">Bearer token</label>
              <input
                id="token"
                name="token"
                type="password"
                autocomplete="off"
                spellcheck={false}
                value={token()}
                onInput={(e) => setToken(e.currentTarget.value)}
                aria-describedby="token-help"
                required
              />
              <p id="token-help" class="muted">
                An API token (<code>hqctl create token</code>), or the admin token in the server's kubeconfig
                (<code>$HQ_DATA_DIR/kubeconfig</code>, <code>users[0].user.token</code>). It is kept only in this tab.
              </p>
              <Show when={error()}>{(e) => <ErrorMessage error={e()} title="Could not sign in" />}</Show>
              <button type="submit" class="primary" disabled={busy()}>{busy() ? 'Checking…' : 'Sign in'}</button>
            </form>
          }
        >
          <form role="tabpanel" id="signin-panel-password" aria-labelledby="signin-tab-password" onSubmit={submitPassword}>
            <label for="username">User name</label>
            <input
              id="username"
              name="username"
              type="text"
              autocomplete="username"
              autocapitalize="none"
              spellcheck={false}
              value={username()}
              onInput={(e) => setUsername(e.currentTarget.value)}
              required
            />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              value={password()}
              onInput={(e) => setPassword(e.currentTarget.value)}
              aria-describedby="password-help"
              required
            />
            <p id="password-help" class="muted">
              The first administrator is <code>admin</code>: the server wrote its password to{' '}
              <code>$HQ_DATA_DIR/initial-admin-password</code> at its first start.
            </p>
            <Show when={error()}>{(e) => <ErrorMessage error={e()} title="Could not sign in" />}</Show>
            <button type="submit" class="primary" disabled={busy()}>{busy() ? 'Signing in…' : 'Sign in'}</button>
          </form>
        </Show>
      </div>
    </main>
  );
}
