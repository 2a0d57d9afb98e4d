// Compose DictaMesh subgraph SDLs with Apollo's composition library, without any server.
//
//   dictamesh supergraph --config mesh.yaml --format json | node compose.mjs
//
// Reads {"subgraphs": [{name, url, sdl}]} on stdin; prints the supergraph SDL, or each
// composition error on stderr and exits 1.
import { readFileSync } from "node:fs";
import { parse } from "graphql";

const { composeServices } = await import("@apollo/composition");

const config = JSON.parse(readFileSync(0, "utf8"));
const result = composeServices(
  config.subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);
if (result.errors) {
  for (const error of result.errors) console.error(`COMPOSITION_ERROR ${error.message}`);
  process.exit(1);
}
for (const hint of result.hints ?? []) console.error(`HINT ${hint.definition.code}: ${hint.message}`);
process.stdout.write(result.supergraphSdl);
