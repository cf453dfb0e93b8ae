// The failures of a job on the eddy dashboard, for tests/tests/dashboard.rs:
// logs in, opens job $EDDY_JOB_ID, and reports the failure list as the
// page shows it, and whether anything the failure's text holds was taken
// for markup. Screenshot to $EDDY_SHOTS/failures.png; one JSON line out.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const browser = await chromium.launch({
  executablePath: process.env.EDDY_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const alerts = [];
  page.on("dialog", (dialog) => { alerts.push(dialog.message()); dialog.dismiss(); });
  await page.goto(`${env("EDDY_URL")}/?token=${encodeURIComponent(env("EDDY_TOKEN"))}#/jobs/${env("EDDY_JOB_ID")}`);
  await page.locator("#failures li pre").first().waitFor();
  const result = {
    phase: await page.locator("#job-phase").innerText(),
    failures: await page.locator("#failures li pre").allInnerTexts(),
    injected: await page.evaluate(() => document.getElementById("injected") !== null),
    alerts,
  };
  await page.screenshot({ path: path.join(env("EDDY_SHOTS"), "failures.png"), fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
