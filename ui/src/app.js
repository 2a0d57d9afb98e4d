// The shell: header (search box, navigation, login state), the login form when the node
// asks for credentials, and the page of the current hash route.
import { useEffect, useRef, useState } from "preact/hooks";
import { onUnauthorized } from "./api.js";
import { Login } from "./components/login.js";
import { config } from "./config.js";
import { html } from "./html.js";
import { defaultPage, pageFor, pages } from "./pages/index.js";
import { href, navigate, useRoute } from "./router.js";
import { clearSession, loadSession } from "./session.js";

export function App() {
  const route = useRoute();
  const [session, setSession] = useState(loadSession);
  const [loginMessage, setLoginMessage] = useState(null);
  const [loginOpen, setLoginOpen] = useState(false);
  const main = useRef(null);

  useEffect(
    () =>
      onUnauthorized((error) => {
        clearSession();
        setSession(null);
        setLoginMessage(error.message || "Your credentials were refused; log in again.");
        setLoginOpen(true);
      }),
    [],
  );

  const page = pageFor(route.page);
  useEffect(() => {
    if (!page) navigate(defaultPage, [], {}, { replace: true });
    document.title = page ? `${page.title} · DictaMesh` : "DictaMesh";
  }, [page]);

  const needsLogin = config.auth !== "off" && !session && (config.auth === "required" || loginOpen);

  function loggedIn(next) {
    setSession(next);
    setLoginMessage(null);
    setLoginOpen(false);
  }

  function logout() {
    clearSession();
    setSession(null);
    setLoginMessage(null);
    setLoginOpen(config.auth === "required");
  }

  const Page = page?.component;
  return html`
    <header class="shell-header">
      <a class="brand" href=${href(defaultPage)}>DictaMesh</a>
      <${SearchBox} route=${route} />
      <nav aria-label="Main">
        <ul class="nav">
          ${pages.filter((p) => p.nav).map((p) => html`<li>
            <a href=${href(p.path)} aria-current=${route.page === p.path ? "page" : undefined}>
              ${p.title}
            </a>
          </li>`)}
        </ul>
      </nav>
      <${SessionControls} session=${session} onLogin=${() => setLoginOpen(true)}
        onLogout=${logout} />
    </header>
    <main id="main" ref=${main} tabindex="-1">
      ${needsLogin
        ? html`<${Login} message=${loginMessage} onLogin=${loggedIn} />`
        : Page
          ? html`<${Page} key=${route.page} params=${route.params} query=${route.query}
              session=${session} />`
          : null}
    </main>`;
}

function SessionControls({ session, onLogin, onLogout }) {
  if (config.auth === "off") return null;
  if (!session) {
    return html`<div class="session">
      <button type="button" data-testid="login-open" onClick=${onLogin}>Log in</button>
    </div>`;
  }
  const who = session.apiKey ? "API key" : "token";
  return html`<div class="session">
    <span class="muted" data-testid="session-who">
      ${who}${session.tenant ? ` · tenant ${session.tenant}` : ""}
    </span>
    <button type="button" data-testid="logout" onClick=${onLogout}>Log out</button>
  </div>`;
}

// The search box lives in the header so it is one keystroke away on every page; typing
// shows the Search page with the results (the page does the fetching).
function SearchBox({ route }) {
  const onSearch = route.page === "search";
  const value = onSearch ? route.query.get("q") ?? "" : undefined;
  const input = useRef(null);

  function onInput(event) {
    const query = onSearch ? Object.fromEntries(route.query) : {};
    query.q = event.currentTarget.value;
    navigate("search", [], query, { replace: onSearch });
  }

  function onKeyDown(event) {
    if (event.key === "ArrowDown") {
      const first = document.querySelector('[data-testid="search-result"]');
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  useEffect(() => {
    // keep focus in the box when the first keystroke switched pages
    if (onSearch && document.activeElement !== input.current && value) input.current?.focus();
  }, [onSearch]);

  return html`<form class="search-box" role="search" onSubmit=${(e) => e.preventDefault()}>
    <label for="search-input" class="visually-hidden">Search the catalog</label>
    <input id="search-input" ref=${input} data-testid="search-input" type="search"
      placeholder="Search customers, products, invoices…" autocomplete="off"
      spellcheck="false" value=${value} onInput=${onInput} onKeyDown=${onKeyDown}
      aria-controls="search-results" />
  </form>`;
}
