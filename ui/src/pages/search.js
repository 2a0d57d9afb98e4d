// Search page: instant results for the header's search box (debounced; a newer keystroke
// cancels the call in flight), the mode switch, and facets that filter when clicked.
import { useEffect, useRef, useState } from "preact/hooks";
import { apiGet, isAbort } from "../api.js";
import { ErrorBanner, Loading } from "../components/common.js";
import { html } from "../html.js";
import { href, navigate } from "../router.js";

const DEBOUNCE_MS = 150;
const LIMIT = 25;
const MODES = [
  ["hybrid", "Hybrid"],
  ["text", "Text"],
  ["semantic", "Semantic"],
];
// the facet groups the API may answer, with the query parameter each one filters by
const FACETS = [
  ["type", "type", "Type"],
  ["entity_type", "type", "Type"],
  ["domain", "domain", "Domain"],
  ["source", "source", "Source"],
  ["classification", "classification", "Classification"],
];
const FILTERS = ["type", "domain", "source", "classification"];

export function SearchPage({ query }) {
  const q = (query.get("q") ?? "").trim();
  const mode = query.get("mode") ?? "hybrid";
  const filters = Object.fromEntries(FILTERS.map((key) => [key, query.get(key) ?? ""]));
  const [state, setState] = useState({ answer: null, error: null, loading: false });
  const filterKey = JSON.stringify(filters);

  useEffect(() => {
    if (!q) {
      setState({ answer: null, error: null, loading: false });
      return undefined;
    }
    const controller = new AbortController();
    setState((prev) => ({ ...prev, loading: true }));
    const timer = setTimeout(async () => {
      try {
        const answer = await apiGet("/api/v1/search", {
          params: { q, mode, limit: LIMIT, ...filters },
          signal: controller.signal,
        });
        setState({ answer, error: null, loading: false });
      } catch (error) {
        if (!isAbort(error)) setState({ answer: null, error, loading: false });
      }
    }, DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q, mode, filterKey]);

  function setParam(key, value) {
    const next = Object.fromEntries(query);
    if (value) next[key] = value;
    else delete next[key];
    navigate("search", [], next, { replace: true });
  }

  const { answer, error, loading } = state;
  const results = answer?.results ?? [];
  const active = FILTERS.filter((key) => filters[key]);
  return html`<section class="search-page" aria-labelledby="search-title">
    <h1 id="search-title">Search</h1>
    <fieldset class="modes">
      <legend>Mode</legend>
      ${MODES.map(([value, label]) => html`<label class="mode">
        <input type="radio" name="mode" value=${value} checked=${mode === value}
          data-testid=${`mode-${value}`} onChange=${() => setParam("mode", value)} />
        ${label}
      </label>`)}
    </fieldset>
    ${active.length > 0 && html`<p class="active-filters">Filtered by
      ${active.map((key) => html` <button type="button" class="chip" data-testid="active-filter"
        onClick=${() => setParam(key, "")} aria-label=${`Remove filter ${key} ${filters[key]}`}>
        ${key}: ${filters[key]} ✕</button>`)}
    </p>`}
    <${ErrorBanner} error=${error} />
    ${answer?.degraded && html`<p class="banner banner-warn" role="status" data-testid="degraded">
      Semantic search is unavailable here; these are text results.</p>`}
    <div class=${answer?.facets ? "search-layout with-facets" : "search-layout"}>
      <${Facets} facets=${answer?.facets} filters=${filters} onPick=${setParam} />
      <div class="search-results">
        ${!q && html`<p class="muted">Type in the search box above: names, ids, emails,
          descriptions. Spelling mistakes are tolerated.</p>`}
        ${q && loading && !answer && html`<${Loading} label="Searching…" />`}
        ${q && answer && html`<p class="muted" role="status" aria-live="polite"
          data-testid="result-count">
          ${results.length === 0 ? "No results." : `${results.length} result${results.length === 1 ? "" : "s"}`}
          ${answer.mode && answer.mode !== mode ? ` (${answer.mode})` : ""}
        </p>`}
        ${results.length > 0 && html`<${ResultList} results=${results} />`}
      </div>
    </div>
  </section>`;
}

function ResultList({ results }) {
  const list = useRef(null);

  // Arrow keys move between results, Enter opens one (they are links), ArrowUp from the
  // first one goes back to the search box.
  function onKeyDown(event) {
    const items = [...list.current.querySelectorAll('[data-testid="search-result"]')];
    const index = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowDown") next = items[Math.min(index + 1, items.length - 1)];
    else if (event.key === "ArrowUp") next = index <= 0 ? document.getElementById("search-input") : items[index - 1];
    else if (event.key === "Home") next = items[0];
    else if (event.key === "End") next = items[items.length - 1];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  }

  return html`<ol id="search-results" class="results" ref=${list} onKeyDown=${onKeyDown}
    aria-label="Search results">
    ${results.map((hit) => html`<li key=${`${hit.entity_type}/${hit.entity_id}`}>
      <a class="result" href=${href("entity", [hit.entity_type, hit.entity_id])}
        data-testid="search-result" data-entity-type=${hit.entity_type}
        data-entity-id=${hit.entity_id}>
        <span class="badge">${hit.entity_type}</span>
        <span class="result-id">${hit.label ?? hit.entity_id}</span>
        ${hit.domain && html`<span class="muted">${hit.domain}</span>`}
        <span class="result-meta muted">
          ${hit.matched?.length ? `matched ${hit.matched.join(", ")}` : ""}
          ${hit.sources?.length ? ` · ${hit.sources.join(" + ")}` : ""}
          ${typeof hit.score === "number" ? ` · score ${hit.score.toFixed(3)}` : ""}
        </span>
      </a>
    </li>`)}
  </ol>`;
}

/** Facet groups as [{value, count}], from either {value: count} or a list of objects. */
export function facetEntries(group) {
  if (Array.isArray(group)) {
    return group
      .map((item) => ({ value: String(item.value ?? item.key ?? item.name ?? ""), count: item.count ?? 0 }))
      .filter((item) => item.value);
  }
  if (group && typeof group === "object") {
    return Object.entries(group).map(([value, count]) => ({ value, count: Number(count) || 0 }));
  }
  return [];
}

function Facets({ facets, filters, onPick }) {
  if (!facets || typeof facets !== "object") return null;
  const groups = FACETS.filter(([key]) => facetEntries(facets[key]).length > 0);
  if (groups.length === 0) return null;
  return html`<aside class="facets" aria-label="Filters">
    ${groups.map(([key, param, label]) => html`<section class="facet-group">
      <h2>${label}</h2>
      <ul>
        ${facetEntries(facets[key]).map(({ value, count }) => {
          const selected = filters[param] === value;
          return html`<li><button type="button" class="facet" data-testid="facet"
            data-facet=${param} data-value=${value} aria-pressed=${selected ? "true" : "false"}
            onClick=${() => onPick(param, selected ? "" : value)}>
            ${value} <span class="count">${count}</span>
          </button></li>`;
        })}
      </ul>
    </section>`)}
  </aside>`;
}
