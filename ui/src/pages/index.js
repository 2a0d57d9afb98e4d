// The page registry. Adding a page is one file under pages/ and one entry here:
//   path       the first segment of its hash route: #/<path>/<param>/...?<query>
//   title      its name in the navigation and the window title
//   nav        listed in the header's navigation (in this order)
//   component  a Preact component receiving {params: string[], query: URLSearchParams,
//              session} (use apiGet from ../api.js for every call: it adds the credentials)
import { AdaptersPage } from "./adapters.js";
import { DlqPage } from "./dlq.js";
import { EntityPage } from "./entity.js";
import { GraphPage } from "./graph.js";
import { NotificationsPage } from "./notifications.js";
import { SagasPage } from "./sagas.js";
import { SchemasPage } from "./schemas.js";
import { SearchPage } from "./search.js";

export const pages = [
  { path: "search", title: "Search", nav: true, component: SearchPage },
  { path: "graph", title: "Graph", nav: true, component: GraphPage },
  { path: "entity", title: "Entity", nav: false, component: EntityPage },
  // the operations pages (h5)
  { path: "adapters", title: "Adapters", nav: true, component: AdaptersPage },
  { path: "schemas", title: "Schemas", nav: true, component: SchemasPage },
  { path: "sagas", title: "Sagas", nav: true, component: SagasPage },
  { path: "notifications", title: "Notifications", nav: true, component: NotificationsPage },
  { path: "dlq", title: "DLQ", nav: true, component: DlqPage },
];

export const defaultPage = "search";

export function pageFor(path) {
  return pages.find((page) => page.path === path) ?? null;
}
