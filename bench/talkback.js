// talkback.js: talkback 4 behind a node http server bound to 127.0.0.1, for the bench.
// Adapted from ../shared/peers/peers/talkback.js (same options, so the same measurement).
//
//   node bench/talkback.js record|replay PORT TAPES_DIR [UPSTREAM_URL]
//
// record: requests matching no tape go to UPSTREAM_URL and are saved as tapes in TAPES_DIR.
// replay: tapes only (no upstream); a miss is talkback's 404.
// talkback's own server listens on all interfaces, hence its request-handler API here.
// allowHeaders: match on the headers that matter for this API only (by default talkback
// compares every header, so a different client's User-Agent would miss the tape).
// Needs NODE_PATH pointing at the node_modules that holds talkback.
const http = require("http");
const talkback = require("talkback");

const [mode, port, tapes, upstream] = process.argv.slice(2);
if (!["record", "replay"].includes(mode) || !port || !tapes) {
  console.error("usage: node talkback.js record|replay PORT TAPES_DIR [UPSTREAM_URL]");
  process.exit(2);
}
const { RecordMode, FallbackMode } = talkback.Options;

(async () => {
  const handler = await talkback.requestHandler({
    host: upstream || "http://127.0.0.1:9", // never contacted when replaying
    path: tapes,
    record: mode === "record" ? RecordMode.NEW : RecordMode.DISABLED,
    fallbackMode: FallbackMode.NOT_FOUND,
    allowHeaders: ["authorization", "content-type", "content-encoding"],
    silent: true,
    summary: false,
  });
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c)).on("end", async () => {
      try {
        const r = await handler.handle({
          headers: req.headers, url: req.url, method: req.method, body: Buffer.concat(chunks),
        });
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      } catch (err) {
        console.error("Error handling request", err);
        res.statusCode = 500;
        res.end();
      }
    });
  });
  server.listen(Number(port), "127.0.0.1", () => console.log(`talkback ${mode} on ${port}`));
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
})();
