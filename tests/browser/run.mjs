// The real-browser test of browser uploads (issue #17), run by `cargo xtask browser`: headless
// Debian chromium, driven by puppeteer-core, loads a page (served from another origin, so CORS is
// real) that bundles Uppy from npm — once with @uppy/aws-s3 5.x, once with 6.x — and uploads
// through a stowage upload session: a 1 MiB file (one request) and a 30 MiB file (multipart),
// on the embedded default and on PostgreSQL + Garage. It asserts Uppy's upload-success, each
// object's SHA-256 through stowage's API, and that a tab closed right after the upload request
// still ends with a COMPLETED upload. Every failure exits non-zero with what went wrong.
//
// Environment (set by xtask): STOWAGE_BIN, CHROMIUM, DATABASE_URL (an admin URL of PostgreSQL),
// STOWAGE_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY / _REGION, STOWAGE_BROWSER_S3_BUCKET,
// STOWAGE_BROWSER_OUT (where the screenshot and logs go).

import { spawn, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, 'runner', 'package.json'))
const esbuild = require('esbuild')
const puppeteer = require('puppeteer-core')

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run this through \`cargo xtask browser\``)
  return value
}
const MB = 1024 * 1024
const out = process.env.STOWAGE_BROWSER_OUT ?? join(tmpdir(), 'stowage-browser')
mkdirSync(out, { recursive: true })
const cleanups = []
const log = (...args) => console.error('browser-test:', ...args)
/** The environment a stowage process starts from: none of the caller's `STOWAGE__` settings. */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STOWAGE__')))

/** The bytes entry.js generates, and their SHA-256. */
function sha256Of(size, seed) {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 255
  return createHash('sha256').update(bytes).digest('hex')
}

async function bundles() {
  const result = {}
  for (const major of [5, 6]) {
    const built = await esbuild.build({
      entryPoints: [join(here, 'entry.js')],
      bundle: true,
      format: 'iife',
      write: false,
      nodePaths: [join(here, `uppy${major}`, 'node_modules')],
      logLevel: 'warning',
    })
    result[major] = built.outputFiles[0].text
  }
  return result
}

/** The test page, on an origin of its own. */
async function pageServer(bundle) {
  const page = readFileSync(join(here, 'page.html'))
  const server = createServer((req, res) => {
    const match = req.url.match(/^\/(5|6)\/(bundle\.js)?$/)
    if (!match) return res.writeHead(404).end()
    if (match[2]) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle[match[1]])
    res.writeHead(200, { 'content-type': 'text/html' }).end(page)
  })
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok))
  cleanups.push(() => server.close())
  return `http://127.0.0.1:${server.address().port}`
}

async function freePort() {
  const server = createServer()
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok))
  const { port } = server.address()
  await new Promise((ok) => server.close(ok))
  return port
}

async function until(what, check, seconds = 60) {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((ok) => setTimeout(ok, 250))
  }
}

/** Starts `stowage serve` with `vars`; resolves with its base URL once /healthz answers. */
async function stowage(name, vars, port) {
  const logFile = join(out, `stowage-${name}.log`)
  const child = spawn(env('STOWAGE_BIN'), ['serve'], { env: { ...baseEnv, ...vars }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = []
  child.stdout.on('data', (d) => lines.push(d.toString()))
  child.stderr.on('data', (d) => lines.push(d.toString()))
  cleanups.push(() => {
    child.kill('SIGTERM')
    writeFileSync(logFile, lines.join(''))
  })
  const url = `http://127.0.0.1:${port}`
  await until(`stowage (${name}) to answer; its log: ${logFile}`, async () => (await fetch(`${url}/healthz`)).ok)
  return url
}

function stowageCommand(vars, args) {
  return execFileSync(env('STOWAGE_BIN'), args, { env: { ...baseEnv, ...vars }, encoding: 'utf8' })
}

async function api(base, key, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = await response.json()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`)
  return json
}

/** The backends: the embedded default, and PostgreSQL + Garage. */
async function backends(pageOrigin) {
  const common = {
    STOWAGE__SERVER__HTTP_WORKERS: '2',
    STOWAGE__BROWSER__CORS_ALLOWED_ORIGINS: `["${pageOrigin}"]`,
    STOWAGE__WORKER__FINISHER_INTERVAL_SECS: '1',
    STOWAGE__WORKER__FINISHER_FIRST_CHECK_SECS: '1',
    STOWAGE__WORKER__FINISHER_MAX_DELAY_SECS: '2',
    STOWAGE__LOG__LEVEL: 'info',
  }
  const embedded = async () => {
    const port = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), 'stowage-browser-'))
    const vars = { ...common, STOWAGE__SERVER__BIND: `127.0.0.1:${port}`, STOWAGE__DATA_DIR: dataDir, STOWAGE__UI__ENABLED: 'true' }
    const base = await stowage('embedded', vars, port)
    const key = await until('the bootstrap admin key', async () => readFileSync(join(dataDir, 'admin.key'), 'utf8').trim())
    return { name: 'embedded', base, key }
  }
  const postgres = async () => {
    const port = await freePort()
    const database = `stowage_browser_${Date.now()}`
    const admin = env('DATABASE_URL')
    execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${database}`])
    const vars = {
      ...common,
      STOWAGE__SERVER__BIND: `127.0.0.1:${port}`,
      STOWAGE__DATA_DIR: mkdtempSync(join(tmpdir(), 'stowage-browser-pg-')),
      STOWAGE__DATABASE__URL: admin.replace(/\/[^/]*$/, `/${database}`),
      STOWAGE__STORAGE__ENDPOINT: env('STOWAGE_TEST_S3_ENDPOINT'),
      STOWAGE__STORAGE__REGION: env('STOWAGE_TEST_S3_REGION'),
      STOWAGE__STORAGE__BUCKET: env('STOWAGE_BROWSER_S3_BUCKET'),
      STOWAGE__STORAGE__FORCE_PATH_STYLE: 'true',
      STOWAGE__STORAGE__ACCESS_KEY_ID: env('STOWAGE_TEST_S3_ACCESS_KEY'),
      STOWAGE__STORAGE__SECRET_ACCESS_KEY: env('STOWAGE_TEST_S3_SECRET_KEY'),
    }
    stowageCommand(vars, ['migrate'])
    stowageCommand(vars, ['namespaces', 'create', 'browser'])
    const created = stowageCommand(vars, ['keys', 'create', '--namespace', 'browser', '--role', 'admin'])
    const key = created.match(/sk_\S+/)?.[0]
    if (!key) throw new Error(`no key in: ${created}`)
    // The S3 bucket's own CORS rules, as docs/browser.md tells operators to set them.
    stowageCommand(vars, ['storage-cors', pageOrigin])
    const base = await stowage('postgres-garage', vars, port)
    return { name: 'postgres+garage', base, key }
  }
  return [embedded, postgres]
}

/** Waits until every upload of `bucket` is COMPLETED and returns their SHA-256s. */
async function completedHashes(backend, bucket, count) {
  return until(`${count} COMPLETED uploads in ${bucket} on ${backend.name}`, async () => {
    const list = await api(backend.base, backend.key, 'POST', `/v1/buckets/${bucket}/uploads/list`, { limit: 100 })
    const uploads = list.results
    if (uploads.length !== count || !uploads.every((u) => u.status === 'COMPLETED')) return undefined
    return uploads.map((u) => u.file_hash).sort()
  }, 120)
}

/**
 * The upload page (`[ui] enabled`): connect with the key, drop two files with the same bytes on
 * the Dashboard, and wait until both rows say verified, the second a duplicate; then screenshot
 * it (docs/ui.png is that screenshot).
 */
async function uploadPage(browser, backend) {
  const bucket = (await api(backend.base, backend.key, 'POST', '/v1/buckets', { bucket_name: 'photos' })).bucket_id
  const dir = mkdtempSync(join(tmpdir(), 'stowage-ui-'))
  const content = Buffer.from('a holiday photo, as far as this test is concerned\n'.repeat(20000))
  const files = ['beach.jpg', 'beach-copy.jpg'].map((name) => {
    writeFileSync(join(dir, name), content)
    return join(dir, name)
  })
  const page = await browser.newPage()
  await page.setViewport({ width: 1200, height: 820 })
  page.on('console', (m) => log(`[upload page] console.${m.type()}: ${m.text()}`))
  await page.goto(`${backend.base}/ui/`)
  await page.type('#key', backend.key)
  await page.click('#connect')
  await page.waitForFunction((id) => [...document.querySelectorAll('#bucket option')].some((o) => o.value === id), {}, bucket)
  await page.select('#bucket', bucket)
  await page.waitForFunction(() => document.querySelector('#message').textContent.startsWith('uploading to'))
  const input = await page.waitForSelector('#drop input[type=file]')
  await input.uploadFile(files[0])
  await page.waitForFunction(() => document.querySelector('#uploads tr[data-status="COMPLETED"]'), { timeout: 60000 })
  await input.uploadFile(files[1])
  await page.waitForFunction(() => document.querySelectorAll('#uploads tr[data-status="COMPLETED"]').length === 2, { timeout: 60000 })
  const rows = await page.$$eval('#uploads tr', (trs) => trs.map((tr) => Object.fromEntries([...tr.children].map((td) => [td.dataset.col, td.textContent]))))
  const sha = createHash('sha256').update(content).digest('hex')
  assertEqual(rows.map((r) => [r.file, r.status, r.sha256]), [['beach.jpg', 'verified', sha], ['beach-copy.jpg', 'verified', sha]], 'the upload page\'s rows')
  assertEqual(rows.map((r) => r.duplicate.startsWith('yes')), [false, true], 'the upload page\'s duplicate column')
  if (!rows[0].object.startsWith('obj_')) throw new Error(`the upload page shows no object id: ${JSON.stringify(rows)}`)
  await page.screenshot({ path: join(out, 'ui.png') })
  log(`the upload page: two files verified, the second a duplicate; screenshot in ${join(out, 'ui.png')}`)
  await page.close()
}

function assertEqual(actual, expected, what) {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)]
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`)
}

async function main() {
  const bundle = await bundles()
  const pageOrigin = await pageServer(bundle)
  const browser = await puppeteer.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
  cleanups.push(() => browser.close())
  let checks = 0
  for (const start of await backends(pageOrigin)) {
    const backend = await start()
    if (backend.name === 'embedded') await uploadPage(browser, backend)
    for (const major of [5, 6]) {
      const label = `${backend.name}, @uppy/aws-s3 ${major}.x`
      const bucket = (await api(backend.base, backend.key, 'POST', '/v1/buckets', { bucket_name: `uppy${major}-${Date.now()}` })).bucket_id
      const session = await api(backend.base, backend.key, 'POST', `/v1/buckets/${bucket}/upload-sessions`, { metadata: { via: `uppy${major}` } })
      const page = await browser.newPage()
      page.on('console', (m) => log(`[${label}] console.${m.type()}: ${m.text()}`))
      await page.goto(`${pageOrigin}/${major}/`)
      const specs = [
        { name: 'small.bin', size: 1 * MB, seed: major, type: 'application/octet-stream' },
        { name: 'large.bin', size: 30 * MB, seed: major + 10, type: 'application/octet-stream' },
      ]
      const result = await page.evaluate((args) => window.uploadFiles(args), { endpoint: session.endpoint, specs, multipartAbove: 20 })
      assertEqual(result.version.split('.')[0], String(major), `${label}: the bundled version`)
      assertEqual(result.errors, [], `${label}: Uppy's upload-error events`)
      assertEqual(result.successes.map((s) => s.name).sort(), ['large.bin', 'small.bin'], `${label}: Uppy's upload-success events`)
      const hashes = await completedHashes(backend, bucket, 2)
      assertEqual(hashes, specs.map((s) => sha256Of(s.size, s.seed)).sort(), `${label}: the objects' SHA-256`)
      log(`${label}: 1 MiB + 30 MiB (multipart) uploaded, verified: ${hashes.join(', ')}`)
      if (backend.name === 'embedded' && major === 6) await page.screenshot({ path: join(out, 'uppy-test-page.png') })
      await page.close()
      checks += 1

      // A tab closed right after the upload request: nobody calls anything afterwards.
      const closing = await browser.newPage()
      await closing.goto(`${pageOrigin}/${major}/`)
      const sent = new Promise((resolve) => {
        closing.on('requestfinished', (request) => {
          if (request.method() === 'POST' && !request.url().includes('/u/')) closing.close().then(() => resolve(true))
        })
      })
      const orphan = { name: 'closed.bin', size: 1 * MB, seed: major + 20, type: 'application/octet-stream' }
      const bucket2 = (await api(backend.base, backend.key, 'POST', '/v1/buckets', { bucket_name: `closed${major}-${Date.now()}` })).bucket_id
      const session2 = await api(backend.base, backend.key, 'POST', `/v1/buckets/${bucket2}/upload-sessions`, {})
      closing.evaluate((args) => window.uploadFiles(args), { endpoint: session2.endpoint, specs: [orphan], multipartAbove: 20 }).catch(() => {})
      await until(`${label}: the upload request of the tab to close`, () => sent, 60)
      const closedHashes = await completedHashes(backend, bucket2, 1)
      assertEqual(closedHashes, [sha256Of(orphan.size, orphan.seed)], `${label}: the closed tab's upload`)
      log(`${label}: the tab closed after its upload request; the upload was finished by stowage`)
      checks += 1
    }
  }
  log(`passed: ${checks} checks (2 backends x 2 Uppy versions x [upload, closed tab]) and the upload page`)
}

let failed = false
try {
  await main()
} catch (e) {
  failed = true
  console.error(`browser-test: FAILED: ${e.stack ?? e}`)
}
for (const cleanup of cleanups.reverse()) {
  try {
    await cleanup()
  } catch {}
}
process.exit(failed ? 1 : 0)
