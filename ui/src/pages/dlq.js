// DLQ page (#/dlq, #/dlq/<topic>): every dead-letter topic with its count, and the newest
// dead letters of the chosen one (GET /api/v1/admin/dlq[/<topic>]). Administrators only:
// anyone else gets a clear message instead of the tables.
import { ErrorBanner, Loading, NotAvailable, Time } from "../components/common.js";
import { html } from "../html.js";
import { href } from "../router.js";
import { Refused, useLoad } from "./ops_shared.js";

const REFRESH_MS = 10000;
const LIMIT = 20;

export function DlqPage({ params }) {
  const [topic] = params;
  const topics = useLoad("/api/v1/admin/dlq", { everyMs: REFRESH_MS });
  const refused = topics.error && [401, 403].includes(topics.error.status);
  const missing = topics.error?.status === 404;
  return html`<section aria-labelledby="dlq-title">
    <h1 id="dlq-title">Dead letters</h1>
    <${Refused} error=${topics.error} what="The dead-letter page" testid="dlq-refused" />
    ${missing && html`<${NotAvailable} what="Dead-letter topics on this node" />`}
    ${!refused && !missing && html`<${ErrorBanner} error=${topics.error} />`}
    ${topics.loading && !topics.data && html`<${Loading} />`}
    ${topics.data && html`<${TopicTable} topics=${topics.data.topics} chosen=${topic} />`}
    ${topics.data && (topic
      ? html`<${Letters} key=${topic} topic=${topic} />`
      : html`<p class="muted">Choose a topic to see its newest dead letters.</p>`)}
  </section>`;
}

function TopicTable({ topics, chosen }) {
  if (topics.length === 0) {
    return html`<p class="muted" data-testid="dlq-empty">No dead-letter topics: nothing failed for good.</p>`;
  }
  return html`<div class="table-wrap"><table class="ops" data-testid="dlq-topics">
    <caption class="visually-hidden">Dead-letter topics</caption>
    <thead><tr><th scope="col">Topic</th><th scope="col">Messages</th>
      <th scope="col">Replayed</th><th scope="col">End offsets</th></tr></thead>
    <tbody>${topics.map((t) => html`<tr key=${t.topic} data-testid="dlq-topic" data-topic=${t.topic}
        aria-selected=${t.topic === chosen ? "true" : undefined}>
      <th scope="row"><a href=${href("dlq", [t.topic])} data-testid="dlq-topic-link">${t.topic}</a>
        <div class="muted small">from ${t.source_topic}</div></th>
      <td data-testid="dlq-count">${t.messages}</td>
      <td>${t.replayed}</td>
      <td class="small">${Object.entries(t.end_offsets).map(([p, n]) => `p${p}: ${n}`).join(", ")}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

function Letters({ topic }) {
  const { data, error, loading } = useLoad(`/api/v1/admin/dlq/${encodeURIComponent(topic)}`, {
    params: { limit: LIMIT },
    everyMs: REFRESH_MS,
  });
  const letters = data?.dead_letters ?? [];
  return html`<div>
    <h2>Newest in ${topic}</h2>
    <${ErrorBanner} error=${error} />
    ${loading && !data && html`<${Loading} />`}
    ${data && letters.length === 0 && html`<p class="muted">No dead letters here.</p>`}
    ${data?.withheld > 0 && html`<p class="muted">${data.withheld} of other tenants not shown.</p>`}
    ${letters.length > 0 && html`<div class="table-wrap"><table class="ops" data-testid="dead-letters">
      <caption class="visually-hidden">Newest dead letters of ${topic}</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Key</th><th scope="col">Error</th>
        <th scope="col">From</th><th scope="col">Payload</th></tr></thead>
      <tbody>${letters.map((d) => html`<tr key=${d.ref} data-testid="dead-letter" data-key=${d.key ?? ""}>
        <td><${Time} value=${d.timestamp} /><div class="muted small">p${d.partition} @ ${d.offset}</div></td>
        <th scope="row" data-testid="dead-letter-key">${d.key ?? "—"}</th>
        <td data-testid="dead-letter-error"><strong>${(d.error_type ?? "").split(".").pop() || "—"}</strong>
          <div class="small">${d.error ?? ""}</div>
          ${d.attempts != null && html`<div class="muted small">after ${d.attempts} attempts${d.replayed ? " · replayed" : ""}</div>`}</td>
        <td class="small">${d.original_topic}${d.original_offset != null ? ` @ ${d.original_offset}` : ""}</td>
        <td>${d.event
          ? html`<details><summary>${d.event.event_type} ${d.event.entity_type}/${d.event.entity_id}
              (${d.payload_size} bytes)</summary>
              <pre class="payload">${JSON.stringify(d.event.payload?.after ?? {}, null, 2)}</pre></details>`
          : html`<span class="muted small">${d.payload_size} bytes · ${d.withheld ?? d.undecodable ?? "not shown"}</span>`}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </div>`;
}
