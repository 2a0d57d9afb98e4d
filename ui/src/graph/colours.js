// Domain colours, shared by the drawing and the legend (no Cytoscape here: the legend
// renders before the graph library has loaded).
// colour-blind-safe (Okabe–Ito), in the order domains are sorted
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const UNKNOWN_COLOUR = "#9aa3ad";

/** Each domain's colour: the sorted domains take the palette in turn. */
export function domainColours(domains) {
  const names = [...new Set(Object.values(domains))].sort();
  return Object.fromEntries(names.map((name, i) => [name, PALETTE[i % PALETTE.length]]));
}
