"""Smoke test of a client generated from stowage's /openapi.json by openapi-python-client:
create a bucket, create an upload, PUT the bytes to the presigned URL, confirm, read the upload."""
import hashlib, os, sys, uuid
import httpx
sys.path.insert(0, sys.argv[1])
from stowage_client import AuthenticatedClient
from stowage_client.api.buckets import create_bucket
from stowage_client.api.bucket_uploads import create_upload, get_upload
from stowage_client.api.bucket_uploads import confirm_upload_v1_buckets_bucket_identifier_uploads_upload_id_confirm_post as confirm
from stowage_client.models import CreateBucketRequest, CreateUploadRequest, ConfirmUploadRequest

client = AuthenticatedClient(base_url=os.environ["STOWAGE_URL"], token=os.environ["STOWAGE_KEY"],
                             headers={"X-Namespace": os.environ.get("STOWAGE_NAMESPACE", "default")})
bucket = create_bucket.sync(client=client, body=CreateBucketRequest(bucket_name=f"gen-{uuid.uuid4().hex[:10]}"))
assert bucket.bucket_id.startswith("bkt_"), bucket
content = b"bytes sent by a generated client\n" * 8
upload = create_upload.sync(bucket.bucket_id, client=client, body=CreateUploadRequest(
    filename="generated.txt", content_type="text/plain", file_size_bytes=len(content)))
headers = upload.presigned_headers.to_dict() if upload.presigned_headers else {}
put = httpx.put(upload.presigned_url, content=content, headers=headers)
assert put.status_code == 200, put.text
done = confirm.sync(bucket.bucket_id, upload.upload_id, client=client, body=ConfirmUploadRequest(file_size_bytes=len(content)))
assert done.status.value == "COMPLETED", done
assert done.file_hash == hashlib.sha256(content).hexdigest(), done
got = get_upload.sync(bucket.bucket_id, upload.upload_id, client=client)
assert got.object_id == done.object_id, got
print("generated client: create, PUT, confirm, get: OK")
