// The entity as GET /api/v1/entities/{type}/{id} answers it for this caller, with the
// answer's headers (which fields were masked or withheld). Reloaded when `reload` changes;
// the previous answer stays on screen meanwhile.
import { useEffect, useState } from "preact/hooks";
import { apiFetch } from "../api.js";

export function useEntity(type, id, reload) {
  const [state, setState] = useState({ body: null, headers: new Headers(), error: null });
  useEffect(() => {
    const controller = new AbortController();
    apiFetch(`/api/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}`, {
      signal: controller.signal,
    }).then(
      ({ body, headers }) => setState({ body, headers, error: null }),
      (error) => controller.signal.aborted || setState((prev) => ({ ...prev, error })),
    );
    return () => controller.abort();
  }, [type, id, reload]);
  return state;
}
