// Graph page (#/graph/<type>/<id>?depth=&direction=): the relationship graph around an
// entity drawn with Cytoscape.js — pan/zoom, click a node to expand its neighbours, double
// click (or Enter on the list below) to open its entity page, colour by domain.
import { useEffect, useRef, useState } from "preact/hooks";
import { apiGet } from "../api.js";
import { ErrorBanner, Loading } from "../components/common.js";
import { UNKNOWN_COLOUR, domainColours, drawGraph, mergeGraph } from "../graph/draw.js";
import { useSchemas } from "../graph/schemas.js";
import { html } from "../html.js";
import { href, navigate } from "../router.js";

const DIRECTIONS = [
  ["both", "Both"],
  ["outgoing", "Outgoing"],
  ["incoming", "Incoming"],
];

export function GraphPage({ params, query }) {
  const [type, id] = params;
  const depth = clampDepth(query.get("depth"));
  const direction = query.get("direction") ?? "both";
  if (!type || !id) return html`<${PickEntity} />`;
  return html`<${EntityGraph} key=${`${type}/${id}/${depth}/${direction}`} type=${type} id=${id}
    depth=${depth} direction=${direction} />`;
}

function clampDepth(value) {
  const depth = Number.parseInt(value ?? "2", 10);
  return Number.isFinite(depth) ? Math.min(Math.max(depth, 1), 5) : 2;
}

function EntityGraph({ type, id, depth, direction }) {
  const container = useRef(null);
  const cy = useRef(null);
  const [state, setState] = useState({ graph: null, error: null, expanding: null });
  const domains = useSchemas();

  useEffect(() => {
    const controller = new AbortController();
    apiGet(`/api/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}/graph`, {
      params: { depth, direction },
      signal: controller.signal,
    }).then(
      (graph) => setState({ graph, error: null, expanding: null }),
      (error) => controller.signal.aborted || setState({ graph: null, error, expanding: null }),
    );
    return () => controller.abort();
  }, []);

  useEffect(() => {
    if (!state.graph || !domains.loaded || !container.current) return undefined;
    if (!cy.current) {
      cy.current = drawGraph(container.current, state.graph, domains.byType, {
        onExpand: expand,
        onOpen: (node) => navigate("entity", [node.type, node.id]),
      });
      window.__dictameshGraph = cy.current; // test hook (docs/ui.md, "Browser tests")
    } else {
      mergeGraph(cy.current, state.graph, domains.byType);
    }
    return undefined;
  }, [state.graph, domains.loaded]);

  useEffect(() => () => {
    cy.current?.destroy();
    if (window.__dictameshGraph === cy.current) window.__dictameshGraph = undefined;
  }, []);

  async function expand(node) {
    setState((prev) => ({ ...prev, expanding: `${node.type}/${node.id}` }));
    try {
      const more = await apiGet(
        `/api/v1/entities/${encodeURIComponent(node.type)}/${encodeURIComponent(node.id)}/graph`,
        { params: { depth: 1, direction } },
      );
      setState((prev) => ({ ...prev, graph: more, expanding: null, error: null }));
    } catch (error) {
      setState((prev) => ({ ...prev, expanding: null, error }));
    }
  }

  function setParam(key, value) {
    navigate("graph", [type, id], { depth, direction, [key]: value }, { replace: true });
  }

  const graph = state.graph;
  const colours = domainColours(domains.byType);
  const unknown = (graph?.nodes ?? []).some((node) => !domains.byType[node.type]);
  return html`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph of <a href=${href("entity", [type, id])}>${type} ${id}</a></h1>
    <div class="graph-controls">
      <label>Depth
        <select data-testid="graph-depth" value=${String(depth)}
          onChange=${(e) => setParam("depth", e.currentTarget.value)}>
          ${[1, 2, 3, 4, 5].map((d) => html`<option value=${String(d)}>${d}</option>`)}
        </select>
      </label>
      <label>Direction
        <select data-testid="graph-direction" value=${direction}
          onChange=${(e) => setParam("direction", e.currentTarget.value)}>
          ${DIRECTIONS.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
        </select>
      </label>
      <button type="button" onClick=${() => cy.current?.fit(undefined, 30)}>Fit</button>
      <span class="muted" role="status" aria-live="polite">
        ${state.expanding ? `Expanding ${state.expanding}…` : ""}
        ${graph?.truncated ? "Truncated: more entities lie within this depth." : ""}
        ${graph?.withheld_nodes ? ` ${graph.withheld_nodes} entities withheld.` : ""}
      </span>
    </div>
    <${ErrorBanner} error=${state.error || domains.error} />
    ${!graph && !state.error && html`<${Loading} />`}
    <div class="graph-area">
      <div class="graph" ref=${container} data-testid="graph" role="img"
        aria-label=${`Relationship graph around ${type} ${id}; the list below holds the same entities`}></div>
      <aside aria-label="Legend">
        <h2>Domains</h2>
        <ul class="legend" data-testid="graph-legend">
          ${Object.entries(colours).map(([domain, colour]) => html`<li><span class="swatch"
            style=${{ background: colour }}></span>${domain}</li>`)}
          ${unknown && html`<li><span class="swatch" style=${{ background: UNKNOWN_COLOUR }}>
            </span>no schema here</li>`}
        </ul>
        <p class="muted">Click a node to expand it; double-click to open it. Scroll to zoom,
          drag to pan.</p>
      </aside>
    </div>
    ${graph && html`<${NodeList} cy=${cy} graph=${graph} />`}
  </section>`;
}

// The same entities as links: the keyboard and screen-reader way through the graph.
function NodeList({ graph }) {
  const nodes = graph.nodes ?? [];
  return html`<details class="node-list">
    <summary>${nodes.length} entities in this graph</summary>
    <ul class="links">
      ${nodes.map((node) => html`<li><a href=${href("entity", [node.type, node.id])}>
        ${node.type} ${node.id}</a></li>`)}
    </ul>
  </details>`;
}

function PickEntity() {
  const [type, setType] = useState("");
  const [id, setId] = useState("");
  function submit(event) {
    event.preventDefault();
    if (type.trim() && id.trim()) navigate("graph", [type.trim(), id.trim()]);
  }
  return html`<section aria-labelledby="graph-title">
    <h1 id="graph-title">Graph</h1>
    <p class="muted">Open an entity's graph from its page, or name one here.</p>
    <form class="graph-controls" onSubmit=${submit}>
      <label>Entity type <input value=${type} onInput=${(e) => setType(e.currentTarget.value)} /></label>
      <label>Id <input value=${id} onInput=${(e) => setId(e.currentTarget.value)} /></label>
      <button type="submit">Show graph</button>
    </form>
  </section>`;
}
