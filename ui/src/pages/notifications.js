// Notifications page (#/notifications): the caller's inbox with mark-read
// (GET /api/v1/notifications, POST .../read), and for administrators the outbox's depth and
// newest messages with their delivery state (GET /api/v1/admin/notifications[/outbox]).
import { useState } from "preact/hooks";
import { ErrorBanner, Loading, NotAvailable, Time } from "../components/common.js";
import { html } from "../html.js";
import { apiPost, useLoad } from "./ops_shared.js";

const REFRESH_MS = 5000;

export function NotificationsPage() {
  return html`<section aria-labelledby="notifications-title">
    <h1 id="notifications-title">Notifications</h1>
    <${Inbox} />
    <${Outbox} />
  </section>`;
}

function Inbox() {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const { data, error, loading, reload } = useLoad("/api/v1/notifications", {
    params: { limit: 50, unread: unreadOnly ? "true" : "" },
    everyMs: REFRESH_MS,
  });
  const [failure, setFailure] = useState(null);

  async function mark(ids) {
    setFailure(null);
    try {
      await apiPost("/api/v1/notifications/read", { ids });
      reload();
    } catch (err) {
      setFailure(err);
    }
  }

  if (error?.status === 404 && !data) return html`<${NotAvailable} what="Notifications on this node" />`;
  if (error?.status === 401) {
    return html`<p class="banner banner-warn" role="alert" data-testid="inbox-login">
      Log in to see your inbox.</p>`;
  }
  const items = data?.items ?? [];
  const unread = items.filter((i) => !i.read).map((i) => i.id);
  return html`<div>
    <h2>Inbox ${data && html`<span class="badge" data-testid="inbox-unread">${data.unread} unread</span>`}</h2>
    <div class="ops-toolbar">
      <label><input type="checkbox" checked=${unreadOnly} data-testid="inbox-unread-only"
        onChange=${(e) => setUnreadOnly(e.currentTarget.checked)} /> Unread only</label>
      <button type="button" data-testid="inbox-mark-all" disabled=${unread.length === 0}
        onClick=${() => mark(unread)}>Mark all read</button>
    </div>
    <${ErrorBanner} error=${error ?? failure} />
    ${loading && !data && html`<${Loading} />`}
    ${data && items.length === 0 && html`<p class="muted">Nothing here.</p>`}
    ${items.length > 0 && html`<ul class="notice-list" data-testid="inbox">${items.map((i) => html`<li key=${i.id}
        class=${i.read ? "" : "unread"} data-testid="notification" data-id=${i.id}>
      <span class=${`badge ${i.priority === "high" || i.priority === "urgent" ? "bad" : ""}`}>${i.priority}</span>
      <span class="notice-text"><span>${i.subject}</span>
        ${i.text && html`<div class="small muted">${i.text}</div>`}</span>
      <${Time} value=${i.created_at} />
      ${i.read
        ? html`<span class="muted small">read</span>`
        : html`<button type="button" data-testid="notification-mark-read" onClick=${() => mark([i.id])}
            aria-label=${`Mark "${i.subject}" read`}>Mark read</button>`}
    </li>`)}</ul>`}
  </div>`;
}

function Outbox() {
  const depth = useLoad("/api/v1/admin/notifications/outbox", { everyMs: REFRESH_MS });
  const list = useLoad("/api/v1/admin/notifications", { params: { limit: 50 }, everyMs: REFRESH_MS });
  if (depth.error && [401, 403, 404].includes(depth.error.status)) {
    return html`<p class="muted small" data-testid="outbox-admin-only">
      The outbox and its delivery state are shown to administrators.</p>`;
  }
  const messages = list.data?.notifications ?? [];
  return html`<div data-testid="outbox">
    <h2>Outbox ${depth.data && html`<span class="badge" data-testid="outbox-depth">${depth.data.depth} waiting</span>`}</h2>
    <${ErrorBanner} error=${list.error ?? depth.error} />
    ${list.loading && !list.data && html`<${Loading} />`}
    ${list.data && messages.length === 0 && html`<p class="muted">No messages.</p>`}
    ${messages.length > 0 && html`<div class="table-wrap"><table class="ops" data-testid="outbox-table">
      <caption class="visually-hidden">Newest outbox messages</caption>
      <thead><tr><th scope="col">Subject</th><th scope="col">Rule</th><th scope="col">Recipient</th>
        <th scope="col">Channel</th><th scope="col">Status</th><th scope="col">Attempts</th>
        <th scope="col">Created</th><th scope="col">Sent</th><th scope="col">Last error</th></tr></thead>
      <tbody>${messages.map((m) => html`<tr key=${m.id} data-testid="outbox-row" data-id=${m.id}>
        <th scope="row">${m.subject}</th><td>${m.rule}</td><td class="small">${m.recipient}</td>
        <td>${m.channel}</td>
        <td data-testid="outbox-status"><span class=${`badge ${m.status === "sent" ? "ok" : m.status === "dead" || m.status === "failed" ? "bad" : "warn"}`}>${m.status}</span></td>
        <td>${m.attempts}</td><td><${Time} value=${m.created_at} /></td><td><${Time} value=${m.sent_at} /></td>
        <td class="small">${m.last_error ?? ""}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </div>`;
}
