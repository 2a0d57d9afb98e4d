// Cytoscape.js over the API's relationship graph: {root, nodes:[{type,id,depth}],
// edges:[{subject:{type,id}, relationship_type, object:{type,id}}]}.
import cytoscape from "cytoscape";

// colour-blind-safe (Okabe–Ito), in the order domains are sorted
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const UNKNOWN_COLOUR = "#9aa3ad";

/** Each domain's colour: the sorted domains take the palette in turn. */
export function domainColours(domains) {
  const names = [...new Set(Object.values(domains))].sort();
  return Object.fromEntries(names.map((name, i) => [name, PALETTE[i % PALETTE.length]]));
}

// Cytoscape adds a <style> element unless one with this id exists; the CSP forbids inline
// styles, so a placeholder takes its place and styles.css holds its one rule.
const CYTOSCAPE_STYLESHEET = "__________cytoscape_stylesheet";

function placeholdStylesheet() {
  if (document.getElementById(CYTOSCAPE_STYLESHEET)) return;
  const placeholder = document.createElement("meta");
  placeholder.id = CYTOSCAPE_STYLESHEET;
  document.head.append(placeholder);
}

const key = (ref) => `${ref.type}/${ref.id}`;

function elements(graph, domains) {
  const colours = domainColours(domains);
  const nodes = (graph.nodes ?? []).map((node) => ({
    group: "nodes",
    data: {
      id: key(node),
      type: node.type,
      entityId: node.id,
      domain: domains[node.type] ?? "",
      colour: colours[domains[node.type]] ?? UNKNOWN_COLOUR,
      label: `${node.type}\n${node.id}`,
      root: graph.root && key(graph.root) === key(node) ? 1 : 0,
    },
  }));
  const edges = (graph.edges ?? []).map((edge) => ({
    group: "edges",
    data: {
      id: `${key(edge.subject)}>${edge.relationship_type}>${key(edge.object)}`,
      source: key(edge.subject),
      target: key(edge.object),
      label: edge.relationship_type,
    },
  }));
  return [...nodes, ...edges];
}

const STYLE = [
  {
    selector: "node",
    style: {
      "background-color": "data(colour)",
      label: "data(label)",
      "text-wrap": "wrap",
      "font-size": 10,
      "text-valign": "bottom",
      "text-margin-y": 4,
      width: 26,
      height: 26,
    },
  },
  { selector: "node[root = 1]", style: { "border-width": 4, "border-color": "#1c2430" } },
  {
    selector: "edge",
    style: {
      width: 1.5,
      "line-color": "#a9b3c1",
      "target-arrow-color": "#a9b3c1",
      "target-arrow-shape": "triangle",
      "curve-style": "bezier",
      label: "data(label)",
      "font-size": 8,
      color: "#5a6573",
      "text-rotation": "autorotate",
    },
  },
  { selector: "node:selected", style: { "border-width": 3, "border-color": "#ff9d00" } },
];

const LAYOUT = { name: "breadthfirst", directed: false, padding: 30, spacingFactor: 1.1, animate: false };

/** Draw `graph` into `container`; `onExpand(node)` on a click, `onOpen(node)` on a double click. */
export function drawGraph(container, graph, domains, { onExpand, onOpen }) {
  placeholdStylesheet();
  const roots = graph.root ? `#${CSS.escape(key(graph.root))}` : undefined;
  const cy = cytoscape({
    container,
    elements: elements(graph, domains),
    style: STYLE,
    layout: { ...LAYOUT, roots },
    minZoom: 0.2,
    maxZoom: 3,
  });
  const ref = (target) => ({ type: target.data("type"), id: target.data("entityId") });
  cy.on("tap", "node", (event) => onExpand(ref(event.target)));
  cy.on("dbltap", "node", (event) => onOpen(ref(event.target)));
  return cy;
}

/** Add the nodes and edges of `graph` not drawn yet (an expanded node's neighbours). */
export function mergeGraph(cy, graph, domains) {
  const fresh = elements(graph, domains).filter((el) => cy.getElementById(el.data.id).empty());
  if (fresh.length === 0) return;
  const nodes = fresh.filter((el) => el.group === "nodes");
  const edges = fresh.filter((el) => el.group === "edges");
  cy.add(nodes);
  cy.add(edges.filter((e) => !cy.getElementById(e.data.source).empty() && !cy.getElementById(e.data.target).empty()));
  cy.layout({ ...LAYOUT }).run();
}
