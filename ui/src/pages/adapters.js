// Adapters page (#/adapters): each adapter's health, breaker, last sync, error rate,
// latency percentiles and SLA target vs measured, from GET /api/v1/adapters/status,
// refreshed every few seconds (the node reuses a health probe for 5 s: no source load).
import { useState } from "preact/hooks";
import { ErrorBanner, Loading, Time } from "../components/common.js";
import { html } from "../html.js";
import { href } from "../router.js";
import { Verdict, ms, pct, useLoad } from "./ops_shared.js";

const REFRESH_MS = 5000;

export function AdaptersPage() {
  const [auto, setAuto] = useState(true);
  const { data, error, loading, reload } = useLoad("/api/v1/adapters/status", {
    everyMs: REFRESH_MS,
    auto,
  });
  const adapters = data?.adapters ?? [];
  return html`<section aria-labelledby="adapters-title">
    <h1 id="adapters-title">Adapters</h1>
    <div class="ops-toolbar">
      <label><input type="checkbox" checked=${auto} data-testid="auto-refresh"
        onChange=${(e) => setAuto(e.currentTarget.checked)} /> Refresh every ${REFRESH_MS / 1000} s</label>
      <button type="button" onClick=${reload} data-testid="refresh">Refresh now</button>
      ${data && html`<span class="muted" role="status" aria-live="polite">
        ${adapters.length} adapter${adapters.length === 1 ? "" : "s"}</span>`}
    </div>
    <${ErrorBanner} error=${error} />
    ${loading && !data && html`<${Loading} />`}
    ${data && adapters.length === 0 && html`<p class="muted">No adapters on this node.</p>`}
    ${adapters.length > 0 && html`<div class="table-wrap"><table class="ops" data-testid="adapters-table">
      <caption class="visually-hidden">Adapters with health, breaker, latency and SLA</caption>
      <thead><tr>
        <th scope="col">Adapter</th><th scope="col">Health</th><th scope="col">Breaker</th>
        <th scope="col">Last sync</th><th scope="col">Error rate</th>
        <th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th>
        <th scope="col">SLA: target / measured</th>
      </tr></thead>
      <tbody>${adapters.map((a) => html`<${AdapterRow} key=${a.name} adapter=${a} />`)}</tbody>
    </table></div>`}
  </section>`;
}

function AdapterRow({ adapter: a }) {
  const { target, measured } = a.sla;
  const reasons = a.health?.details?.reasons ?? [];
  const why = a.health?.details?.error?.message ?? reasons.join("; ");
  return html`<tr data-testid="adapter-row" data-adapter=${a.name}>
    <th scope="row">
      <span data-testid="adapter-name">${a.name}</span>
      <div class="muted small"><a href=${href("search", [], { type: a.entity_type })}>${a.entity_type}</a>
        · ${a.domain}.${a.system}</div>
    </th>
    <td data-testid="adapter-health" title=${why || undefined}>
      <span class=${`badge ${a.healthy ? (a.health.status === "healthy" ? "ok" : "warn") : "bad"}`}>${a.health.status}</span>
      ${a.health.latency_ms != null && html`<div class="muted small">probe ${ms(a.health.latency_ms)}</div>`}
    </td>
    <td data-testid="adapter-breaker">
      <span class=${`badge ${a.breaker_state === "closed" ? "ok" : "bad"}`}>${a.breaker_state.replace("_", "-")}</span>
      ${a.breaker_state === "open" && html`<div class="muted small">retry in ${a.breaker_retry_in_seconds.toFixed(0)} s</div>`}
    </td>
    <td data-testid="adapter-last-sync"><${Time} value=${a.last_sync_at} /></td>
    <td data-testid="adapter-error-rate">${pct(a.error_rate)}
      <div class="muted small">${a.errors} / ${a.calls} calls</div></td>
    <td class="num" data-testid="adapter-p50">${ms(a.latency_ms.p50)}</td>
    <td class="num" data-testid="adapter-p95">${ms(a.latency_ms.p95)}</td>
    <td class="num" data-testid="adapter-p99">${ms(a.latency_ms.p99)}</td>
    <td class="sla">
      <div data-testid="adapter-sla-availability">availability ${pct(target.availability_target)} /
        ${pct(measured.availability)} <${Verdict} met=${measured.met.availability} /></div>
      <div data-testid="adapter-sla-latency">p95 ${ms(target.latency_p95_ms)} /
        ${ms(measured.latency_p95_ms)} <${Verdict} met=${measured.met.latency_p95_ms} /></div>
      <div data-testid="adapter-sla-freshness">freshness ${target.freshness_seconds} s /
        ${measured.freshness_seconds == null ? "—" : `${measured.freshness_seconds.toFixed(0)} s`}
        <${Verdict} met=${measured.met.freshness_seconds} /></div>
    </td>
  </tr>`;
}
