// Entity type → domain, from the schemas the node serves (graph nodes carry only type/id).
import { useEffect, useState } from "preact/hooks";
import { apiGet } from "../api.js";

export function useSchemas() {
  const [state, setState] = useState({ loaded: false, byType: {}, error: null });
  useEffect(() => {
    const controller = new AbortController();
    apiGet("/api/v1/schemas", { signal: controller.signal }).then(
      (answer) => {
        const byType = {};
        for (const schema of answer?.schemas ?? []) byType[schema.entity_type] = schema.domain;
        setState({ loaded: true, byType, error: null });
      },
      // without schemas the graph is still drawn, in one colour
      (error) => controller.signal.aborted || setState({ loaded: true, byType: {}, error }),
    );
    return () => controller.abort();
  }, []);
  return state;
}
