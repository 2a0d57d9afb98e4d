// The side panels of the entity page: freshness and cache, the source's SLA and state,
// related entities, similar entities. Each loads on its own; a failing one says so alone.
import { useEffect, useState } from "preact/hooks";
import { apiGet } from "../api.js";
import { ErrorBanner, Loading, NotAvailable, Time } from "../components/common.js";
import { html } from "../html.js";
import { href } from "../router.js";

const entityPath = (type, id) => `/api/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;

/** {data, error, missing (404)} of one GET, reloaded when `deps` change. */
export function useGet(path, params, deps) {
  const [state, setState] = useState({ data: null, error: null, missing: false, loading: true });
  useEffect(() => {
    if (!path) return undefined;
    const controller = new AbortController();
    apiGet(path, { params, signal: controller.signal }).then(
      (data) => setState({ data, error: null, missing: false, loading: false }),
      (error) => {
        if (controller.signal.aborted) return;
        const missing = error?.status === 404;
        setState({ data: null, error: missing ? null : error, missing, loading: false });
      },
    );
    return () => controller.abort();
  }, deps);
  return state;
}

export function Freshness({ type, id, entity, reload }) {
  const cache = useGet(`${entityPath(type, id)}/cache`, {}, [type, id, reload]);
  const layers = cache.data?.layers ?? [];
  return html`<section aria-labelledby="fresh-title" data-testid="freshness">
    <h2 id="fresh-title">Freshness and cache</h2>
    <dl class="facts">
      <dt>Catalog updated</dt><dd><${Time} value=${entity.updated_at} /></dd>
      <dt>Last event</dt><dd><code>${entity.last_event_id ?? "—"}</code></dd>
    </dl>
    ${cache.missing && html`<${NotAvailable} what="Cache status" />`}
    <${ErrorBanner} error=${cache.error} />
    ${cache.data && layers.length === 0 && html`<p class="muted">Not cached on this node.</p>`}
    ${layers.length > 0 && html`<table class="attributes" data-testid="cache-layers">
      <thead><tr><th scope="col">Layer</th><th scope="col">State</th><th scope="col">Cached</th>
        <th scope="col">Hits</th></tr></thead>
      <tbody>${layers.map((layer) => html`<tr>
        <td>${layer.layer}</td>
        <td>${layer.fresh ? "fresh" : layer.invalidated_at ? "invalidated" : "expired"}
          ${layer.ttl_seconds ? html`<span class="muted"> (TTL ${layer.ttl_seconds} s)</span>` : ""}</td>
        <td><${Time} value=${layer.cached_at} /></td>
        <td>${layer.hits}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`;
}

function number(value, unit = "") {
  return typeof value === "number" ? `${Math.round(value * 1000) / 1000}${unit}` : "—";
}

export function SourceState({ type }) {
  const adapters = useGet("/api/v1/adapters", {}, [type]);
  const adapter = adapters.data?.adapters?.find((a) => a.entity_type === type) ?? null;
  const status = useGet(adapter ? `/api/v1/adapters/${encodeURIComponent(adapter.name)}/status` : null,
    {}, [adapter?.name]);
  if (adapters.loading) return html`<${Loading} />`;
  if (!adapter) {
    return html`<section aria-labelledby="sla-title"><h2 id="sla-title">Source</h2>
      <p class="muted">No adapter on this node serves ${type}.</p></section>`;
  }
  const target = status.data?.sla?.target ?? adapter.sla ?? {};
  const measured = status.data?.sla?.measured ?? null;
  const s = status.data;
  return html`<section aria-labelledby="sla-title" data-testid="source-state">
    <h2 id="sla-title">Source: ${adapter.name}</h2>
    <table class="attributes" data-testid="sla">
      <thead><tr><th scope="col">SLA</th><th scope="col">Target</th><th scope="col">Measured</th></tr></thead>
      <tbody>
        <tr><td>Availability</td><td>${number(target.availability_target)}</td>
          <td>${measured ? number(measured.availability) : "not available"}</td></tr>
        <tr><td>Latency p95</td><td>${number(target.latency_p95_ms, " ms")}</td>
          <td>${measured ? number(measured.latency_p95_ms, " ms") : "not available"}</td></tr>
        <tr><td>Freshness</td><td>${number(target.freshness_seconds, " s")}</td>
          <td>${measured ? number(measured.freshness_seconds, " s") : "not available"}</td></tr>
      </tbody>
    </table>
    ${status.missing && html`<${NotAvailable} what="Adapter status" />`}
    <${ErrorBanner} error=${status.error} />
    ${s && html`<dl class="facts" data-testid="adapter-status">
      <dt>Healthy</dt><dd>${s.healthy ? "yes" : "no"}</dd>
      <dt>Breaker</dt><dd>${s.breaker_state ?? "—"}</dd>
      <dt>Last sync</dt><dd><${Time} value=${s.last_sync_at} /></dd>
      <dt>Error rate</dt><dd>${number(s.error_rate)}</dd>
      <dt>Latency</dt><dd>p50 ${number(s.latency_ms?.p50, " ms")} · p95 ${number(s.latency_ms?.p95, " ms")}
        · p99 ${number(s.latency_ms?.p99, " ms")}</dd>
    </dl>`}
  </section>`;
}

export function Related({ type, id, reload }) {
  const graph = useGet(`${entityPath(type, id)}/graph`, { depth: 1 }, [type, id, reload]);
  const edges = graph.data?.edges ?? [];
  const isRoot = (ref) => ref.type === type && ref.id === id;
  const links = edges.map((edge) => isRoot(edge.subject)
    ? { ref: edge.object, label: edge.relationship_type, outgoing: true }
    : { ref: edge.subject, label: edge.relationship_type, outgoing: false });
  return html`<section aria-labelledby="related-title" data-testid="related">
    <h2 id="related-title">Related entities</h2>
    <${ErrorBanner} error=${graph.error} />
    ${graph.data && links.length === 0 && html`<p class="muted">None recorded.</p>`}
    <ul class="links">
      ${links.map(({ ref, label, outgoing }) => html`<li>
        <span class="muted">${outgoing ? label : `${label} (from)`}</span>${" "}
        <a href=${href("entity", [ref.type, ref.id])} data-testid="related-link">${ref.type} ${ref.id}</a>
      </li>`)}
    </ul>
    ${graph.data?.withheld_nodes ? html`<p class="muted">${graph.data.withheld_nodes} withheld.</p>` : ""}
    <p><a href=${href("graph", [type, id])}>Open the graph</a></p>
  </section>`;
}

export function Similar({ type, id }) {
  const similar = useGet(`${entityPath(type, id)}/similar`, { limit: 8 }, [type, id]);
  if (similar.missing || similar.loading) return null; // not offered by this node
  const hits = similar.data?.results ?? similar.data?.similar ?? [];
  return html`<section aria-labelledby="similar-title" data-testid="similar">
    <h2 id="similar-title">Similar entities</h2>
    <${ErrorBanner} error=${similar.error} />
    ${hits.length === 0 && !similar.error && html`<p class="muted">None found.</p>`}
    <ul class="links">
      ${hits.map((hit) => html`<li><a href=${href("entity", [hit.entity_type, hit.entity_id])}>
        ${hit.entity_type} ${hit.entity_id}</a>
        ${typeof hit.score === "number" ? html` <span class="muted">${hit.score.toFixed(2)}</span>` : ""}
      </li>`)}
    </ul>
  </section>`;
}
