// What the browser tests stand on: the real push-broker and pushctl binaries,
// Debian's Chromium through playwright-core, a TCP proxy that can kill
// connections and records what the browser sends, and static pages served
// from other origins. Everything listens on 127.0.0.1.
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import net from "node:net";
import http from "node:http";
import { chromium } from "playwright-core";

const run = promisify(execFile);
export const PUSH_BROKER = process.env.PUSH_BROKER ?? "build/push-broker";
export const PUSHCTL = process.env.PUSHCTL ?? "build/pushctl";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Starts push-broker on free ports; resolves once it printed its ports.
export async function startBroker(extraArgs = []) {
  const proc = spawn(PUSH_BROKER, ["--bind_address=127.0.0.1", "--grpc_port=0", "--http_port=0",
    "--admin_port=0", "--retry_ms=500", "--heartbeat_ms=1000", "--drain_spread=0s", ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start:\n${log}`)), 15000);
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /"grpc_port":(\d+),"http_port":(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve({ grpc: Number(m[1]), http: Number(m[2]) }); }
    });
    proc.on("exit", (code) => reject(new Error(`broker exited with ${code}:\n${log}`)));
  });
  return {
    ...ports,
    url: `http://127.0.0.1:${ports.http}`,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.on("exit", r));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

// Runs pushctl against the broker and returns its JSON answer.
export async function pushctl(broker, ...args) {
  const { stdout } = await run(PUSHCTL, [`--target=127.0.0.1:${broker.grpc}`, ...args]);
  return JSON.parse(stdout);
}

export function publish(broker, clientId, data, event = "") {
  const args = ["publish", `--client_id=${clientId}`];
  if (event) args.push(`--event=${event}`);
  return pushctl(broker, ...args, "--", data);
}

// A TCP proxy in front of the broker's HTTP port. `requests` holds the head of
// every request that passed; killAll() destroys every open connection, as a
// network failure would.
export async function startProxy(targetPort) {
  const sockets = new Set();
  const requests = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    // Every request head on the connection (keep-alive carries several);
    // the tests send only bodiless GETs through it.
    let pending = "";
    client.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      let end;
      while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
        requests.push(pending.slice(0, end));
        pending = pending.slice(end + 4);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    killAll() { for (const s of sockets) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy(); sockets.clear(); },
    close() { this.killAll(); return new Promise((r) => server.close(r)); },
  };
}

// Serves `html` at / from a new origin (a port of its own).
export async function serveOrigin(html) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
}

// Waits until `predicate(window.pushDemo)` holds in the page.
export async function until(page, predicate, arg, timeout = 10000) {
  await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
}

export const demo = (page) => page.evaluate(() => window.pushDemo);

// Starts the vote example's backend against `broker`; stop() kills it as a
// crash would (SIGKILL), so a restart shows what a crash loses.
export function startVoteBackend(broker) {
  const binary = process.env.VOTE_BACKEND ?? "build/vote-backend";
  const proc = spawn(binary, [`--target=127.0.0.1:${broker.grpc}`, "--choices=red,blue"],
    { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (chunk) => { log += chunk; });
  proc.stderr.on("data", (chunk) => { log += chunk; });
  return {
    log: () => log,
    // Resolves once its Watch is open (pages coming online are heard).
    async watching(timeout = 20000) {
      const deadline = Date.now() + timeout;
      while (!log.includes("watching as a member")) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`vote-backend:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.on("exit", r));
      proc.kill("SIGKILL");
      await exited;
    },
  };
}
