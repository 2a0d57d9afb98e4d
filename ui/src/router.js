// Hash routes: "#/<page>/<param>/<param>?key=value" (the page from pages/index.js).
import { useEffect, useState } from "preact/hooks";

const CHANGED = "dictamesh:route";

/** @returns {{page: string, params: string[], query: URLSearchParams}} */
export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?", 2);
  const [page = "", ...params] = path.split("/").filter(Boolean).map(safeDecode);
  return { page, params, query: new URLSearchParams(search) };
}

function safeDecode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The href of a route: href("entity", ["customer", "c-1"]) → "#/entity/customer/c-1". */
export function href(page, params = [], query = {}) {
  const path = [page, ...params].map((p) => encodeURIComponent(String(p))).join("/");
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

/** Go to a route; `replace` keeps the history short (each keystroke of a search). */
export function navigate(page, params = [], query = {}, { replace = false } = {}) {
  const target = href(page, params, query);
  if (target === window.location.hash) return;
  if (replace) {
    window.history.replaceState(null, "", target);
    window.dispatchEvent(new Event(CHANGED)); // replaceState fires no hashchange
  } else {
    window.location.hash = target;
  }
}

/** The current route, re-rendering on every change. */
export function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const update = () => setRoute(parseHash());
    window.addEventListener("hashchange", update);
    window.addEventListener(CHANGED, update);
    return () => {
      window.removeEventListener("hashchange", update);
      window.removeEventListener(CHANGED, update);
    };
  }, []);
  return route;
}
