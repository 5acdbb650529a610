// Waits until URL answers (any HTTP status), or fails after SECONDS.
//   node scripts/wait-http.mjs URL SECONDS
const [url, seconds = '30'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
for (;;) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    process.exit(0);
  } catch {
    if (Date.now() > deadline) {
      console.error(`${url} did not answer within ${seconds} s`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
