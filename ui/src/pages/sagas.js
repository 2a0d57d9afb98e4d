// Sagas page (#/sagas?status=, #/sagas/<id>): the tenant's newest sagas with a status
// filter (GET /api/v1/sagas), one saga's steps as a timeline (GET /api/v1/sagas/<id>), and
// for a failed saga the admin retry / abort buttons (POST /api/v1/admin/sagas/<id>/...).
import { useState } from "preact/hooks";
import { ErrorBanner, Loading, NotAvailable, Time } from "../components/common.js";
import { html } from "../html.js";
import { href, navigate } from "../router.js";
import { apiPost, useLoad } from "./ops_shared.js";

const STATUSES = ["running", "compensating", "completed", "compensated", "failed", "aborted"];
const REFRESH_MS = 3000;

export function SagasPage({ params, query }) {
  const [id] = params;
  const status = query.get("status") ?? "";
  const list = useLoad("/api/v1/sagas", { params: { status, limit: 50 }, everyMs: REFRESH_MS });
  if (list.error?.status === 404 && !list.data) {
    return html`<section><h1>Sagas</h1><${NotAvailable} what="Sagas on this node" /></section>`;
  }
  const sagas = list.data?.sagas ?? [];
  return html`<section aria-labelledby="sagas-title">
    <h1 id="sagas-title">Sagas</h1>
    <form class="ops-form" onSubmit=${(e) => e.preventDefault()}>
      <label>Status
        <select data-testid="saga-status-filter" value=${status}
          onChange=${(e) => navigate("sagas", id ? [id] : [], { status: e.currentTarget.value }, { replace: true })}>
          <option value="">any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select></label>
    </form>
    <${ErrorBanner} error=${list.error} />
    ${list.loading && !list.data && html`<${Loading} />`}
    <div class="ops-split">
      <div>${list.data && (sagas.length === 0
        ? html`<p class="muted">No sagas${status ? ` with status ${status}` : ""}.</p>`
        : html`<div class="table-wrap"><table class="ops" data-testid="sagas-table">
            <caption class="visually-hidden">Newest sagas</caption>
            <thead><tr><th scope="col">Saga</th><th scope="col">Status</th><th scope="col">Started</th></tr></thead>
            <tbody>${sagas.map((s) => html`<tr key=${s.id} data-testid="saga-row" data-saga-id=${s.id}
                aria-selected=${s.id === id ? "true" : undefined}>
              <th scope="row"><a href=${href("sagas", [s.id], { status })}>${s.saga}</a>
                <div class="muted small">${s.id.slice(0, 8)}</div></th>
              <td data-testid="saga-status"><${StatusBadge} status=${s.status} /></td>
              <td><${Time} value=${s.created_at} /></td>
            </tr>`)}</tbody>
          </table></div>`)}</div>
      <div>${id
        ? html`<${SagaDetail} key=${id} id=${id} onChanged=${list.reload} />`
        : html`<p class="muted">Choose a saga to see its steps.</p>`}</div>
    </div>
  </section>`;
}

function StatusBadge({ status }) {
  const cls = { completed: "ok", compensated: "warn", failed: "bad", aborted: "bad" }[status] ?? "";
  return html`<span class=${`badge ${cls}`}>${status}</span>`;
}

function SagaDetail({ id, onChanged }) {
  const { data, error, loading, reload } = useLoad(`/api/v1/sagas/${encodeURIComponent(id)}`, {
    everyMs: REFRESH_MS,
  });
  const [action, setAction] = useState({ busy: false, error: null, done: null });

  async function act(verb) {
    setAction({ busy: true, error: null, done: null });
    try {
      await apiPost(`/api/v1/admin/sagas/${encodeURIComponent(id)}/${verb}`);
      setAction({ busy: false, error: null, done: verb === "retry" ? "Compensating again." : "Aborted." });
      reload();
      onChanged();
    } catch (err) {
      setAction({ busy: false, error: err, done: null });
    }
  }

  if (loading && !data) return html`<${Loading} />`;
  if (!data) return html`<${ErrorBanner} error=${error} />`;
  return html`<div data-testid="saga-detail">
    <h2>${data.saga} <${StatusBadge} status=${data.status} /></h2>
    <dl class="facts">
      <dt>Id</dt><dd data-testid="saga-id">${data.saga_id}</dd>
      <dt>Started by</dt><dd>${data.started_by ?? "—"}</dd>
      <dt>Started</dt><dd><${Time} value=${data.created_at} /></dd>
      <dt>Finished</dt><dd><${Time} value=${data.finished_at} /></dd>
      ${data.failed_step && html`<dt>Failed step</dt><dd>${data.failed_step}</dd>`}
      ${data.error && html`<dt>Error</dt><dd>${data.error.message ?? JSON.stringify(data.error)}</dd>`}
    </dl>
    ${data.status === "failed" && html`<div class="ops-toolbar" role="group" aria-label="Admin actions">
      <button type="button" data-testid="saga-retry" disabled=${action.busy} onClick=${() => act("retry")}>
        Retry compensation</button>
      <button type="button" data-testid="saga-abort" disabled=${action.busy} onClick=${() => act("abort")}>
        Abort</button>
    </div>`}
    ${action.done && html`<p class="banner banner-warn" role="status" data-testid="saga-action-done">${action.done}</p>`}
    <${ErrorBanner} error=${action.error} />
    <h2>Steps</h2>
    ${data.steps.length === 0
      ? html`<p class="muted">No step has run yet.</p>`
      : html`<ol class="steps" data-testid="saga-steps">${data.steps.map((s) => html`<li
          class=${s.status} data-testid="saga-step" data-step=${s.step} data-phase=${s.phase}>
          <strong>${s.step}</strong> <span class="muted">${s.phase}</span>
          <${StatusBadge} status=${s.status} />
          ${s.attempt > 1 ? html` <span class="small">attempt ${s.attempt}</span>` : ""}
          <div class="muted small"><${Time} value=${s.at} />
            ${s.duration_ms != null ? ` · ${s.duration_ms} ms` : ""}${s.node ? ` · ${s.node}` : ""}</div>
          ${s.error && html`<div class="small">${s.error.message ?? JSON.stringify(s.error)}</div>`}
        </li>`)}</ol>`}
  </div>`;
}
