// The entity's event timeline, newest first, kept current without a reload: a GraphQL
// subscription (entityChanged) says when something happened, then the REST event log —
// masked like every other read — is read again. Without a WebSocket it polls.
import { useEffect, useRef, useState } from "preact/hooks";
import { apiGet } from "../api.js";
import { ErrorBanner, Time } from "../components/common.js";
import { html } from "../html.js";
import { subscribe } from "../live.js";

const LIMIT = 50;
const POLL_MS = 2000;
// the subscription can be told of an event before the node's ingest has logged it
const RETRY_MS = [300, 1000, 2500];
const CHANGES = `subscription ($type: String!, $id: ID) {
  entityChanged(type: $type, id: $id) { eventId eventType version }
}`;

export function useTimeline(type, id, onChange) {
  const [state, setState] = useState({ events: null, error: null, mode: "connecting", fresh: new Set() });
  const known = useRef(new Set());
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    let stopped = false;
    let poller = null;
    const timers = new Set();
    const path = `/api/v1/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}/events`;

    async function load() {
      try {
        const answer = await apiGet(path, { params: { limit: LIMIT } });
        if (stopped) return false;
        const events = answer?.events ?? [];
        const first = known.current.size === 0;
        const fresh = new Set(first ? [] : events.map((e) => e.event_id).filter((e) => !known.current.has(e)));
        events.forEach((e) => known.current.add(e.event_id));
        setState((prev) => ({ ...prev, events, error: null, fresh }));
        if (fresh.size > 0) changed.current?.();
        return fresh.size > 0;
      } catch (error) {
        if (!stopped) setState((prev) => ({ ...prev, error }));
        return false;
      }
    }

    function poll() {
      if (poller || stopped) return;
      setState((prev) => ({ ...prev, mode: "polling" }));
      poller = setInterval(load, POLL_MS);
    }

    async function onEvent() {
      if (await load()) return;
      for (const delay of RETRY_MS) {
        const timer = setTimeout(async () => {
          timers.delete(timer);
          if (!stopped) await load();
        }, delay);
        timers.add(timer);
      }
    }

    load();
    const unsubscribe = subscribe({
      query: CHANGES,
      variables: { type, id },
      onNext: onEvent,
      onState: (mode) => {
        if (mode === "closed") poll();
        else if (!poller) setState((prev) => ({ ...prev, mode: mode === "live" ? "subscription" : mode }));
      },
    });
    return () => {
      stopped = true;
      unsubscribe();
      if (poller) clearInterval(poller);
      timers.forEach(clearTimeout);
    };
  }, [type, id]);
  return state;
}

export function Timeline({ state }) {
  const { events, error, mode, fresh } = state;
  return html`<section aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline</h2>
    <p class="muted" data-testid="timeline-mode" data-mode=${mode}>
      ${mode === "subscription" ? "Live: new events appear here as they happen."
        : mode === "polling" ? "Checking for new events every 2 seconds."
        : "Connecting…"}
    </p>
    <${ErrorBanner} error=${error} />
    ${events && events.length === 0 && html`<p class="muted">No events recorded.</p>`}
    <ol class="timeline" aria-live="polite" aria-relevant="additions">
      ${(events ?? []).map((event) => html`<li key=${event.event_id} data-testid="timeline-event"
        data-event-id=${event.event_id} data-version=${event.entity_version}
        class=${fresh.has(event.event_id) ? "fresh" : undefined}>
        <strong>${event.event_type?.toLowerCase()}</strong>
        <span> · version ${event.entity_version}</span>
        <span> · <${Time} value=${event.timestamp ?? event.recorded_at} /></span>
        ${event.changed_fields?.length > 0 && html`<div class="muted">
          changed: ${event.changed_fields.join(", ")}</div>`}
        <div class="muted">event <code title=${event.event_id}>${event.event_id.slice(0, 8)}</code>
          from ${event.source_system ?? "?"} (${event.topic ?? ""})</div>
      </li>`)}
    </ol>
  </section>`;
}
