// push-broker in a real browser: Debian's headless Chromium runs the demo
// page's EventSource (and its long-poll fallback) against the real broker,
// and messages are published over gRPC with pushctl.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  startBroker, startProxy, serveOrigin, launchChromium, publish, pushctl, until, demo,
  startVoteBackend,
} from "./harness.mjs";

const ARTIFACT_DIR = process.env.ARTIFACT_DIR ?? "build/test-artifacts";
let browser;

before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

// A fresh browser profile and page per test.
async function openPage(url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(url);
  return { page, close: () => context.close() };
}

const dataOf = (state) => state.events.map((e) => e.data);

test("the page receives a message published over gRPC", { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const { page, close } = await openPage(`${broker.url}/?client_id=alice&autoconnect=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    const published = await publish(broker, "alice", "hello browser");
    await until(page, () => window.pushDemo.events.length === 1);
    const state = await demo(page);
    assert.equal(state.events[0].data, "hello browser");
    assert.equal(state.events[0].type, "message");
    assert.equal(state.events[0].id, published.id);
    assert.equal(published.streams, 1);
  } finally {
    await close();
    await broker.stop();
  }
});

test("event types, multi-line data and UTF-8 arrive intact", { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const { page, close } = await openPage(`${broker.url}/?client_id=bob&events=greet,order&autoconnect=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    await publish(broker, "bob", "line one\nline two\r\nline three\rline four", "greet");
    await publish(broker, "bob", "你好，世界 🎉🚀 naïve", "order");
    await publish(broker, "bob", "plain");
    await until(page, () => window.pushDemo.events.length === 3);
    const state = await demo(page);
    assert.deepEqual(state.events.map((e) => e.type), ["greet", "order", "message"]);
    assert.deepEqual(dataOf(state), ["line one\nline two\nline three\nline four", "你好，世界 🎉🚀 naïve", "plain"]);

    fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
    await publish(broker, "bob", JSON.stringify({ order: 1042, status: "shipped" }), "order");
    await until(page, () => window.pushDemo.events.length === 4);
    await page.screenshot({ path: path.join(ARTIFACT_DIR, "demo-page.png") });
    assert.ok(fs.statSync(path.join(ARTIFACT_DIR, "demo-page.png")).size > 10000);
  } finally {
    await close();
    await broker.stop();
  }
});

test("after Disconnect the browser reconnects with Last-Event-ID and misses nothing", { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const proxy = await startProxy(broker.http);
  const { page, close } = await openPage(`${proxy.url}/?client_id=carol&autoconnect=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    await publish(broker, "carol", "m1");
    const second = await publish(broker, "carol", "m2");
    await until(page, () => window.pushDemo.events.length === 2);

    const disconnected = await pushctl(broker, "disconnect", "carol", "--retry_ms=1500");
    assert.equal(disconnected.streams, 1);
    await publish(broker, "carol", "m3");  // while the browser waits out its retry
    await publish(broker, "carol", "m4");
    await until(page, () => window.pushDemo.opens === 2 && window.pushDemo.events.length === 4);
    await publish(broker, "carol", "m5");  // live again
    await until(page, () => window.pushDemo.events.length === 5);

    const state = await demo(page);
    assert.deepEqual(dataOf(state), ["m1", "m2", "m3", "m4", "m5"]);
    assert.equal(new Set(state.events.map((e) => e.id)).size, 5);
    const reconnect = proxy.requests.filter((r) => r.startsWith("GET /v1/events"))[1];
    assert.match(reconnect, new RegExp(`\\r\\nlast-event-id: ${second.id}`, "i"));
  } finally {
    await close();
    await proxy.close();
    await broker.stop();
  }
});

test("after a killed connection the browser reconnects by itself and misses nothing", { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const proxy = await startProxy(broker.http);
  const { page, close } = await openPage(`${proxy.url}/?client_id=dave&autoconnect=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    const first = await publish(broker, "dave", "before the cut");
    await until(page, () => window.pushDemo.events.length === 1);
    proxy.killAll();
    await until(page, () => window.pushDemo.errors >= 1);
    await publish(broker, "dave", "during the cut 1");
    await publish(broker, "dave", "during the cut 2");
    await until(page, () => window.pushDemo.events.length === 3 && window.pushDemo.state === "open");
    const state = await demo(page);
    assert.deepEqual(dataOf(state), ["before the cut", "during the cut 1", "during the cut 2"]);
    const reconnect = proxy.requests.filter((r) => r.startsWith("GET /v1/events"))[1];
    assert.match(reconnect, new RegExp(`\\r\\nlast-event-id: ${first.id}`, "i"));
  } finally {
    await close();
    await proxy.close();
    await broker.stop();
  }
});

test("a reset reaches the page when replay is impossible", { timeout: 60000 }, async () => {
  const broker = await startBroker(["--mailbox_max_messages=3"]);
  try {
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push((await publish(broker, "erin", `m${i}`)).id);
    const { page, close } = await openPage(
      `${broker.url}/?client_id=erin&autoconnect=1&last_event_id=${encodeURIComponent(ids[0])}`);
    try {
      await until(page, () => window.pushDemo.events.length === 3);
      const state = await demo(page);
      assert.equal(state.resets.length, 1);
      assert.equal(state.resets[0].reason, "messages_evicted");
      assert.equal(state.resets[0].earliest_id, ids[2]);
      assert.deepEqual(dataOf(state), ["m3", "m4", "m5"]);
      assert.equal(await page.locator("tr.reset").count(), 1);
    } finally {
      await close();
    }
  } finally {
    await broker.stop();
  }
});

test("CORS: an allowed origin connects and another is refused", { timeout: 60000 }, async () => {
  // The demo page itself, served from two other origins.
  const pageHtml = fs.readFileSync(new URL("../../web/index.html", import.meta.url), "utf8");
  const allowedSite = await serveOrigin(pageHtml);
  const otherSite = await serveOrigin(pageHtml);
  const broker = await startBroker([`--cors_origins=${allowedSite.url}`]);
  const allowed = await openPage(`${allowedSite.url}/?client_id=frank&autoconnect=1&broker=${broker.url}`);
  const refused = await openPage(`${otherSite.url}/?client_id=grace&autoconnect=1&broker=${broker.url}`);
  try {
    await until(allowed.page, () => window.pushDemo.state === "open");
    await publish(broker, "frank", "across origins");
    await until(allowed.page, () => window.pushDemo.events.length === 1);
    assert.equal((await demo(allowed.page)).events[0].data, "across origins");

    await until(refused.page, () => window.pushDemo.state === "closed" && window.pushDemo.errors >= 1);
    await publish(broker, "grace", "never seen");
    await new Promise((r) => setTimeout(r, 500));
    const state = await demo(refused.page);
    assert.equal(state.opens, 0);
    assert.equal(state.events.length, 0);
  } finally {
    await allowed.close();
    await refused.close();
    await allowedSite.close();
    await otherSite.close();
    await broker.stop();
  }
});

test("the long-poll fallback loses nothing across forced errors", { timeout: 90000 }, async () => {
  const broker = await startBroker();
  const proxy = await startProxy(broker.http);
  const { page, close } = await openPage(`${proxy.url}/?client_id=heidi&mode=poll&autoconnect=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    const expected = [];
    for (let i = 1; i <= 3; i++) {
      expected.push(`p${i}`);
      await publish(broker, "heidi", `p${i}`);
    }
    await until(page, () => window.pushDemo.events.length === 3);
    for (let round = 0; round < 3; round++) {
      // Chromium quietly retries a GET once when a reused connection is reset
      // before any answer, so keep cutting until the page itself sees a failure.
      const deadline = Date.now() + 10000;
      while ((await demo(page)).errors < round + 1 && Date.now() < deadline) {
        proxy.killAll();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok((await demo(page)).errors >= round + 1, "the page never saw a failed poll");
      for (let i = 0; i < 3; i++) {
        const data = `q${round}-${i}`;
        expected.push(data);
        await publish(broker, "heidi", data);
      }
    }
    await until(page, (n) => window.pushDemo.events.length === n, expected.length, 20000);
    await new Promise((r) => setTimeout(r, 300));
    const state = await demo(page);
    assert.deepEqual(dataOf(state), expected);
    assert.equal(new Set(state.events.map((e) => e.id)).size, expected.length);
    assert.ok(state.errors >= 3);
    assert.equal(state.mode, "poll");
  } finally {
    await close();
    await proxy.close();
    await broker.stop();
  }
});

test("the demo page acknowledges messages and sends one up; the publisher sees the receipt", { timeout: 60000 }, async () => {
  const broker = await startBroker();
  const { page, close } = await openPage(`${broker.url}/?client_id=alice&autoconnect=1&ack=1`);
  try {
    await until(page, () => window.pushDemo.state === "open");
    const receipt = await pushctl(broker, "publish", "--client_id=alice", "--wait_for=acked",
      "--wait_timeout=10s", "--", "please confirm");
    assert.equal(receipt.acked, 1);
    assert.equal(receipt.delivered, 1);
    await until(page, () => window.pushDemo.acked.length === 1);
    await page.fill("#send-data", "hello backend");
    await page.click("#send");
    await until(page, () => window.pushDemo.sent.length === 1);
    const state = await demo(page);
    assert.equal(state.sent[0].data, "hello backend");
    assert.match(state.sent[0].id, /^[0-9a-f]+-\d+$/);
  } finally {
    await close();
    await broker.stop();
  }
});

test("the vote example: two pages vote, both see one tally, a backend crash loses no vote", { timeout: 120000 }, async () => {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const broker = await startBroker([`--static_dir=${path.join(here, "../../examples/vote/web")}`]);
  let backend = startVoteBackend(broker);
  const pages = [];
  try {
    await backend.watching();
    for (const id of ["ann", "bob"]) {
      pages.push(await openPage(`${broker.url}/static/index.html?client_id=${id}`));
    }
    for (const { page } of pages) {
      await until(page, () => window.pushVote.tally !== null, undefined, 20000);
    }
    const vote = async (page, choice, times) => {
      for (let i = 0; i < times; i++) await page.click(`#vote-${choice}`);
    };
    await vote(pages[0].page, "red", 3);
    await vote(pages[1].page, "blue", 2);
    for (const { page } of pages) {
      await until(page, () => window.pushVote.tally.total === 5, undefined, 20000);
    }
    // The backend crashes; votes keep coming; a new backend counts them all once.
    await backend.kill();
    await vote(pages[0].page, "blue", 2);
    await vote(pages[1].page, "red", 1);
    backend = startVoteBackend(broker);
    const expected = { red: 4, blue: 4 };
    for (const [i, { page }] of pages.entries()) {
      await until(page, () => window.pushVote.tally.total === 8, undefined, 30000);
      const tally = await page.evaluate(() => window.pushVote.tally);
      assert.deepEqual(tally.counts, expected);
      assert.equal(await page.evaluate(() => window.pushVote.sent), [5, 3][i]);
    }
  } catch (error) {
    fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACT_DIR, "vote-backend.log"), backend.log());
    throw error;
  } finally {
    for (const { close } of pages) await close();
    await backend.kill();
    await broker.stop();
  }
});
