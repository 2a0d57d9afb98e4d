// Small pieces every page uses; h5's operations pages use them too.
import { html } from "../html.js";

/** The error banner (data-testid="error"); nothing when there is no error. */
export function ErrorBanner({ error }) {
  if (!error) return null;
  const code = error.code ? ` (${error.code})` : "";
  return html`<div class="banner banner-error" role="alert" data-testid="error">
    ${error.message || String(error)}${code}
  </div>`;
}

/** A polite "loading" line screen readers announce. */
export function Loading({ label = "Loading…" }) {
  return html`<p class="muted" role="status" aria-live="polite">${label}</p>`;
}

/** "not available" in a muted style (a part of the page the node does not offer). */
export function NotAvailable({ what }) {
  return html`<p class="muted" data-testid="not-available">${what}: not available</p>`;
}

/** A timestamp (ISO text or epoch ms) in the reader's locale, with the exact value on hover. */
export function Time({ value }) {
  if (value === null || value === undefined || value === "") return html`<span>—</span>`;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return html`<span>${String(value)}</span>`;
  return html`<time datetime=${date.toISOString()} title=${date.toISOString()}>
    ${date.toLocaleString()}
  </time>`;
}
