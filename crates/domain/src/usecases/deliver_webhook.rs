//! Delivering one webhook event (task `webhook_delivery`): sign the stored event with the
//! bucket's current secret and POST it. A 2xx ends the task; anything else is retried with the
//! queue's exponential backoff until the task's attempts run out. Every attempt sends the same
//! body and event id, so a receiver that answered 2xx to an earlier attempt whose answer was lost
//! recognises the repeat.

use super::Deps;
use crate::ports::WebhookSender;
use crate::status::TaskStatus;
use crate::task::{TaskFailure, TaskResult};
use crate::webhook::{DeliveryInput, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, sign};

/// Runs one delivery attempt through `sender`.
pub async fn deliver(deps: Deps<'_>, sender: &dyn WebhookSender, input: &DeliveryInput) -> TaskResult {
    let secret = match deps.tenancy.find_bucket(&input.namespace_id, input.bucket_id.as_str()).await {
        Ok(Some(bucket)) => match bucket.webhook_secret {
            Some(secret) => secret,
            None => return failed("webhook_not_configured", "the bucket no longer has a webhook"),
        },
        Ok(None) => return failed(crate::error::codes::BUCKET_NOT_FOUND, "the event's bucket no longer exists"),
        Err(e) => return retry(crate::error::codes::DATABASE_UNAVAILABLE, e.to_string()),
    };
    let body = match serde_json::to_vec(&input.event) {
        Ok(body) => body,
        Err(e) => return failed("invalid_task_inputs", &e.to_string()),
    };
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (EVENT_ID_HEADER.to_owned(), input.event_id().to_owned()),
        (EVENT_TYPE_HEADER.to_owned(), input.event_type().to_owned()),
        (SIGNATURE_HEADER.to_owned(), sign(&secret, deps.clock.now().unix_timestamp(), &body)),
    ];
    match sender.post(&input.url, headers, body).await {
        Ok(status) if (200..300).contains(&status) => TaskResult::Done {
            status: TaskStatus::Completed,
            outputs: serde_json::json!({
                "event_id": input.event_id(), "event_type": input.event_type(), "status_code": status,
            }),
            additional_data: None,
        },
        Ok(status) => retry("webhook_rejected", format!("the receiver answered {status}")),
        Err(e) => retry("webhook_unreachable", e.to_string()),
    }
}

fn failed(code: &str, message: &str) -> TaskResult {
    TaskResult::Failed(TaskFailure { code: code.to_owned(), message: message.to_owned() })
}

fn retry(code: &str, message: String) -> TaskResult {
    TaskResult::Retry(TaskFailure { code: code.to_owned(), message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TaskId;
    use crate::ports::{MockWebhookSender, SendError};
    use crate::usecases::testkit::{NOW, World, bucket};
    use crate::webhook::{WebhookTarget, verify};

    fn input() -> DeliveryInput {
        let b = bucket();
        let target = WebhookTarget {
            url: "http://receiver.test/hook".into(),
            task_id: TaskId::parse("task_EEEEEEEEEEEEEEEE").unwrap(),
            max_attempts: 3,
        };
        let upload = crate::usecases::testkit::pending_upload();
        let task = crate::webhook::upload_event(&target, crate::webhook::EventType::UploadFailed, &upload, NOW);
        let _ = b;
        serde_json::from_value(task.inputs).unwrap()
    }

    fn world_with_secret() -> World {
        let mut world = World::new();
        world.tenancy.expect_find_bucket().returning(|_, _| {
            let mut b = bucket();
            b.webhook_secret = Some("whsec_s".into());
            Ok(Some(b))
        });
        world
    }

    #[tokio::test]
    async fn a_2xx_ends_the_task_and_the_request_is_signed_with_the_event_id() {
        let world = world_with_secret();
        let mut sender = MockWebhookSender::new();
        sender
            .expect_post()
            .withf(|url, headers, body| {
                let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
                url == "http://receiver.test/hook"
                    && get(EVENT_ID_HEADER) == "evt_EEEEEEEEEEEEEEEE"
                    && get(EVENT_TYPE_HEADER) == "upload.failed"
                    && verify("whsec_s", &get(SIGNATURE_HEADER), body, NOW.unix_timestamp(), 300).is_ok()
            })
            .times(1)
            .returning(|_, _, _| Ok(204));
        assert!(matches!(
            deliver(world.deps(), &sender, &input()).await,
            TaskResult::Done { status: TaskStatus::Completed, .. }
        ));
    }

    #[tokio::test]
    async fn a_non_2xx_or_no_answer_is_retried() {
        let world = world_with_secret();
        for answer in [Ok(500), Ok(404), Err(SendError("refused".into()))] {
            let mut sender = MockWebhookSender::new();
            sender.expect_post().times(1).returning(move |_, _, _| answer.clone());
            assert!(matches!(deliver(world.deps(), &sender, &input()).await, TaskResult::Retry(_)));
        }
    }

    #[tokio::test]
    async fn an_event_of_a_deleted_bucket_fails_without_sending() {
        let mut world = World::new();
        world.tenancy.expect_find_bucket().returning(|_, _| Ok(None));
        let mut sender = MockWebhookSender::new();
        sender.expect_post().never();
        assert!(matches!(deliver(world.deps(), &sender, &input()).await, TaskResult::Failed(_)));
    }
}
