// Drives Debian's chromium through the eddy dashboard, for
// tests/tests/dashboard.rs: refused without the token, logs in, finds the
// job and its graph, sees its counts move, takes a savepoint and swaps a
// function from the page, and checks that a change without the CSRF
// token is refused. Screenshots go to $EDDY_SHOTS; what the Rust side
// checks goes to stdout as one JSON line.
//
//   EDDY_URL=http://127.0.0.1:PORT EDDY_TOKEN=... EDDY_JOB_ID=... \
//   EDDY_SWAP_OPERATOR=counter EDDY_SWAP_MODULE=/path/v2.wasm EDDY_SHOTS=dir \
//   node drive.mjs
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("EDDY_URL");
const token = env("EDDY_TOKEN");
const jobId = env("EDDY_JOB_ID");
const shots = env("EDDY_SHOTS");
fs.mkdirSync(shots, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(shots, name), fullPage: true });

const browser = await chromium.launch({
  executablePath: process.env.EDDY_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("dialog", (dialog) => dialog.accept());

  // Without the token: refused, and the login form shown.
  const refused = await page.goto(url);
  assert.equal(refused.status(), 401, "an unauthenticated page load is refused");
  assert.equal(await page.locator("#job-list").count(), 0, "no jobs are shown before logging in");
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await page.waitForSelector("#login-error:has-text('not this server')");
  await shot(page, "login-refused.png");

  // Log in with the token.
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  const row = page.locator(`#job-list tr[data-job-id="${jobId}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /running/);
  await row.click();

  // Its graph: a node per source, operator and sink, edges between them.
  await page.locator(`#graph g.node[data-node="${env("EDDY_SWAP_OPERATOR")}"]`).waitFor();
  result.graph_nodes = await page.locator("#graph g.node").count();
  result.graph_edges = await page.locator("#graph path.edge").count();
  result.edge_labels = await page.locator("#graph text.edge-label").evaluateAll((labels) => labels.map((l) => l.textContent));

  // The counts move between two screenshots.
  const count = async () => Number(await page.locator('#nodes tr[data-node="events"] .records-out').innerText());
  await page.waitForFunction(() => {
    const cell = document.querySelector('#nodes tr[data-node="events"] .records-out');
    return cell && Number(cell.textContent) > 0;
  });
  const first = await count();
  await shot(page, "dashboard-1.png");
  await page.waitForFunction((before) => {
    const cell = document.querySelector('#nodes tr[data-node="events"] .records-out');
    return cell && Number(cell.textContent) > before;
  }, first, { timeout: 20000 });
  const second = await count();
  await shot(page, "dashboard-2.png");
  result.counts = [first, second];

  // A savepoint from the page.
  await page.click("#savepoint");
  const saved = page.locator("#action-result:has-text('savepoint '):has-text('complete')");
  await saved.waitFor({ timeout: 60000 });
  result.savepoint = await saved.innerText();

  // A swap from the page: the new module uploaded, the operator swapped.
  await page.selectOption("#swap-operator", env("EDDY_SWAP_OPERATOR"));
  await page.setInputFiles("#swap-module", env("EDDY_SWAP_MODULE"));
  await page.click("#swap");
  const swapped = page.locator("#action-result:has-text('runs module')");
  await swapped.waitFor({ timeout: 60000 });
  result.swap = await swapped.innerText();
  await page.waitForFunction(() => [...document.querySelectorAll("#functions tr td:last-child")].some((td) => td.textContent === "1"));
  await page.locator("#checkpoints tr").first().waitFor();
  await shot(page, "dashboard-after-swap.png");

  // A change without the CSRF token, from the logged-in page: refused.
  result.without_csrf = await page.evaluate(async (id) => {
    const response = await fetch(`/v1/jobs/${id}/cancel`, { method: "POST" });
    return response.status;
  }, jobId);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
