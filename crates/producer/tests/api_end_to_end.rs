//! The producer's HTTP API end to end, on real Redis and PostgreSQL, with the channel
//! simulator and workers in this process (`support`): what an admin integrating
//! Backfill sees.

mod support;

use std::time::Duration;

use backfill_producer::api::{
    ConnectionView, Disconnected, InboundAccepted, InboxPageView, MessagesView, RunProgress,
    RunStarted,
};
use backfill_producer::events::{
    EVENT_ID_HEADER, EVENT_TYPE_HEADER, EventEnvelope, SIGNATURE_HEADER, verify,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::*;

/// The simulator's Zalo OA, and its customers' user ids newest conversation first: on
/// Zalo a conversation is addressed by the customer's user id.
fn zalo(h: &Harness) -> (String, String, Vec<String>) {
    let account = h
        .sim
        .dataset()
        .accounts()
        .iter()
        .find(|a| a.channel.as_str() == "zalo")
        .unwrap();
    let customers = account
        .listed_conversations()
        .map(|c| c.customer.id.clone())
        .collect();
    (account.id.clone(), account.access_token.clone(), customers)
}

/// A small harasocial Zalo policy, so that the whole story runs in seconds: 6
/// conversations on connect, load more 4 at a time up to 10 (H6's 30 and 1,500, scaled).
fn zalo_connect(account: &str, token: &str) -> Value {
    json!({
        "channel": "zalo",
        "account_id": account,
        "preset": "harasocial",
        "overrides": {"channels": {"zalo": {
            "conversations": {"max": 6},
            "load_more": {"batch": 4, "total_at_most": 10},
        }}},
        "credentials": {"access_token": token},
    })
}

async fn started(response: reqwest::Response) -> RunStarted {
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "{:?}",
        response.text().await
    );
    response.json().await.unwrap()
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "every refusal is a problem document"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Waits for the event of `kind` about `run_id` on the tenant's Redis channel.
async fn published(h: &mut Harness, run_id: &str, kind: &str) -> EventEnvelope {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let text = h.published.recv().await.expect("subscriber alive");
            let event: EventEnvelope = serde_json::from_str(&text).unwrap();
            if event.run_id == run_id && event.kind == kind {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} for run {run_id} on Redis"))
}

/// Waits for the webhook delivery of `kind` about `run_id`, checking every signature.
async fn delivered(h: &mut Harness, run_id: &str, kind: &str) -> EventEnvelope {
    let secret = SecretString::from(WEBHOOK_SECRET);
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let delivery = h.webhooks.recv().await.expect("receiver alive");
            let signature = delivery.headers[SIGNATURE_HEADER].to_str().unwrap();
            assert!(
                verify(&secret, &delivery.body, signature),
                "HMAC-SHA256 of the body"
            );
            assert!(!verify(
                &SecretString::from("other"),
                &delivery.body,
                signature
            ));
            let event: EventEnvelope = serde_json::from_slice(&delivery.body).unwrap();
            assert_eq!(delivery.headers[EVENT_TYPE_HEADER], event.kind.as_str());
            assert_eq!(
                delivery.headers[EVENT_ID_HEADER],
                event.id.to_string().as_str()
            );
            if event.run_id == run_id && event.kind == kind {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} webhook for run {run_id}"))
}

/// C1, S5, C3, H7, H6, H8, B3, C5: connect and re-connect, progress and events, the
/// inbox in the channel's order, load more up to its limit, a late arrival, disconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_drives_a_sync_from_connect_to_disconnect() {
    let mut h = Harness::start().await;
    let (account, token, customers) = zalo(&h);
    let base = format!("/v1/connections/zalo/{account}");

    // C1, B3: a connect starts a run; connecting again at once fences the first run.
    let first = started(
        h.post("/v1/connections", &zalo_connect(&account, &token))
            .await,
    )
    .await;
    let response = h
        .post("/v1/connections", &zalo_connect(&account, &token))
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let reconnect = started(response).await;
    assert_eq!(location, format!("/v1/runs/{}", reconnect.run_id));
    assert_eq!(reconnect.generation, first.generation + 1);
    assert_eq!(reconnect.superseded_runs, 1);
    let second = reconnect.run_id;
    let fenced: RunProgress = h
        .get(&format!("/v1/runs/{}", first.run_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fenced.status, "cancelled");
    assert_eq!(fenced.reason.as_deref(), Some("superseded by re-connect"));

    // S5: progress is readable while it runs and after; completion is announced on Redis
    // and to the webhook, signed.
    let progress = h.wait_for_end(&second).await;
    assert_eq!(progress.status, "completed", "{progress:#?}");
    assert_eq!(progress.stored.conversations, 6);
    assert!(progress.steps.done > 0 && progress.steps.pending == 0);
    assert!(progress.slice_completed_at.is_some());
    let event = published(&mut h, &second, "run.completed").await;
    assert_eq!(event.tenant_id, ACME);
    let data: RunProgress = serde_json::from_value(event.data).unwrap();
    assert_eq!(data.status, "completed");
    let hook = delivered(&mut h, &second, "run.completed").await;
    assert_eq!(hook.id, event.id, "the same event, by id, on both routes");

    // C3, H7: newest activity first, paged by cursor; messages oldest first.
    let page: InboxPageView = h
        .get(&format!("{base}/conversations?limit=4"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.conversations.len(), 4);
    let cursor = page.next_cursor.clone().expect("more than one page");
    let rest: InboxPageView = h
        .get(&format!("{base}/conversations?limit=4&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest.conversations.len(), 2);
    assert!(rest.next_cursor.is_none());
    let ids: Vec<&str> = page
        .conversations
        .iter()
        .chain(&rest.conversations)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        ids,
        customers[..6]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(page.conversations.iter().all(|c| c.status == "open"), "H7");
    let default: InboxPageView = h
        .get(&format!("{base}/conversations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(default.conversations.len(), 6);
    let messages: MessagesView = h
        .get(&format!("{base}/conversations/{}/messages", ids[0]))
        .await
        .json()
        .await
        .unwrap();
    assert!(!messages.messages.is_empty());
    assert!(
        messages.messages.is_sorted_by_key(|m| m.created_at),
        "C3: oldest first"
    );

    // H6: load more brings the next 4, then the limit refuses with the reason.
    let more = started(h.post(&format!("{base}/load-more"), &json!({})).await).await;
    assert_eq!(h.wait_for_end(&more.run_id).await.stored.conversations, 10);
    let refused = problem(
        h.post(&format!("{base}/load-more"), &json!({})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        refused["detail"],
        "load more refused: 10 conversations are already synced and the limit is 10 (H6)"
    );

    // H8: a customer beyond the synced ones writes in: the conversation comes in with its
    // history; a second message of it is just stored.
    let late = &customers[15];
    let inbound = |message: &str| {
        json!({
            "conversation_id": late,
            "customer": {"id": late, "name": "Late Customer"},
            "message": {"id": message, "created_at": chrono::Utc::now(), "text": "Shop ơi, còn hàng không?"},
        })
    };
    let response = h
        .post(&format!("{base}/inbound"), &inbound("late-message-1"))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: InboundAccepted = response.json().await.unwrap();
    assert_eq!(accepted.outcome, "late_arrival");
    let run = accepted.run.unwrap();
    assert_eq!(h.wait_for_end(&run.run_id).await.status, "completed");
    let messages: MessagesView = h
        .get(&format!("{base}/conversations/{late}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        messages.messages.len() > 1,
        "its older messages came too (H8)"
    );
    assert_eq!(messages.messages.last().unwrap().id, "late-message-1");
    let response = h
        .post(&format!("{base}/inbound"), &inbound("late-message-2"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let accepted: InboundAccepted = response.json().await.unwrap();
    assert_eq!(
        (accepted.outcome.as_str(), accepted.run.is_none()),
        ("stored", true)
    );

    // B3: disconnect; load more is then refused until a re-connect, which adds nothing
    // twice (C5).
    let response = h
        .as_tenant(Method::DELETE, &base, ACME_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let gone: Disconnected = response.json().await.unwrap();
    assert!(!gone.already_disconnected);
    let view: ConnectionView = h.get(&base).await.json().await.unwrap();
    assert_eq!(view.state, "disconnected");
    problem(
        h.post(&format!("{base}/load-more"), &json!({})).await,
        StatusCode::CONFLICT,
    )
    .await;
    let again = started(
        h.post("/v1/connections", &zalo_connect(&account, &token))
            .await,
    )
    .await;
    assert_eq!(again.generation, view.generation + 1);
    let progress = h.wait_for_end(&again.run_id).await;
    assert_eq!(progress.status, "completed");
    assert_eq!(
        progress.stored.conversations, 11,
        "the 10, the late arrival, nothing twice"
    );

    h.stop().await;
}

/// Refusals: 401 without a valid key, 404 for another tenant's account or run, 422 naming
/// the field and why, 413 past the body limit — all `application/problem+json`, and
/// none leaves anything behind. Also: health, the OpenAPI document, progress notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused_with_problem_documents() {
    let mut h = Harness::start().await;
    let (account, token, _) = zalo(&h);
    let base = format!("/v1/connections/zalo/{account}");

    // Liveness, readiness and the document describing all of this.
    assert_eq!(
        h.http.get(h.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let openapi: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/connections",
        "/v1/connections/{channel}/{account_id}",
        "/v1/connections/{channel}/{account_id}/load-more",
        "/v1/connections/{channel}/{account_id}/inbound",
        "/v1/connections/{channel}/{account_id}/conversations",
        "/v1/connections/{channel}/{account_id}/conversations/{conversation_id}/messages",
        "/v1/runs/{run_id}",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
    assert!(openapi["components"]["securitySchemes"]["api_key"].is_object());

    // 401: no key, a malformed header, an unknown key.
    let response = h.http.get(h.url(&base)).send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="backfill""#
    );
    problem(response, StatusCode::UNAUTHORIZED).await;
    let response = h
        .http
        .get(h.url(&base))
        .header("authorization", ACME_KEY)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED).await;
    let response = h
        .as_tenant(Method::GET, &base, "not-a-key")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNAUTHORIZED).await;

    // 404: another tenant's account and run are not found, whatever the method.
    let run = started(
        h.post("/v1/connections", &zalo_connect(&account, &token))
            .await,
    )
    .await;
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::DELETE, base.clone()),
        (Method::POST, format!("{base}/load-more")),
        (Method::GET, format!("{base}/conversations")),
        (Method::GET, format!("/v1/runs/{}", run.run_id)),
    ] {
        let response = h
            .as_tenant(method.clone(), &path, GLOBEX_KEY)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::NOT_FOUND).await;
    }
    let view: ConnectionView = h.get(&base).await.json().await.unwrap();
    assert_eq!(view.state, "connected", "globex's DELETE changed nothing");
    let unknown_channel =
        problem(h.get("/v1/connections/line/1").await, StatusCode::NOT_FOUND).await;
    assert!(
        unknown_channel["detail"]
            .as_str()
            .unwrap()
            .contains("facebook, instagram, zalo, shopee")
    );

    // 422: each names the field and why.
    let connect = |patch: Value| {
        let mut body = json!({
            "channel": "facebook", "account_id": "1001", "preset": "shopline",
            "credentials": {"access_token": "EAAB-token"},
        });
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (
            json!({"channel": "line"}),
            "channel",
            "expected one of facebook, instagram, zalo, shopee",
        ),
        (
            json!({"preset": "hubspot"}),
            "preset",
            "expected one of shopline, harasocial",
        ),
        (
            json!({"channel": "instagram"}),
            "preset",
            "not covered by preset shopline",
        ),
        (json!({"timezone": "Mars/Olympus"}), "timezone", "IANA"),
        (
            json!({"channel": "shopee", "preset": "harasocial", "account_id": "304614197"}),
            "credentials.partner_id",
            "partner_id and partner_key",
        ),
        (
            json!({"channel": "shopee", "preset": "harasocial", "account_id": "my-shop"}),
            "account_id",
            "numeric shop_id",
        ),
        (
            json!({"overrides": {"channels": {"facebook": {"slice": {"conversations": 0}}}}}),
            "overrides.channels.facebook.slice.conversations",
            "must be at least 1",
        ),
        (
            json!({"credentials": {"access_token": " "}}),
            "credentials.access_token",
            "empty",
        ),
        (
            json!({"credentials": {"access_token": "t", "partner_id": "x"}}),
            "credentials.partner_id",
            "invalid type",
        ),
        (json!({"account_id": ""}), "account_id", "1 to 256"),
    ];
    for (patch, field, reason) in cases {
        let body = problem(
            h.post("/v1/connections", &connect(patch.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(body["field"], field, "{patch}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(reason),
            "{patch}: {body}"
        );
    }
    let limit = problem(
        h.get(&format!("{base}/conversations?limit=500")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(limit["field"], "limit");
    let cursor = problem(
        h.get(&format!("{base}/conversations?cursor=garbage")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(cursor["field"], "cursor");
    let late_elsewhere = json!({
        "conversation_id": "t_1", "customer": {"id": "c1"},
        "message": {"id": "m1", "created_at": "2025-03-01T10:00:00Z"},
    });
    // Facebook has no late-arrival rule: refused once the account exists.
    let facebook = h
        .sim
        .dataset()
        .accounts()
        .iter()
        .find(|a| a.channel.as_str() == "facebook")
        .unwrap();
    let facebook_run = started(
        h.post(
            "/v1/connections",
            &connect(json!({"account_id": facebook.id, "credentials": {"access_token": facebook.access_token}})),
        )
        .await,
    )
    .await;
    let refused = problem(
        h.post(
            &format!("/v1/connections/facebook/{}/inbound", facebook.id),
            &late_elsewhere,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("late arrival is not part of"),
        "{refused}"
    );
    let refused = problem(
        h.post(
            &format!("/v1/connections/facebook/{}/load-more", facebook.id),
            &json!({}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("load more is not part of"),
        "{refused}"
    );

    // 400, 413, 415: not JSON, too large, not declared JSON.
    let response = h
        .as_tenant(Method::POST, "/v1/connections", ACME_KEY)
        .header("content-type", "application/json")
        .body("{\"channel\": ")
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST).await;
    let huge = connect(json!({"overrides": {"padding": "x".repeat(BODY_LIMIT)}}));
    problem(
        h.post("/v1/connections", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let response = h
        .as_tenant(Method::POST, "/v1/connections", ACME_KEY)
        .body(connect(json!({})).to_string())
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // S5: while a run goes on, its progress is announced periodically.
    let facebook_run = facebook_run.run_id;
    let notice = published(&mut h, &facebook_run, "run.progress").await;
    let data: RunProgress = serde_json::from_value(notice.data).unwrap();
    assert_eq!(data.run_id, facebook_run);

    // Nothing half-written: of all the refused connects, no account exists.
    let refused_account = problem(
        h.get("/v1/connections/facebook/1001").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        refused_account["detail"]
            .as_str()
            .unwrap()
            .contains("no facebook account 1001")
    );

    h.stop().await;
}
