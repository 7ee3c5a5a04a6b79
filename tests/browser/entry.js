// The test page's script: Uppy with @uppy/aws-s3 pointed at a stowage upload session, exactly as
// a web application would use it (only the endpoint option differs between 5.x and 6.x). Bundled
// once per major version by esbuild (tests/browser/run.mjs) from that version's node_modules.
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'
import awsS3Package from '@uppy/aws-s3/package.json'

const MB = 1024 * 1024

/** Deterministic bytes: byte i of file `seed` is (i * 31 + seed) mod 256 (run.mjs hashes the same). */
export function bytes(size, seed) {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 255
  return out
}

window.uppyVersion = awsS3Package.version

/**
 * Uploads the files described by `specs` ([{name, size, seed, type}]) through `endpoint` and
 * resolves with what Uppy reported: its `upload-success` events and the result of `upload()`.
 */
window.uploadFiles = async ({ endpoint, specs, multipartAbove }) => {
  const major = Number(awsS3Package.version.split('.')[0])
  const uppy = new Uppy({ autoProceed: false })
  const shouldUseMultipart = (file) => file.size > multipartAbove * MB
  uppy.use(AwsS3, major >= 6 ? { companionEndpoint: endpoint, shouldUseMultipart } : { endpoint, shouldUseMultipart })
  const successes = []
  const errors = []
  uppy.on('upload-success', (file, response) => successes.push({ name: file.name, response: JSON.parse(JSON.stringify(response)) }))
  uppy.on('upload-error', (file, error) => errors.push({ name: file?.name, message: String(error?.message ?? error) }))
  for (const spec of specs) {
    uppy.addFile({ name: spec.name, type: spec.type, data: new File([bytes(spec.size, spec.seed)], spec.name, { type: spec.type }) })
  }
  const result = await uppy.upload()
  return { version: awsS3Package.version, successes, errors, failed: (result?.failed ?? []).length }
}
