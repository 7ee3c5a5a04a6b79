"""The published Mixpeek Python SDK (PyPI `mixpeek`, pinned in xtask/src/clients.rs) against the
real `stowage` binary: every SDK method for a route stowage serves parses stowage's answer, and
the parsed values are the ones stowage means. `cargo xtask fuzz` runs this file against the
embedded default and against PostgreSQL + Garage (STOWAGE_URL, STOWAGE_KEY, STOWAGE_NAMESPACE).
"""

import hashlib
import os
import time
import urllib.request
import uuid

import mixpeek
import pytest
from mixpeek import models as m
from mixpeek.api.bucket_batches_api import BucketBatchesApi
from mixpeek.api.bucket_objects_api import BucketObjectsApi
from mixpeek.api.bucket_uploads_api import BucketUploadsApi
from mixpeek.api.buckets_api import BucketsApi
from mixpeek.api.tasks_api import TasksApi


@pytest.fixture(scope="module")
def client():
    config = mixpeek.Configuration(host=os.environ["STOWAGE_URL"], access_token=os.environ["STOWAGE_KEY"])
    api = mixpeek.ApiClient(config)
    api.set_default_header("X-Namespace", os.environ.get("STOWAGE_NAMESPACE", "default"))
    return api


@pytest.fixture(scope="module")
def bucket(client):
    name = f"sdk-{uuid.uuid4().hex[:12]}"
    created = BucketsApi(client).create_bucket(m.BucketCreateRequest(bucket_name=name, bucket_schema=m.BucketSchemaInput(properties={})))
    assert created.bucket_name == name
    return created.bucket_id


def put(upload, content: bytes, content_type: str):
    """PUTs the bytes as an SDK user would: the presigned URL and the upload's content type."""
    request = urllib.request.Request(
        upload.presigned_url, data=content, method="PUT", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def uploaded(client, bucket, content: bytes, filename="file.txt", content_type="text/plain"):
    uploads = BucketUploadsApi(client)
    upload = uploads.create_upload_buckets(
        bucket,
        m.CreateUploadRequest(filename=filename, content_type=content_type, file_size_bytes=len(content)),
    )
    assert upload.status == m.TaskStatusEnum.PENDING and upload.presigned_url
    put(upload, content, content_type)
    return upload


def test_buckets_are_created_read_and_listed(client, bucket):
    buckets = BucketsApi(client)
    got = buckets.get_bucket(bucket)
    assert got.bucket_id == bucket
    listed = buckets.list_buckets()
    assert bucket in [b.bucket_id for b in listed.results]
    assert listed.total_count == len(listed.results)
    assert listed.pagination is not None


def test_an_upload_is_created_put_confirmed_and_read(client, bucket):
    content = b"hello from the mixpeek sdk\n" * 20
    upload = uploaded(client, bucket, content)
    uploads = BucketUploadsApi(client)
    confirmed = uploads.confirm_upload_buckets(
        bucket, upload.upload_id, confirm_upload_request=m.ConfirmUploadRequest(file_size_bytes=len(content))
    )
    assert confirmed.status == m.TaskStatusEnum.COMPLETED
    assert confirmed.file_hash == hashlib.sha256(content).hexdigest()
    assert confirmed.object_id
    got = uploads.get_upload_buckets(bucket, upload.upload_id)  # the SDK declares a plain object
    assert (got["status"], got["object_id"], got["file_size_bytes"]) == ("COMPLETED", confirmed.object_id, len(content))


def test_uploads_are_listed_with_pagination_and_stats(client, bucket):
    contents = [f"listed {i}".encode() for i in range(3)]
    ids = {uploaded(client, bucket, c).upload_id for c in contents}
    listed = BucketUploadsApi(client).list_uploads_buckets(bucket, limit=100)
    assert ids <= {u.upload_id for u in listed.results}
    assert listed.stats.total_uploads == len(listed.results)
    assert listed.stats.uploads_by_status.get("PENDING", 0) >= 3
    assert listed.pagination.next_cursor is None


def test_an_upload_is_canceled(client, bucket):
    uploads = BucketUploadsApi(client)
    upload = uploads.create_upload_buckets(bucket, m.CreateUploadRequest(filename="x.txt", content_type="text/plain"))
    uploads.delete_upload_buckets(bucket, upload.upload_id)
    assert uploads.get_upload_buckets(bucket, upload.upload_id)["status"] == "CANCELED"


def test_uploads_are_created_and_confirmed_in_batches(client, bucket):
    uploads = BucketUploadsApi(client)
    created = uploads.create_uploads_batch_buckets(
        bucket,
        m.BatchUploadRequest(
            uploads=[m.CreateUploadRequest(filename=f"b{i}.txt", content_type="text/plain") for i in range(2)],
            shared_metadata={"batch": "yes"},
        ),
    )
    assert created.total == 2 and len(created.uploads) == 2
    for i, upload in enumerate(created.uploads):
        assert upload.metadata == {"batch": "yes"}
        put(upload, f"batched content {i}".encode(), "text/plain")
    queued = uploads.confirm_uploads_batch_buckets(
        bucket, m.BatchConfirmRequest(confirmations=[{"upload_id": u.upload_id} for u in created.uploads])
    )
    assert queued.confirmations_count == 2
    assert queued.task.task_type == m.TaskType.API_BUCKETS_UPLOADS_BATCH_CONFIRM
    task = wait(client, queued.task_id)
    assert task.status == m.TaskStatusEnum.COMPLETED
    assert len(task.outputs) == 2  # one result per confirmation, in request order
    for upload in created.uploads:
        assert uploads.get_upload_buckets(bucket, upload.upload_id)["status"] == "COMPLETED"


def wait(client, task_id):
    tasks = TasksApi(client)
    deadline = time.time() + 30
    while True:
        task = tasks.get_task(task_id)
        if task.status in (m.TaskStatusEnum.COMPLETED, m.TaskStatusEnum.FAILED, m.TaskStatusEnum.CANCELED):
            return task
        assert time.time() < deadline, task
        time.sleep(0.2)


def test_objects_are_read_listed_batched_and_deleted(client, bucket):
    content = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    upload = uploaded(client, bucket, content, filename="pic.png", content_type="image/png")
    confirmed = BucketUploadsApi(client).confirm_upload_buckets(bucket, upload.upload_id)
    objects = BucketObjectsApi(client)
    got = objects.get_object_buckets(bucket, confirmed.object_id)
    assert got.object_id == confirmed.object_id
    assert got.blobs[0].type == m.BucketSchemaFieldType.IMAGE
    listed = objects.list_objects_buckets(bucket)
    assert confirmed.object_id in [o.object_id for o in listed.results]
    assert listed.pagination is not None

    batches = BucketBatchesApi(client)
    batch = batches.create_batch_buckets_batches(bucket, m.CreateBatchRequest(object_ids=[confirmed.object_id]))
    assert batch.object_ids == [confirmed.object_id]
    assert batches.get_batch_buckets_batches(bucket, batch.batch_id).batch_id == batch.batch_id
    submitted = batches.submit_batch_buckets_batches(bucket, batch.batch_id)
    task = wait(client, submitted.task_id)
    assert task.status == m.TaskStatusEnum.COMPLETED
    listed_tasks = TasksApi(client).list_tasks()
    assert submitted.task_id in [t.task_id for t in listed_tasks.results]

    objects.delete_object_buckets(bucket, confirmed.object_id)
    with pytest.raises(mixpeek.exceptions.NotFoundException):
        objects.get_object_buckets(bucket, confirmed.object_id)


def test_a_task_is_killed(client, bucket):
    upload = uploaded(client, bucket, b"confirmed in the background")
    confirmed = BucketUploadsApi(client).confirm_upload_buckets(bucket, upload.upload_id, var_async=True)
    killed = TasksApi(client).kill_task(confirmed.task_id)
    assert killed is not None


def test_uploads_are_paged_with_the_sdks_parameters(client, bucket):
    uploads = BucketUploadsApi(client)
    pageable = uploads.create_upload_buckets  # a fresh bucket keeps the count exact
    name = f"sdk-pages-{uuid.uuid4().hex[:8]}"
    paged = BucketsApi(client).create_bucket(m.BucketCreateRequest(bucket_name=name, bucket_schema=m.BucketSchemaInput(properties={}))).bucket_id
    created = [pageable(paged, m.CreateUploadRequest(filename=f"p{i}.txt", content_type="text/plain")).upload_id for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        page = uploads.list_uploads_buckets(paged, page_size=2, next_cursor=cursor)
        assert len(page.results) <= 2
        seen += [u.upload_id for u in page.results]
        cursor = page.pagination.next_cursor
        if cursor is None:
            break
    assert seen == created  # oldest first, each once
    with pytest.raises(mixpeek.exceptions.ApiException) as refused:
        uploads.list_uploads_buckets(paged, offset=2)
    assert refused.value.status == 422


def test_namespaces_are_created_and_read(client):
    from mixpeek.api.namespaces_api import NamespacesApi

    namespaces = NamespacesApi(client)
    name = f"sdk-ns-{uuid.uuid4().hex[:8]}"
    made = namespaces.create_namespace(m.CreateNamespaceRequest(namespace_name=name, description="from the sdk"))
    assert made.namespace_name == name and made.namespace_id.startswith("ns_")
    got = namespaces.get_namespace(name)
    assert (got.namespace_id, got.description) == (made.namespace_id, "from the sdk")
