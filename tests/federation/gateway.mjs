// A real Apollo gateway in front of DictaMesh subgraphs (test fixture, see docs/federation.md).
//
//   node gateway.mjs [--port 4000] [--host 127.0.0.1] [--config supergraph.json] [name=url ...]
//
// Subgraphs come from `name=url` arguments, from SUBGRAPHS ("name=url,name=url"), or from
// --config: the JSON `dictamesh supergraph --format json` prints ({"subgraphs": [{name, url}]}).
// The gateway composes them with IntrospectAndCompose (each subgraph's `_service { sdl }`),
// then prints one line `DICTAMESH_GATEWAY_READY <url>` on stdout. If composition fails it
// prints `DICTAMESH_GATEWAY_ERROR <reason>` on stderr and exits 1.
import { readFileSync } from "node:fs";

// Apollo's gateway reports anonymous usage to Apollo unless told not to: a fixture must not.
process.env.APOLLO_TELEMETRY_DISABLED ??= "true";

const { ApolloGateway, IntrospectAndCompose } = await import("@apollo/gateway");
const { ApolloServer } = await import("@apollo/server");
const { startStandaloneServer } = await import("@apollo/server/standalone");

function usage(message) {
  console.error(`DICTAMESH_GATEWAY_ERROR ${message}`);
  console.error("usage: node gateway.mjs [--port N] [--host H] [--config file.json] [name=url ...]");
  process.exit(2);
}

function parseArgs(argv) {
  const options = { port: Number(process.env.GATEWAY_PORT ?? 4000), host: "127.0.0.1" };
  const subgraphs = [];
  const addPair = (pair) => {
    const at = pair.indexOf("=");
    if (at < 1 || !/^https?:\/\//.test(pair.slice(at + 1))) usage(`not name=url: ${pair}`);
    subgraphs.push({ name: pair.slice(0, at), url: pair.slice(at + 1) });
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--port") options.port = Number(argv[++i]);
    else if (arg === "--host") options.host = argv[++i];
    else if (arg === "--config") {
      const config = JSON.parse(readFileSync(argv[++i], "utf8"));
      for (const { name, url } of config.subgraphs ?? []) subgraphs.push({ name, url });
    } else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else addPair(arg);
  }
  if (subgraphs.length === 0 && process.env.SUBGRAPHS) {
    process.env.SUBGRAPHS.split(",").filter(Boolean).forEach(addPair);
  }
  if (!Number.isInteger(options.port) || options.port < 0) usage("--port must be an integer");
  if (subgraphs.length === 0) usage("no subgraphs given");
  return { ...options, subgraphs };
}

const { port, host, subgraphs } = parseArgs(process.argv.slice(2));
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({ subgraphs }),
  logger: {
    debug() {},
    info() {},
    warn: (m) => console.error(`[gateway] ${m}`),
    error: (m) => console.error(`[gateway] ${m}`),
  },
});
const server = new ApolloServer({
  gateway,
  introspection: true,
  includeStacktraceInErrorResponses: false, // answer like a production router
});

try {
  const { url } = await startStandaloneServer(server, { listen: { port, host } });
  console.log(`DICTAMESH_GATEWAY_READY ${url}`);
} catch (error) {
  console.error(`DICTAMESH_GATEWAY_ERROR ${String(error?.message ?? error).replace(/\s+/g, " ")}`);
  process.exit(1);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await server.stop();
    process.exit(0);
  });
}
