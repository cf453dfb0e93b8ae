// The README's screenshot of the dashboard: log in to a running
// `eddy serve` and save the page of its first job.
//
//   node tests/dashboard/screenshot.mjs http://127.0.0.1:8081 "$(cat eddy-server/token)" docs/dashboard.png
import { chromium } from "playwright-core";

const [url, token, out] = process.argv.slice(2);
if (!out) throw new Error("usage: screenshot.mjs URL TOKEN OUT.png");
const browser = await chromium.launch({
  executablePath: process.env.EDDY_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${url}/?token=${encodeURIComponent(token)}`);
  await page.locator("#graph g.node").first().waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
}
