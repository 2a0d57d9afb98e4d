// The attributes exactly as the API answered them for this caller. The node masks; the UI
// only marks what it was told: X-DictaMesh-Masked names the fields served masked,
// X-DictaMesh-Redacted those withheld (null). Both get data-masked="true".
import { html } from "../html.js";

export function AttributeTable({ attributes, masked, redacted }) {
  const names = Object.keys(attributes ?? {});
  if (names.length === 0) return html`<p class="muted">No attributes recorded.</p>`;
  return html`<table class="attributes">
    <caption class="visually-hidden">Attributes</caption>
    <thead class="visually-hidden"><tr><th scope="col">Field</th><th scope="col">Value</th></tr></thead>
    <tbody>
      ${names.map((name) => {
        const hidden = redacted.has(name) || [...redacted].some((p) => p.startsWith(`${name}.`));
        const isMasked = masked.has(name) || [...masked].some((p) => p.startsWith(`${name}.`));
        return html`<tr data-testid="attribute" data-field=${name}
          data-masked=${hidden || isMasked ? "true" : "false"}>
          <th scope="row">${name}</th>
          <td>
            ${hidden && attributes[name] === null
              ? html`<span class="masked">withheld</span>`
              : html`<${Value} value=${attributes[name]} masked=${isMasked || hidden} />`}
            ${isMasked && html` <span class="badge" title="masked by the node's policy">masked</span>`}
          </td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function Value({ value, masked }) {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  if (typeof value === "object") {
    return html`<pre class=${masked ? "value masked" : "value"}>${JSON.stringify(value, null, 2)}</pre>`;
  }
  return html`<span class=${masked ? "masked" : undefined}>${String(value)}</span>`;
}
