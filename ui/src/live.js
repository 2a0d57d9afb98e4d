// GraphQL subscriptions over the node's WebSocket (the graphql-transport-ws protocol that
// /graphql speaks). Browsers cannot set headers on a WebSocket, so the credentials go in
// connection_init's payload, where the node looks for them (dictamesh.api.graphql_ws).
import { authHeaders } from "./api.js";
import { config } from "./config.js";

const PROTOCOL = "graphql-transport-ws";

/**
 * Subscribe to `query`; `onNext(data)` per event, `onState(state)` with "connecting",
 * "live" (acknowledged and subscribed) or "closed" (refused, failed or ended: the caller
 * falls back to polling). Returns the function that unsubscribes.
 */
export function subscribe({ query, variables, onNext, onState }) {
  const url = new URL(config.graphqlPath, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  let closed = false;
  const report = (state) => closed || onState?.(state);
  try {
    socket = new WebSocket(url, PROTOCOL);
  } catch {
    report("closed");
    return () => {};
  }
  report("connecting");
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "connection_init", payload: authHeaders() }));
  };
  socket.onmessage = (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "connection_ack") {
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
      report("live");
    } else if (frame.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (frame.type === "next" && frame.payload?.data) {
      if (!closed) onNext(frame.payload.data);
    } else if (frame.type === "error" || frame.type === "complete") {
      report("closed");
      socket.close();
    }
  };
  socket.onerror = () => report("closed");
  socket.onclose = () => report("closed");
  return () => {
    closed = true;
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ id: "1", type: "complete" }));
    }
    socket.close();
  };
}
