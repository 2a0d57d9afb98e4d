// What the node told the page in index.html's data attributes (api/browser_ui.py).
const data = document.getElementById("app")?.dataset ?? {};

export const config = {
  /** "off" | "optional" | "required": whether the page asks for credentials first */
  auth: data.auth ?? "off",
  tenantHeader: data.tenantHeader ?? "X-Tenant-ID",
  graphqlPath: data.graphql ?? "/graphql",
  version: data.version ?? "",
};
