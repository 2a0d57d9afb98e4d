// Entity page (#/entity/<type>/<id>): built in the next commits.
import { html } from "../html.js";

export function EntityPage({ params }) {
  const [type, id] = params;
  return html`<section><h1>${type} ${id}</h1></section>`;
}
