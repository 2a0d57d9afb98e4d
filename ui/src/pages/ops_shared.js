// What the operations pages (adapters, dlq, schemas, sagas, notifications) share: a POST
// with the session's credentials (api.js has GET only), a loader that refreshes on a timer,
// and number formats. Not a page: pages/index.js does not list it.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, apiGet, apiUrl, authHeaders, isAbort } from "../api.js";
import { html } from "../html.js";
import "./ops.css";

const DEADLINE_MS = 15000;

/** POST JSON (or nothing) with the session's credentials; rejects with ApiError. */
export async function apiPost(path, body) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method: "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(DEADLINE_MS),
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiError(0, error?.name === "TimeoutError" ? "TIMEOUT" : "NETWORK",
      "The node cannot be reached.");
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, answer?.error?.code ?? `HTTP_${response.status}`,
      answer?.error?.message ?? response.statusText);
  }
  return answer;
}

/**
 * GET `path` now, whenever `key` changes, and every `everyMs` while `auto` is on.
 * A newer load cancels the one in flight; the last good answer stays while reloading.
 */
export function useLoad(path, { params, key = "", everyMs = 0, auto = true } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const controller = useRef(null);
  const paramKey = JSON.stringify(params ?? {});
  const load = useCallback(async () => {
    if (!path) return;
    controller.current?.abort();
    const mine = new AbortController();
    controller.current = mine;
    setState((prev) => ({ ...prev, loading: true }));
    try {
      const data = await apiGet(path, { params, signal: mine.signal });
      setState({ data, error: null, loading: false });
    } catch (error) {
      if (!isAbort(error)) setState((prev) => ({ data: prev.data, error, loading: false }));
    }
  }, [path, paramKey, key]);
  useEffect(() => {
    load();
    return () => controller.current?.abort();
  }, [load]);
  useEffect(() => {
    if (!everyMs || !auto) return undefined;
    const timer = setInterval(load, everyMs);
    return () => clearInterval(timer);
  }, [load, everyMs, auto]);
  return { ...state, reload: load };
}

/** "12.3 ms", or "—" for no value. */
export function ms(value) {
  return value === null || value === undefined ? "—" : `${Number(value).toFixed(1)} ms`;
}

/** "99.5 %" from a share in [0, 1], or "—". */
export function pct(value) {
  return value === null || value === undefined ? "—" : `${(Number(value) * 100).toFixed(1)} %`;
}

/** A yes/no/unknown verdict as a badge people and screen readers can read. */
export function Verdict({ met, testid }) {
  const [label, cls] = met === true ? ["met", "badge ok"] : met === false ? ["missed", "badge bad"] : ["n/a", "badge"];
  return html`<span class=${cls} data-testid=${testid}>${label}</span>`;
}

/** The message a page shows instead of its content when the caller may not see it. */
export function Refused({ error, what, testid }) {
  if (!error || (error.status !== 401 && error.status !== 403)) return null;
  const why = error.status === 401 ? "Log in to see it." : "Your credentials do not allow it.";
  return html`<div class="banner banner-warn" role="alert" data-testid=${testid}>
    ${what} is for administrators. ${why}
  </div>`;
}
