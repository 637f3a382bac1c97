#!/usr/bin/env node
// cosmos-local: an in-memory stand-in for Azure Cosmos DB, for local runs and
// tests of the shop against the Rust SDK (azure_data_cosmos 1.1.0-beta.1).
//
// It serves @vercel/cosmosdb-server (pinned in package.json) on 127.0.0.1 (by
// default) over plain HTTP -- HTTP/2 with prior knowledge (h2c), which the SDK
// tries first, and HTTP/1.1 with keep-alive on the same port -- and corrects,
// around the package's own request handler, the places where that package and
// the Rust SDK disagree. See README.md for the list.
//
// Usage: node server.js [--port N] [--host ADDR]
//        --port N     or COSMOS_LOCAL_PORT=N; default 8081; 0 = any free port
//        --host ADDR  or COSMOS_LOCAL_HOST=ADDR; default 127.0.0.1; 0.0.0.0 (or ::) in a
//                     container, so that other containers reach it
//        Prints "cosmos-local listening on http://127.0.0.1:PORT/" once listening (with
//        the address it listens on in place of 127.0.0.1 when --host names another).
//        COSMOS_LOCAL_LOG=1 logs each connection and request to stderr.
//        COSMOS_LOCAL_THROUGHPUT=N accepts N document operations in each second, as a container
//                     with little provisioned throughput does; beyond it each is answered 429
//                     with x-ms-retry-after-ms (until the next second), as Cosmos DB throttles.
//                     At exit it prints how many were throttled.
//        COSMOS_LOCAL_DATA=FILE keeps the data across restarts, even a SIGKILL: every write the
//                     server acknowledges (a 2xx to a create, replace, upsert, patch or delete
//                     of a database, container or item) is appended to FILE before the answer
//                     is sent, and a server started on the same FILE replays them in order
//                     before it listens. Without it the data lives in memory only.
"use strict";

const fs = require("fs");
const http = require("http");
const http2 = require("http2");
const net = require("net");
const { Duplex, PassThrough } = require("stream");

const LIB = "@vercel/cosmosdb-server/lib";

// ---------------------------------------------------------------------------
// Require-time patches. These must run before the package's index is required,
// because lib/routes.js reads each handler module's `default` export once, when
// it builds its routing table.
// ---------------------------------------------------------------------------

const docOps = require(`${LIB}/handler/_document-operations`);
const Items = require(`${LIB}/account/items`).default;

const notFoundBody = () => ({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system."
});

// Fix 2a: reading a missing document. The package's read handler dereferences
// the (undefined) document while checking partition-key components and throws,
// which became a 500. Answer 404 first when the container or document is missing.
{
  const mod = require(`${LIB}/handler/read-document`);
  const original = mod.default;
  mod.default = (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    if (collection.read()) {
      let result;
      try {
        result = docOps.readOperation(collection, {
          partitionKey: req.headers["x-ms-documentdb-partitionkey"],
          id: params.docId
        });
      } catch (err) {
        res.statusCode = 400;
        return { code: "BadRequest", message: err.message };
      }
      if (result.statusCode === 404) {
        res.statusCode = 404;
        return notFoundBody();
      }
    }
    return original(account, req, res, params);
  };
}

// Fix 2b: creating a document in a missing container threw inside the package
// (500); Cosmos answers 404.
{
  const mod = require(`${LIB}/handler/create-document`);
  const original = mod.default;
  mod.default = (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    if (!collection.read()) {
      res.statusCode = 404;
      return notFoundBody();
    }
    return original(account, req, res, params);
  };
}

// Fix 4 (execution half): a query scoped to one logical partition (header
// x-ms-documentdb-partitionkey) must only see that partition's documents. The
// wrapper below marks such queries with PARTITION_FILTER in the query body; here
// the container's documents are narrowed to that partition for the one
// (synchronous) execution of the query.
const PARTITION_FILTER = "__cosmosLocalPartitionKey";
{
  const originalQuery = Items.prototype.query;
  Items.prototype.query = function query(params, options) {
    if (!params || !Array.isArray(params[PARTITION_FILTER])) {
      return originalQuery.call(this, params, options);
    }
    const wanted = params[PARTITION_FILTER];
    const parent = this._parent.read();
    const paths = (((parent || {}).partitionKey || {}).paths || []).map(p =>
      p.slice(1).split("/")
    );
    const all = this._data;
    const narrowed = new Map();
    for (const [rid, item] of all) {
      if (inPartition(item.read(), paths, wanted)) narrowed.set(rid, item);
    }
    this._data = narrowed;
    try {
      return originalQuery.call(this, params, options);
    } finally {
      this._data = all;
    }
  };
}

function valueAt(doc, keys) {
  let value = doc;
  for (const key of keys) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[key];
  }
  return value;
}

function inPartition(doc, paths, wanted) {
  if (!doc) return false;
  return paths.every((keys, i) => {
    const want = wanted[i];
    const have = valueAt(doc, keys);
    // `{}` in the header means "no value" (the item has no partition key).
    if (want !== null && typeof want === "object") return have === undefined;
    return have === want;
  });
}

const { createHttpServer } = require("@vercel/cosmosdb-server");

// ---------------------------------------------------------------------------
// The wrapper around the package's request handler.
// ---------------------------------------------------------------------------

const ERROR_CODES = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  412: "PreconditionFailed",
  413: "RequestEntityTooLarge",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable"
};

function isTrue(value) {
  return String(Array.isArray(value) ? value[0] : value).toLowerCase() === "true";
}

function isQueryRequest(req) {
  return (
    req.method === "POST" &&
    (isTrue(req.headers["x-ms-documentdb-isquery"]) ||
      String(req.headers["content-type"] || "").startsWith("application/query+json"))
  );
}

function parsePartitionHeader(value) {
  if (!value) return null;
  try {
    const parsed = JSON.parse(Array.isArray(value) ? value[0] : value);
    if (!Array.isArray(parsed)) return [parsed];
    // `[{}]` is what clients send for "no partition key given".
    if (parsed.length === 1 && parsed[0] && typeof parsed[0] === "object" && !Object.keys(parsed[0]).length) {
      return null;
    }
    return parsed;
  } catch (err) {
    return null;
  }
}

// A gateway query plan for a container with a single partition key range: no
// client-side stages, one full range. The local server then evaluates the whole
// query (ORDER BY, TOP, aggregates) itself, which is exact because every
// document lives in that one range.
function trivialQueryPlan() {
  return {
    partitionedQueryExecutionInfoVersion: 2,
    queryInfo: {
      distinctType: "None",
      top: null,
      offset: null,
      limit: null,
      orderBy: [],
      orderByExpressions: [],
      groupByExpressions: [],
      groupByAliases: [],
      aggregates: [],
      groupByAliasToAggregateType: {},
      rewrittenQuery: "",
      hasSelectValue: false,
      hasNonStreamingOrderBy: false
    },
    queryRanges: [{ min: "", max: "FF", isMinInclusive: true, isMaxInclusive: false }]
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", c => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// A stand-in for http.IncomingMessage carrying a (possibly rewritten) body.
// The package only uses method, url, headers and the body stream.
function fakeRequest(req, headers, body) {
  const fake = new PassThrough();
  fake.method = req.method;
  fake.url = req.url;
  fake.headers = headers;
  fake.httpVersion = req.httpVersion;
  fake.socket = req.socket;
  fake.connection = req.socket;
  fake.end(body);
  return fake;
}

// A stand-in for http.ServerResponse that captures what the package writes
// (statusCode, setHeader, end), so the response can be corrected before sending.
function captureResponse(onEnd) {
  const headers = {};
  return {
    statusCode: 200,
    finished: false,
    headersSent: false,
    setHeader(name, value) {
      headers[name.toLowerCase()] = value;
    },
    getHeader(name) {
      return headers[name.toLowerCase()];
    },
    removeHeader(name) {
      delete headers[name.toLowerCase()];
    },
    hasHeader(name) {
      return name.toLowerCase() in headers;
    },
    end(chunk) {
      if (this.finished) return;
      this.finished = true;
      onEnd(this.statusCode, headers, chunk == null ? Buffer.alloc(0) : Buffer.from(chunk));
    }
  };
}

function toHttp(url) {
  return typeof url === "string" ? url.replace(/^https:\/\//i, "http://") : url;
}

// Corrections applied to every JSON response from the package.
function fixResponseBody(pathname, status, body, host) {
  if (!body || typeof body !== "object") return body;

  // Fix 3: the account document advertises https:// endpoints even without TLS. It also names the
  // address the client used rather than the one this server listens on, so a client that reaches the
  // server through a proxy (the shop's tests cut Cosmos away with one) keeps going through it.
  if (pathname === "/" && Array.isArray(body.writableLocations)) {
    for (const list of [body.writableLocations, body.readableLocations]) {
      for (const loc of list || []) {
        loc.databaseAccountEndpoint = host ? `http://${host}/` : toHttp(loc.databaseAccountEndpoint);
      }
    }
  }

  // Fix 1: partition key range ids are strings in Cosmos ("0"), not numbers.
  if (Array.isArray(body.PartitionKeyRanges)) {
    for (const range of body.PartitionKeyRanges) {
      if (typeof range.id === "number") range.id = String(range.id);
      if (Array.isArray(range.parents)) range.parents = range.parents.map(String);
    }
  }

  // Error bodies in the Cosmos shape: {"code": ..., "message": ...}.
  if (status >= 400 && !body.code) {
    body.code = ERROR_CODES[status] || "Error";
    if (!body.message) {
      body.message =
        status === 404 ? notFoundBody().message : `Request failed with status ${status} (${body.code}).`;
    }
  }
  return body;
}

function logLine(req, extra, status, started) {
  const h = req.headers;
  const bits = [
    req.method,
    req.url,
    status,
    `${Date.now() - started}ms`,
    h["x-ms-documentdb-partitionkey"] ? `pk=${h["x-ms-documentdb-partitionkey"]}` : "",
    h["x-ms-documentdb-partitionkeyrangeid"] ? `pkrange=${h["x-ms-documentdb-partitionkeyrangeid"]}` : "",
    h["if-match"] ? `if-match=${h["if-match"]}` : "",
    extra
  ];
  process.stderr.write(`cosmos-local: ${bits.filter(Boolean).join(" ")}\n`);
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

// A duplex stream over `socket` whose readable side starts with `head`.
function replayingStream(socket, head) {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    }
  });
  stream.remoteAddress = socket.remoteAddress;
  stream.remotePort = socket.remotePort;
  stream.remoteFamily = socket.remoteFamily;
  stream.push(head);
  socket.on("data", chunk => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  return stream;
}

// COSMOS_LOCAL_THROUGHPUT: null (no limit) or a budget of document operations a second.
function throughputLimit(env) {
  if (!env.COSMOS_LOCAL_THROUGHPUT) return null;
  const rate = Number(env.COSMOS_LOCAL_THROUGHPUT);
  if (!Number.isInteger(rate) || rate < 1) {
    process.stderr.write(`cosmos-local: invalid COSMOS_LOCAL_THROUGHPUT (expected a whole number of operations a second)\n`);
    process.exit(2);
  }
  // A budget of `rate` operations for each wall-clock second, as Cosmos DB budgets request units per
  // second: once spent, the answer asks the client to wait until the next second begins.
  const bucket = { rate, second: 0, spent: 0, throttled: 0 };
  // Milliseconds until the next operation may run: 0 (and the operation counted) when it may run now.
  bucket.wait = () => {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== bucket.second) {
      bucket.second = second;
      bucket.spent = 0;
    }
    if (bucket.spent < rate) {
      bucket.spent += 1;
      return 0;
    }
    bucket.throttled += 1;
    return (second + 1) * 1000 - now;
  };
  return bucket;
}

// COSMOS_LOCAL_DATA: the journal of acknowledged writes, or null. Conditions (if-match) are left
// out: each write was accepted once, so in order they rebuild the same items (with new etags).
function openJournal(file) {
  if (!file) return null;
  const journal = {
    file,
    record(req, headers, body) {
      const kept = {};
      for (const [name, value] of Object.entries(headers)) {
        if (name !== "if-match" && name !== "if-none-match" && name !== "content-length") kept[name] = value;
      }
      const entry = { method: req.method, url: req.url, headers: kept, body: body.toString("base64") };
      fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
    },
    // The entries, oldest first (a last line cut short by a kill is skipped: it was never answered).
    entries() {
      if (!fs.existsSync(file)) return [];
      return fs.readFileSync(file, "utf8").split("\n").flatMap(line => {
        try {
          return line ? [JSON.parse(line)] : [];
        } catch (err) {
          return [];
        }
      });
    }
  };
  return journal;
}

function isWrite(req) {
  return ["POST", "PUT", "PATCH", "DELETE"].includes(req.method) && !isQueryRequest(req);
}

function createServer(limit = throughputLimit(process.env), journal = openJournal(process.env.COSMOS_LOCAL_DATA)) {
  // The package's own server is used only for its request handler and for the
  // account object it builds when it "listens" (see below); connections are
  // accepted by `front` and served by `http1` or `http2` here.
  const pkgServer = createHttpServer({ keepAlive: true });
  const [packageHandler] = pkgServer.listeners("request");
  pkgServer.removeAllListeners("request");
  const log = Boolean(process.env.COSMOS_LOCAL_LOG);
  // Requests wait while the journal is replayed (the port is open by then; the data is not).
  let restored = Promise.resolve(0);

  const handle = async (req, res) => {
    await restored;
    const started = Date.now();
    const isH2 = req.httpVersionMajor === 2;
    let note = isH2 ? "h2" : "h1";
    const send = (status, headers, payload) => {
      res.statusCode = status;
      for (const [name, value] of Object.entries(headers)) {
        if (name === "connection" || name === "content-length" || name === "transfer-encoding") continue;
        res.setHeader(name, value);
      }
      if (!isH2) res.setHeader("connection", "keep-alive");
      if (status === 204 || status === 304) {
        res.end();
      } else {
        res.setHeader("content-length", payload.length);
        res.end(payload);
      }
      if (log) logLine(req, note, status, started);
    };

    try {
      const rawBody = await readBody(req);
      const headers = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (!name.startsWith(":")) headers[name] = value;
      }
      // HTTP/2 carries the host in :authority; the package builds
      // content-location from the Host header.
      if (!headers.host) headers.host = req.headers[":authority"] || req.headers.host;
      let body = rawBody;
      const pathname = (req.url || "/").split("?")[0].replace(/^\/\/+/, "/").replace(/(.)\/+$/, "$1");

      const wait = limit && /\/docs(\/|$)/.test(pathname) ? limit.wait() : 0;
      if (wait > 0) {
        note += " throttled";
        const payload = Buffer.from(JSON.stringify({
          code: "TooManyRequests",
          message: "Request rate is large. More Request Units may be needed, so no changes were made.",
        }));
        send(429, {
          "content-type": "application/json",
          "x-ms-retry-after-ms": String(wait),
          "x-ms-substatus": "3200",
          "x-ms-request-charge": "0",
        }, payload);
        return;
      }

      if (isQueryRequest(req)) {
        // Fix 4 (plan half): answer gateway query-plan requests ourselves.
        if (isTrue(headers["x-ms-cosmos-is-query-plan-request"])) {
          note += " query-plan";
          const payload = Buffer.from(JSON.stringify(trivialQueryPlan()));
          send(200, { "content-type": "application/json", "x-ms-request-charge": "0" }, payload);
          return;
        }
        let spec = null;
        try {
          spec = JSON.parse(rawBody.toString("utf8") || "null");
        } catch (err) {
          spec = null;
        }
        const partition = parsePartitionHeader(headers["x-ms-documentdb-partitionkey"]);
        if (spec && typeof spec === "object" && /\/docs$/.test(pathname)) {
          if (partition) {
            // Fix 4: partition-scoped query. Run it over that partition only,
            // without demanding a partition filter in the query text.
            spec[PARTITION_FILTER] = partition;
            note += ` query-in-partition ${JSON.stringify(spec.query)}`;
          } else {
            // A query for a partition key range (the SDK's fan-out) or the
            // whole container: there is only one range, holding every document.
            note += ` query ${JSON.stringify(spec.query)}`;
          }
          headers["x-ms-documentdb-query-enablecrosspartition"] = "True";
          body = Buffer.from(JSON.stringify(spec));
        }
      }
      headers["content-length"] = String(body.length);

      const fakeReq = fakeRequest(req, headers, body);
      const fakeRes = captureResponse((status, outHeaders, payload) => {
        let out = payload;
        if (String(outHeaders["content-type"] || "").includes("json") && payload.length) {
          try {
            const parsed = JSON.parse(payload.toString("utf8"));
            out = Buffer.from(JSON.stringify(fixResponseBody(pathname, status, parsed, headers.host)));
          } catch (err) {
            out = payload;
          }
        }
        // Fix 3: content-location also named https://.
        if (outHeaders["content-location"]) {
          outHeaders["content-location"] = toHttp(outHeaders["content-location"]);
        }
        if (journal && status >= 200 && status < 300 && isWrite(req)) journal.record(req, headers, body);
        send(status, outHeaders, out);
      });
      packageHandler(fakeReq, fakeRes);
    } catch (err) {
      process.stderr.write(`cosmos-local: ${err && err.stack ? err.stack : err}\n`);
      if (!res.headersSent) {
        const payload = Buffer.from(JSON.stringify({ code: "InternalServerError", message: String(err.message || err) }));
        send(500, { "content-type": "application/json" }, payload);
      } else {
        res.destroy();
      }
    }
  };

  // HTTP/1.1 with keep-alive. Idle connections stay open longer than the
  // client's pool keeps them (reqwest: 90 s), so the client never reuses a
  // socket the server has just closed.
  const http1 = http.createServer(handle);
  http1.keepAliveTimeout = 120 * 1000;
  http1.headersTimeout = 125 * 1000;

  // HTTP/2 over cleartext with prior knowledge (h2c), which is what the Rust
  // SDK speaks first; one connection carries every request.
  const h2 = http2.createServer({}, handle);

  const sockets = new Set();
  const front = net.createServer(socket => {
    sockets.add(socket);
    // Small request/response exchanges: don't let Nagle's algorithm hold
    // writes back (it added ~40 ms per HTTP/2 response).
    socket.setNoDelay(true);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let seen = Buffer.alloc(0);
    const onData = chunk => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, HTTP2_PREFACE.length);
      const maybeH2 = seen.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (maybeH2 && seen.length < HTTP2_PREFACE.length) return; // need more bytes
      socket.removeListener("data", onData);
      if (log) {
        process.stderr.write(
          `cosmos-local: connection from ${socket.remoteAddress}:${socket.remotePort} (${maybeH2 ? "HTTP/2" : "HTTP/1.x"})\n`
        );
      }
      if (maybeH2) {
        // Node's HTTP/2 session reads the socket's handle directly and would
        // miss the bytes read here, so it gets a stream that replays them.
        h2.emit("connection", replayingStream(socket, seen));
      } else {
        socket.pause();
        socket.unshift(seen);
        http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });

  front.on("listening", () => {
    // Let the package build its account object (it names the host and port in
    // the account document) as if its own server had started listening.
    pkgServer.address = () => front.address();
    pkgServer.emit("listening");
  });
  // Replays the journal into the fresh account (call once listening, before announcing it).
  front.restore = () => {
    restored = replay();
    return restored;
  };
  const replay = async () => {
    if (!journal) return 0;
    const entries = journal.entries();
    const host = `127.0.0.1:${front.address().port}`;
    for (const entry of entries) {
      const headers = { ...entry.headers, host };
      const body = Buffer.from(entry.body, "base64");
      headers["content-length"] = String(body.length);
      const req = { method: entry.method, url: entry.url, httpVersion: "1.1", socket: { remoteAddress: "127.0.0.1" } };
      await new Promise(resolve => packageHandler(fakeRequest(req, headers, body), captureResponse(resolve)));
    }
    return entries.length;
  };
  front.throttled = () => (limit ? limit.throttled : 0);
  front.closeAllConnections = () => {
    for (const socket of sockets) socket.destroy();
  };
  return front;
}

function parsePort(argv, env) {
  let port = env.COSMOS_LOCAL_PORT ? Number(env.COSMOS_LOCAL_PORT) : 8081;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--port" || argv[i] === "-p") port = Number(argv[i + 1]);
    else if (argv[i].startsWith("--port=")) port = Number(argv[i].slice("--port=".length));
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`cosmos-local: invalid port\n`);
    process.exit(2);
  }
  return port;
}

// The address to listen on: 127.0.0.1 unless --host or COSMOS_LOCAL_HOST names another
// (an IP address, IPv6 without brackets, or a host name that resolves locally).
function parseHost(argv, env) {
  let host = env.COSMOS_LOCAL_HOST ? env.COSMOS_LOCAL_HOST : "127.0.0.1";
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--host") host = argv[i + 1];
    else if (argv[i].startsWith("--host=")) host = argv[i].slice("--host=".length);
  }
  host = typeof host === "string" ? host.trim().replace(/^\[(.*)\]$/, "$1") : "";
  if (!host || /[\s/]/.test(host)) {
    process.stderr.write(`cosmos-local: invalid host (expected an address such as 127.0.0.1 or 0.0.0.0)\n`);
    process.exit(2);
  }
  return host;
}

// "http://ADDR:PORT/" for an address the server listens on (IPv6 in brackets).
function listeningUrl(address) {
  const host = net.isIPv6(address.address) ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}/`;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const port = parsePort(argv, process.env);
  const host = parseHost(argv, process.env);
  const server = createServer();
  server.on("error", err => {
    process.stderr.write(`cosmos-local: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, host, async () => {
    const restored = await server.restore();
    if (restored) process.stderr.write(`cosmos-local: ${restored} writes replayed from ${process.env.COSMOS_LOCAL_DATA}\n`);
    // scripts/lib.sh waits for exactly "listening on http://127.0.0.1:PORT/" (the default host)
    process.stdout.write(`cosmos-local listening on ${listeningUrl(server.address())}\n`);
  });
  const stop = () => {
    if (process.env.COSMOS_LOCAL_THROUGHPUT) {
      process.stderr.write(`cosmos-local: ${server.throttled()} requests throttled (429)\n`);
    }
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

module.exports = { createServer };
