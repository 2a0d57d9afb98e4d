// Entity page (#/entity/<type>/<id>): what the catalog knows of one entity, as this caller
// may see it — attributes (masked by the node), versions, freshness and cache, the source's
// SLA and state, the live event timeline, related and similar entities.
import { useState } from "preact/hooks";
import { headerSet } from "../api.js";
import { ErrorBanner, Loading, Time } from "../components/common.js";
import { AttributeTable } from "../entity/attributes.js";
import { Freshness, Related, Similar, SourceState } from "../entity/panels.js";
import { Timeline, useTimeline } from "../entity/timeline.js";
import { useEntity } from "../entity/use-entity.js";
import { html } from "../html.js";
import { href } from "../router.js";
import { pageFor } from "./index.js";

export function EntityPage({ params }) {
  const [type, id] = params;
  if (!type || !id) {
    return html`<section><h1>Entity</h1><p class="muted">Find an entity with the search box.</p></section>`;
  }
  return html`<${Entity} key=${`${type}/${id}`} type=${type} id=${id} />`;
}

function Entity({ type, id }) {
  const [reload, setReload] = useState(0);
  const entity = useEntity(type, id, reload);
  const timeline = useTimeline(type, id, () => setReload((n) => n + 1));
  const body = entity.body;
  return html`<article aria-labelledby="entity-title">
    <h1 id="entity-title"><span class="badge">${type}</span> ${id}</h1>
    <${ErrorBanner} error=${entity.error} />
    ${!body && !entity.error && html`<${Loading} />`}
    ${body && html`<div class="entity-grid">
      <div>
        <dl class="facts" data-testid="entity-facts">
          <dt>Domain</dt><dd>${body.domain}</dd>
          <dt>Source</dt><dd>${body.source_system} · id ${body.source_entity_id}</dd>
          <dt>Version</dt><dd data-testid="entity-version">${body.version}</dd>
          <dt>Schema version</dt><dd data-testid="schema-version">
            ${pageFor("schemas")
              ? html`<a href=${href("schemas", [type])}>${body.schema_version}</a>`
              : body.schema_version}</dd>
          <dt>Status</dt><dd>${body.status}</dd>
          <dt>First seen</dt><dd><${Time} value=${body.created_at} /></dd>
        </dl>
        <h2>Attributes</h2>
        <${AttributeTable} attributes=${body.attributes} masked=${headerSet(entity.headers, "X-DictaMesh-Masked")}
          redacted=${headerSet(entity.headers, "X-DictaMesh-Redacted")} />
        <${Timeline} state=${timeline} />
      </div>
      <div>
        <${Freshness} type=${type} id=${id} entity=${body} reload=${reload} />
        <${SourceState} type=${type} />
        <${Related} type=${type} id=${id} reload=${reload} />
        <${Similar} type=${type} id=${id} />
      </div>
    </div>`}
  </article>`;
}
