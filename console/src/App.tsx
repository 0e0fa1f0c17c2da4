/**
 * The console's routes and frame. Every page needs a signed-in session; a page's failures are
 * caught by its own error boundary and shown with the server's Status message.
 */
import { A, Navigate, Route, Router, useLocation, type RouteSectionProps } from '@solidjs/router';
import { ErrorBoundary, Show, lazy, type JSX } from 'solid-js';
import { session } from './api/session.ts';
import ErrorMessage from './components/ErrorMessage.tsx';
import FleetPage from './pages/FleetPage.tsx';
import SignInPage from './pages/SignInPage.tsx';

// The editor (CodeMirror) and charts (uPlot) load only on the pages that use them.
const InstancePage = lazy(() => import('./pages/InstancePage.tsx'));
const ConfigsPage = lazy(() => import('./pages/ConfigsPage.tsx'));
const ConfigPage = lazy(() => import('./pages/ConfigPage.tsx'));
const AccessPage = lazy(() => import('./pages/AccessPage.tsx'));
const AuditPage = lazy(() => import('./pages/AuditPage.tsx'));

function Frame(props: RouteSectionProps) {
  const location = useLocation();
  return (
    <Show when={!session.checking()} fallback={<p class="page muted" role="status">Checking your session…</p>}>
      <Show when={session.signedIn()} fallback={<Navigate href={`/signin?next=${encodeURIComponent(location.pathname)}`} />}>
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
          <A href="/" class="brand" end>HAProxyHQ</A>
          <nav aria-label="Main">
            <A href="/" end activeClass="active">Fleet</A>
            <A href="/configs" activeClass="active">Configs</A>
            <A href="/access" activeClass="active">Access</A>
            <A href="/audit" activeClass="active">Audit</A>
          </nav>
          <Show when={session.user()}>{(u) => <span class="muted" data-testid="signed-in-as">{u().name}</span>}</Show>
          <button type="button" class="link" onClick={() => void session.signOut()}>Sign out</button>
        </header>
        <main id="main" tabIndex={-1}>
          <ErrorBoundary fallback={(err, reset) => <Page><ErrorMessage error={err} title="This page failed" /><button type="button" onClick={reset}>Try again</button></Page>}>
            {props.children}
          </ErrorBoundary>
        </main>
      </Show>
    </Show>
  );
}

function Page(props: { children: JSX.Element }) {
  return <div class="page">{props.children}</div>;
}

export default function App() {
  return (
    <Router>
      <Route path="/signin" component={SignInPage} />
      <Route path="/" component={Frame}>
        <Route path="/" component={FleetPage} />
        <Route path="/instances/:namespace/:name" component={InstancePage} />
        <Route path="/configs" component={ConfigsPage} />
        <Route path="/configs/:namespace/:name" component={ConfigPage} />
        <Route path="/access" component={AccessPage} />
        <Route path="/audit" component={AuditPage} />
        <Route path="*" component={() => <Page><h1>Not found</h1><p>There is no page here. <A href="/">Back to the fleet</A>.</p></Page>} />
      </Route>
    </Router>
  );
}
