// The login form: an API key or a JWT (one of the two), and optionally a tenant. Checked
// with one authenticated call before it is kept, so a typo gets its message here.
import { useState } from "preact/hooks";
import { apiGet } from "../api.js";
import { html } from "../html.js";
import { saveSession } from "../session.js";
import { ErrorBanner } from "./common.js";

// Any authenticated read works as the check; the schema list is small and never masked.
const CHECK_PATH = "/api/v1/schemas";

export function Login({ message, onLogin }) {
  const [apiKey, setApiKey] = useState("");
  const [jwt, setJwt] = useState("");
  const [tenant, setTenant] = useState("");
  const [error, setError] = useState(message ? { message } : null);
  const [busy, setBusy] = useState(false);

  async function submit(event) {
    event.preventDefault();
    const session = { apiKey: apiKey.trim(), jwt: jwt.trim(), tenant: tenant.trim() };
    if (!session.apiKey === !session.jwt) {
      setError({ message: "Enter an API key or a token (one of the two)." });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await apiGet(CHECK_PATH, { session });
      saveSession(session);
      onLogin(session);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return html`<section class="login" aria-labelledby="login-title">
    <h1 id="login-title">Log in</h1>
    <p class="muted">This node needs credentials: an API key or a JSON Web Token. They are
      kept in this tab only.</p>
    <${ErrorBanner} error=${error} />
    <form onSubmit=${submit}>
      <label for="login-api-key">API key</label>
      <input id="login-api-key" data-testid="login-api-key" type="password"
        autocomplete="off" value=${apiKey} onInput=${(e) => setApiKey(e.currentTarget.value)} />
      <label for="login-jwt">or token (JWT)</label>
      <textarea id="login-jwt" data-testid="login-jwt" rows="3" autocomplete="off"
        value=${jwt} onInput=${(e) => setJwt(e.currentTarget.value)}></textarea>
      <label for="login-tenant">Tenant <span class="muted">(optional)</span></label>
      <input id="login-tenant" data-testid="login-tenant" type="text" autocomplete="off"
        value=${tenant} onInput=${(e) => setTenant(e.currentTarget.value)} />
      <button type="submit" data-testid="login-submit" disabled=${busy}>
        ${busy ? "Checking…" : "Log in"}
      </button>
    </form>
  </section>`;
}
