// Schemas page (#/schemas, #/schemas/<subject>?from=&to=): every registered subject with its
// versions and compatibility mode (GET /api/v1/schema-subjects), and what changed between
// two chosen versions (GET /api/v1/schemas/<subject>/diff), judged by the registry's checker.
import { ErrorBanner, Loading } from "../components/common.js";
import { html } from "../html.js";
import { href, navigate } from "../router.js";
import { useLoad } from "./ops_shared.js";

export function SchemasPage({ params, query }) {
  const [subject] = params;
  const { data, error, loading } = useLoad("/api/v1/schema-subjects", { params: { limit: 500 } });
  const subjects = data?.subjects ?? [];
  const chosen = subjects.find((s) => s.subject === subject);
  return html`<section aria-labelledby="schemas-title">
    <h1 id="schemas-title">Schemas</h1>
    <${ErrorBanner} error=${error} />
    ${loading && !data && html`<${Loading} />`}
    ${data && html`<p class="muted">Default compatibility:
      <strong data-testid="global-compatibility">${data.compatibility}</strong>
      ${data.truncated ? " · only the first 500 subjects" : ""}</p>`}
    ${data && html`<div class="ops-split">
      <${SubjectTable} subjects=${subjects} chosen=${subject} />
      <div>${chosen
        ? html`<${Diff} key=${chosen.subject} subject=${chosen} query=${query} />`
        : html`<p class="muted">${subject ? `No subject ${subject}.` : "Choose a subject to compare its versions."}</p>`}</div>
    </div>`}
  </section>`;
}

function SubjectTable({ subjects, chosen }) {
  if (subjects.length === 0) return html`<p class="muted">No schemas registered yet.</p>`;
  return html`<div class="table-wrap"><table class="ops" data-testid="schema-subjects">
    <caption class="visually-hidden">Schema subjects</caption>
    <thead><tr><th scope="col">Subject</th><th scope="col">Type</th>
      <th scope="col">Versions</th><th scope="col">Compatibility</th></tr></thead>
    <tbody>${subjects.map((s) => html`<tr key=${s.subject} data-testid="schema-subject" data-subject=${s.subject}
        aria-selected=${s.subject === chosen ? "true" : undefined}>
      <th scope="row"><a href=${href("schemas", [s.subject])}>${s.subject}</a></th>
      <td class="small">${s.schema_type}</td>
      <td data-testid="schema-versions">${s.versions.join(", ")}</td>
      <td data-testid="schema-compatibility">${s.compatibility}${s.compatibility_configured ? "" : html` <span class="muted small">(default)</span>`}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

function Diff({ subject, query }) {
  const versions = subject.versions;
  const to = Number(query.get("to")) || versions[versions.length - 1];
  const earlier = versions.filter((v) => v < to);
  const from = Number(query.get("from")) || earlier[earlier.length - 1];
  const comparable = versions.length > 1 && from && from < to;
  const { data, error, loading } = useLoad(
    comparable ? `/api/v1/schemas/${encodeURIComponent(subject.subject)}/diff` : null,
    { params: { from, to } },
  );
  function pick(key, value) {
    const next = { from, to, [key]: value };
    navigate("schemas", [subject.subject], next, { replace: true });
  }
  const picker = (key, label, value) => html`<label>${label}
    <select data-testid=${`diff-${key}`} value=${value}
      onChange=${(e) => pick(key, Number(e.currentTarget.value))}>
      ${versions.map((v) => html`<option value=${v}>${v}</option>`)}
    </select></label>`;
  return html`<div>
    <h2>${subject.subject}</h2>
    <p>Compatibility mode: <strong data-testid="subject-compatibility">${subject.compatibility}</strong></p>
    ${versions.length < 2
      ? html`<p class="muted">Only one version: nothing to compare.</p>`
      : html`<form class="ops-form" onSubmit=${(e) => e.preventDefault()} aria-label="Versions to compare">
          ${picker("from", "From version", from)} ${picker("to", "To version", to)}
        </form>`}
    ${versions.length > 1 && !comparable && html`<p class="banner banner-warn" role="status">
      Choose a "from" version below the "to" version.</p>`}
    <${ErrorBanner} error=${comparable ? error : null} />
    ${comparable && loading && !data && html`<${Loading} label="Comparing…" />`}
    ${comparable && data && html`<${Changes} diff=${data} />`}
  </div>`;
}

function Changes({ diff }) {
  return html`<div data-testid="schema-diff">
    <p role="status" aria-live="polite" data-testid="diff-verdict">
      ${diff.from} → ${diff.to}:
      ${diff.compatible
        ? html`<span class="badge ok">compatible</span>`
        : html`<span class="badge bad">breaking</span>`} under ${diff.compatibility}
    </p>
    ${diff.changes.length === 0
      ? html`<p class="muted">No changes.</p>`
      : html`<table class="ops" data-testid="schema-changes">
          <caption class="visually-hidden">Changes from version ${diff.from} to ${diff.to}</caption>
          <thead><tr><th scope="col">Severity</th><th scope="col">Change</th><th scope="col">What</th></tr></thead>
          <tbody>${diff.changes.map((c) => html`<tr data-testid="schema-change" data-code=${c.code}>
            <td><span class=${`badge ${c.severity}`}>${c.severity}</span></td>
            <td class="small">${c.code}</td><td>${c.message}</td>
          </tr>`)}</tbody>
        </table>`}
  </div>`;
}
