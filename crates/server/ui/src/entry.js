// The upload page (`[ui] enabled = true`, served at /ui/): pick a bucket with an API key, drop
// files on Uppy's Dashboard, watch each upload go from uploading to verified. It uses only the
// public API: the key lists buckets and mints an upload session; Uppy uploads through the
// session's Companion routes; the key then follows each upload until stowage has verified it.
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import AwsS3 from '@uppy/aws-s3'
import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'

const $ = (id) => document.getElementById(id)
const state = { key: sessionStorage.getItem('stowage-key') ?? '', uppy: null, bucket: null }

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = await response.json().catch(() => ({}))
  if (!response.ok) throw new Error(json?.error?.message ?? `${response.status}`)
  return json
}

function say(text) {
  $('message').textContent = text
}

function cell(row, name, text) {
  row.querySelector(`[data-col="${name}"]`).textContent = text ?? ''
}

function row(fileId, name) {
  let tr = document.getElementById(`row-${fileId}`)
  if (!tr) {
    tr = document.createElement('tr')
    tr.id = `row-${fileId}`
    tr.innerHTML = ['file', 'status', 'upload', 'object', 'sha256', 'duplicate'].map((c) => `<td data-col="${c}"></td>`).join('')
    $('uploads').appendChild(tr)
    cell(tr, 'file', name)
  }
  return tr
}

async function follow(tr, bucket, uploadId) {
  cell(tr, 'upload', uploadId)
  for (let i = 0; i < 600; i++) {
    const upload = await api('GET', `/v1/buckets/${bucket}/uploads/${uploadId}`).catch(() => null)
    if (upload && ['COMPLETED', 'FAILED', 'CANCELED'].includes(upload.status)) {
      cell(tr, 'status', upload.status === 'COMPLETED' ? 'verified' : upload.status.toLowerCase())
      cell(tr, 'object', upload.object_id)
      cell(tr, 'sha256', upload.file_hash)
      cell(tr, 'duplicate', upload.is_duplicate ? `yes, of ${upload.duplicate_of_upload_id ?? 'an earlier upload'}` : 'no')
      tr.dataset.status = upload.status
      return
    }
    cell(tr, 'status', 'verifying')
    await new Promise((ok) => setTimeout(ok, 1000))
  }
}

async function useBucket(bucket) {
  state.uppy?.destroy()
  const session = await api('POST', `/v1/buckets/${bucket}/upload-sessions`, { metadata: { via: 'stowage-ui' } })
  const uppy = new Uppy({ autoProceed: true })
    .use(Dashboard, { inline: true, target: '#drop', height: 300, width: '100%', proudlyDisplayPoweredByUppy: false })
    .use(AwsS3, { companionEndpoint: session.endpoint, shouldUseMultipart: (file) => file.size > 100 * 1024 * 1024 })
  uppy.on('file-added', (file) => cell(row(file.id, file.name), 'status', 'waiting'))
  uppy.on('upload-progress', (file, progress) => {
    const percent = progress.bytesTotal ? Math.floor((100 * progress.bytesUploaded) / progress.bytesTotal) : 0
    cell(row(file.id, file.name), 'status', `uploading ${percent}%`)
  })
  uppy.on('upload-success', (file, response) => {
    const uploadId = JSON.stringify(response).match(/upl_[A-Za-z0-9_-]{16}/)?.[0]
    const tr = row(file.id, file.name)
    if (uploadId) follow(tr, bucket, uploadId)
    else cell(tr, 'status', 'uploaded (no upload id in the answer)')
  })
  uppy.on('upload-error', (file, error) => cell(row(file.id, file.name), 'status', `failed: ${error?.message ?? error}`))
  state.uppy = uppy
  say(`uploading to ${bucket}; the session expires at ${session.expires_at}`)
}

async function connect() {
  state.key = $('key').value.trim()
  sessionStorage.setItem('stowage-key', state.key)
  try {
    const list = (await api('POST', '/v1/buckets/list', {})).results
    $('bucket').innerHTML = list.map((b) => `<option value="${b.bucket_id}">${b.bucket_name}</option>`).join('')
    if (list.length === 0) return say('this namespace has no bucket yet: create one with the API or `stowage buckets create NAME`')
    await useBucket($('bucket').value)
  } catch (e) {
    say(`cannot list buckets: ${e.message}`)
  }
}

$('key').value = state.key
$('connect').addEventListener('click', connect)
$('bucket').addEventListener('change', () => useBucket($('bucket').value).catch((e) => say(e.message)))
if (state.key) connect()
